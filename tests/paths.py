"""Where the suite's files are, wherever a test module sits in ``tests/``."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PAYLOADS = TESTS / "payloads"
"""Real-shaped Slack and Teams payloads (one normalizer test each)."""
SCHEMAS = TESTS / "schemas"
OUTPUT = ROOT / "test-output"
"""Screenshots of what a person sees (the board in Chromium)."""
