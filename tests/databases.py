"""Throwaway PostgreSQL databases, shared by the test suite and the benchmarks."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.engine import make_url


async def _admin(base_url: str, sql: str, timeout: float) -> None:
    url = make_url(base_url)
    connection = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                       user=url.username, password=url.password,
                                       database=url.database, timeout=timeout)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def create_database(base_url: str, prefix: str, timeout: float = 10.0,
                          template: str | None = None) -> str:
    """Create a database next to ``base_url``'s and return its URL: empty, or a copy of
    ``template`` (which nobody may be connected to meanwhile)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    await _admin(base_url, f'CREATE DATABASE "{name}"{copy}', timeout)
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(base_url: str, database_url: str, timeout: float = 10.0) -> None:
    name = make_url(database_url).database
    await _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout)
