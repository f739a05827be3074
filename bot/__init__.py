"""kaizen-bot's platform-neutral core.

Nothing in this package knows about Slack, Teams, aiohttp or SQLAlchemy: adapters translate platform
payloads into :mod:`bot.events`, the :mod:`bot.service` runs a turn against the storage
:mod:`bot.ports`, and adapters render the :mod:`bot.replies` it returns.
"""
