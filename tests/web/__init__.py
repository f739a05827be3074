"""The board: HTTP, its security, and what Chromium shows."""
