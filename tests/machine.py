"""What the suite uses of this machine: the installed ``kaizen`` command, free ports, Chromium."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

KAIZEN = str(Path(sys.executable).with_name("kaizen"))
"""The console script ``make test`` installed next to this Python."""

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's Chromium (CI installs it; locally its tests skip without it)."""
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
