"""Memory of ``kaizen serve`` with 10,000 open drafts: under 150 MB and flat.

Drafts live in the database, not in memory: the server's RSS is sampled (from
/proc/<pid>/status) while 10,000 different people each start a capture over Slack, then
while they all answer once more. Flat means the second half adds little.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_turns import SECRET, Server, load
from bench.common import report, sqlite_url
from storage import migrate
from tests.fake_slack import BOT_TOKEN, FakeSlack

DRAFTS = 10_000
TARGET_MB = 150.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def dm(n: int, text: str, tag: str) -> tuple[bytes, dict[str, str]]:
    import json
    import time

    from slack_sdk.signature import SignatureVerifier

    from tests.fake_slack import PAYLOADS

    envelope = json.loads((PAYLOADS / "event_message_im.json").read_text())
    envelope["event_id"] = f"EvMem{tag}{n:06d}"
    user = f"U{n:06d}"
    envelope["event"].update(user=user, channel=f"D{user}", ts=f"1.{n}", text=text)
    body = json.dumps(envelope)
    stamp = str(int(time.time()))
    return body.encode(), {
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp,
                                                                          body=body)}


async def main() -> None:
    fake = FakeSlack()
    await fake.start()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        url = sqlite_url(Path(directory), "memory")
        await asyncio.to_thread(migrate.upgrade, url)
        env = {"DATABASE_URL": url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": fake.url, "KAIZEN_LOG_LEVEL": "WARNING"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            server = Server("app", env)
            try:
                await server.ready(session)
                start = rss_mb(server.process.pid)
                endpoint = f"{server.url}/slack/events"
                half = DRAFTS // 2
                await load(session, [(endpoint, *dm(n, "/kaizen", "a")) for n in range(half)],
                           32)
                middle = rss_mb(server.process.pid)
                await load(session, [(endpoint, *dm(n, "/kaizen", "a"))
                                     for n in range(half, DRAFTS)], 32)
                full = rss_mb(server.process.pid)
                await load(session, [(endpoint, *dm(n, "paper forms", "b"))
                                     for n in range(DRAFTS)], 32)
                after = rss_mb(server.process.pid)
            finally:
                server.stop()
    await fake.stop()
    rows.append({"drafts": DRAFTS, "rss_start_mb": round(start, 1),
                 "rss_5k_mb": round(middle, 1), "rss_10k_mb": round(full, 1),
                 "rss_after_answers_mb": round(after, 1),
                 "growth_second_half_mb": round(full - middle, 1), "target_mb": TARGET_MB,
                 "met": max(full, after) < TARGET_MB})
    report("memory", rows, list(rows[0]))


if __name__ == "__main__":
    asyncio.run(main())
