"""The HTTP server: health and readiness, in-process and as `make run` starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from storage import migrate
from tests.machine import free_port


async def _get(runtime: Runtime, path: str) -> tuple[int, dict]:
    async with TestClient(TestServer(build_app(runtime))) as client:
        response = await client.get(path)
        return response.status, await response.json()


async def test_healthz_and_readyz_on_a_migrated_database(database_url: str) -> None:
    assert await _get(Runtime.create(Settings(database_url=database_url)), "/healthz") == (
        200, {"status": "ok"}
    )
    status, body = await _get(Runtime.create(Settings(database_url=database_url)), "/readyz")
    assert (status, body) == (200, {"status": "ready", "revision": migrate.head_revision()})


async def test_readyz_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    status, body = await _get(Runtime.create(Settings(database_url=empty_database_url)),
                              "/readyz")
    assert status == 503 and "kaizen db upgrade" in body["reason"]


async def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing-dir/kaizen.db"
    status, body = await _get(Runtime.create(Settings(database_url=url)), "/readyz")
    assert status == 503 and "unreachable" in body["reason"]
    status, _ = await _get(Runtime.create(Settings(database_url=url)), "/healthz")
    assert status == 200  # the process itself is fine


def test_make_run_starts_a_ready_server(repo_root: Path, empty_database_url: str) -> None:
    """The README's first command: installs (already done by `make test`), migrates, serves."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(DATABASE_URL=empty_database_url, KAIZEN_PORT=str(port), MAKEFLAGS="")
    process = subprocess.Popen(["make", "run"], cwd=repo_root, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.2)
        assert status == 200, f"make run never became ready (exit {process.poll()})"
        # No platform configured: `make run` turns on Teams local mode for the Playground.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/messages", data=b"[]",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5)
            messages_status = 200
        except urllib.error.HTTPError as error:
            messages_status = error.code
        assert messages_status == 400  # mounted (a bad activity), not 404
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "serving on http://127.0.0.1:" in output
    assert "Slack: not mounted" in output
    assert "Teams local mode turned on" in output and "LOCAL MODE" in output
    assert f"Board: http://127.0.0.1:{port}/ (sign in with this link" in output
