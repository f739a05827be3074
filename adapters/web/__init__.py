"""The kaizen board: server-rendered pages (Jinja2) on the same aiohttp server."""
