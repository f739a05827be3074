"""SQLAlchemy 2.x async storage implementing the core's ports (:mod:`bot.ports`)."""
