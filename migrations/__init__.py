"""Alembic migrations (``env.py`` plus ``versions/``), shipped inside the package."""
