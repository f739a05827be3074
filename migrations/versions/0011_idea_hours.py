"""idea_hours: ideas captured per area and UTC hour, backfilled

A digest's 14-day trend counted each day's ideas in the index (38,000 entries at a million
ideas a year: 12 ms on PostgreSQL) and listed the week's areas with a DISTINCT over 19,000
more. Captures now add one to their area's hour and to the hour's total ("*"); the digest
sums at most 336 rows and counts only the current partial hour. Measured in
bench/bench_digest.py.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_HOUR = {
    # SQLite keeps our UTC datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text.
    "sqlite": "substr(created_at, 1, 13) || ':00:00.000000'",
    "postgresql": "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}


def upgrade() -> None:
    op.create_table(
        "idea_hours",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "hour", "area",
                                name=op.f("pk_idea_hours")),
        sqlite_with_rowid=False,  # the key is the table: a range reads one b-tree
    )
    hour = UTC_HOUR[op.get_bind().dialect.name]
    for area, by_area in (("COALESCE(area, '')", ", COALESCE(area, '')"), ("'*'", "")):
        # Each area's hours, then every area's together ("*").
        op.execute(
            f"INSERT INTO idea_hours (platform, workspace, hour, area, count) "
            f"SELECT platform, workspace, {hour}, {area}, COUNT(*) FROM ideas "
            f"GROUP BY platform, workspace, {hour}{by_area}"
        )


def downgrade() -> None:
    op.drop_table("idea_hours")
