"""Chat turns over HTTP into a separate server process: Slack capture and Teams turns.

For each: requests/s, p50/p99 latency and server CPU ms per request (from /proc/<pid>/stat,
the stable figure on a shared machine), plus the ceiling measured in the same run:
- slack_capture: signed one-shot captures (idea saved, reply and idea post sent to a local
  fake Web API) at 64 connections, vs a bare endpoint + bolt ack + one commit; then 500
  users at once (their acks must stay under Slack's 3 s).
- teams_turn: Teams personal-chat turns through CloudAdapter (local mode, fake Bot Connector),
  with our msrest start-up fix and without it (stock).
All traffic stays on 127.0.0.1; counts and time are bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import report, sqlite_url, summarise  # noqa: E402
from storage import migrate  # noqa: E402
from tests.fake_connector import FakeConnector  # noqa: E402
from tests.fake_slack import BOT_TOKEN, PAYLOADS, FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
CONCURRENCY = 64
REQUESTS = 1500
BURST = 500
TIME_LIMIT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS  # utime + stime


class Server:
    def __init__(self, mode: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "serve.py"), mode, str(self.port)],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def load(session: aiohttp.ClientSession, requests: list[tuple[str, bytes, dict]],
               concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = list(reversed(requests))
    deadline = time.monotonic() + TIME_LIMIT

    async def worker() -> None:
        while queue and time.monotonic() < deadline:
            url, body, headers = queue.pop()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status < 300, response.status
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def slack_event(n: int, tag: str) -> tuple[bytes, dict[str, str]]:
    envelope = json.loads((PAYLOADS / "event_message_im.json").read_text())
    envelope["event_id"] = f"Ev{tag}{n:07d}"
    user = f"U{n % 500:05d}"
    envelope["event"].update(user=user, channel=f"D{user}", ts=f"1355517523.{n:06d}",
                             text=f"/kaizen standard: s {n}; problem: p {n}; proposal: idea {n}")
    body = json.dumps(envelope)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    return body.encode(), {"Content-Type": "application/json",
                           "X-Slack-Request-Timestamp": timestamp,
                           "X-Slack-Signature": signature}


async def measure(session: aiohttp.ClientSession, server: Server, path: str,
                  make: Any, count: int, concurrency: int, tag: str,
                  settle: Any = None) -> dict[str, Any]:
    warm = [(f"{server.url}{path}", *make(n, f"w{tag}")) for n in range(50)]
    await load(session, warm, 8)
    if settle:
        await settle()
    requests = [(f"{server.url}{path}", *make(n, tag)) for n in range(count)]
    before, started = cpu_ms(server.process.pid), time.perf_counter()
    latencies = await load(session, requests, concurrency)
    elapsed = time.perf_counter() - started
    done = {}
    if settle:
        # Background turns and delivery are part of the work: CPU is read once every reply
        # reached the fake, and "all_done_s" says when that was (acks may come first).
        finished = await settle()
        done = {"all_done_s": round(finished - started, 2)}
    spent = cpu_ms(server.process.pid) - before
    return {"requests": len(latencies), "rps": round(len(latencies) / elapsed),
            **{f"{k}_ms": v for k, v in summarise(latencies).items() if k != "max"},
            **done, "cpu_ms_per_req": round(spent / len(latencies), 3)}


async def settled(count: Any) -> float:
    """Wait until ``count()`` stops growing (checked every 0.5 s); returns when it last grew."""
    last, changed_at, deadline = -1, time.perf_counter(), time.monotonic() + TIME_LIMIT
    while time.monotonic() < deadline:
        now = count()
        if now == last:
            return changed_at
        last, changed_at = now, time.perf_counter()
        await asyncio.sleep(0.5)
    return changed_at


async def slack_capture(database_url: str, label: str) -> list[dict[str, Any]]:
    fake = FakeSlack()
    await fake.start()
    env = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url,
           "KAIZEN_IDEAS_CHANNEL": "C123ABC456", "KAIZEN_LOG_LEVEL": "WARNING"}
    rows = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def delivered() -> float:  # until every reply and idea post reached the fake
            return await settled(lambda: len(fake.of("chat.postMessage")))

        server = Server("app", env)
        try:
            await server.ready(session)
            capture = await measure(session, server, "/slack/events", slack_event, REQUESTS,
                                    CONCURRENCY, "cap", delivered)
            burst = await measure(session, server, "/slack/events", slack_event, BURST, BURST,
                                  "burst", delivered)
        finally:
            server.stop()
        ceiling_server = Server("ceiling", env)
        try:
            await ceiling_server.ready(session)
            ceiling = await measure(session, ceiling_server, "/slack/events", slack_event,
                                    REQUESTS, CONCURRENCY, "ceil")
        finally:
            ceiling_server.stop()
    await fake.stop()
    ratio = round(capture["cpu_ms_per_req"] / ceiling["cpu_ms_per_req"], 2)
    rows.append({"benchmark": "slack_capture", "db": label, "conns": CONCURRENCY, **capture,
                 "ceiling_cpu_ms": ceiling["cpu_ms_per_req"], "ratio": ratio,
                 "target": "ratio<=2, p99<100"})
    rows.append({"benchmark": "slack_500_at_once", "db": label, "conns": BURST, **burst,
                 "target": "p99<3000"})
    return rows


def teams_activity(base: str) -> Any:
    template = json.loads((PAYLOADS / "teams_message_activity.json").read_text())

    def make(n: int, tag: str) -> tuple[bytes, dict[str, str]]:
        activity = dict(template, id=f"{tag}-{n}", serviceUrl=base, text="/kaizen mine")
        activity["from"] = {"id": f"29:user-{n % 300}", "name": f"User {n % 300}"}
        activity["conversation"] = dict(template["conversation"], id=f"a:bench-{n % 300}")
        return json.dumps(activity).encode(), {"Content-Type": "application/json"}

    return make


async def teams_turn(database_url: str, label: str) -> list[dict[str, Any]]:
    fake = FakeConnector()
    await fake.start()
    env = {"DATABASE_URL": database_url, "KAIZEN_LOG_LEVEL": "WARNING",
           "KAIZEN_TEAMS_LOCAL": "true"}
    results = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def delivered() -> float:
            return await settled(lambda: len(fake.sent))

        for mode in ("app", "app-stock", "teams-sdk", "teams-sdk-stock", "teams-sdk-silent",
                     "teams-sdk-silent-stock"):
            server = Server(mode, env)
            try:
                await server.ready(session)
                results[mode] = await measure(session, server, "/api/messages",
                                              teams_activity(fake.url), 800, 16, mode,
                                              delivered)
            finally:
                server.stop()
    await fake.stop()
    fixed, stock = results["app"], results["app-stock"]
    sdk_rows = []
    for name, mode in (("no reply", "teams-sdk-silent"), ("one reply", "teams-sdk")):
        sdk, sdk_stock = results[mode], results[f"{mode}-stock"]
        sdk_rows += [
            {"benchmark": "teams_sdk_turn", "db": "-", "variant": f"botbuilder, {name}, fixed",
             **sdk, "target": "<=1.5 ms, >=5x", "x_better_than_stock":
             round(sdk_stock["cpu_ms_per_req"] / sdk["cpu_ms_per_req"], 1)},
            {"benchmark": "teams_sdk_turn", "db": "-", "variant": f"botbuilder, {name}, stock",
             **sdk_stock}]
    return [
        *sdk_rows,
        {"benchmark": "teams_turn", "db": label, "variant": "kaizen, with fixes", **fixed,
         "x_better_than_stock": round(stock["cpu_ms_per_req"] / fixed["cpu_ms_per_req"], 1)},
        {"benchmark": "teams_turn", "db": label, "variant": "kaizen, stock botbuilder", **stock},
    ]


async def main() -> None:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        only = os.environ.get("KAIZEN_BENCH_ONLY")  # "slack" or "teams" to run just one
        for name, runner in (("slack", slack_capture), ("teams", teams_turn)):
            if only and name != only:
                continue
            url = sqlite_url(Path(directory), name)
            await asyncio.to_thread(migrate.upgrade, url)
            rows += await runner(url, "sqlite")
    report("turns", rows, ["benchmark", "db", "variant", "conns", "requests", "rps", "p50_ms",
                           "p99_ms", "all_done_s", "cpu_ms_per_req", "ceiling_cpu_ms", "ratio",
                           "x_better_than_stock", "target"])


if __name__ == "__main__":
    asyncio.run(main())
