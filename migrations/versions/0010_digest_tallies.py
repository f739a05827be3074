"""digest tallies: implemented ideas per area and UTC day, supporters per idea, backfilled

"Implemented this year" in every digest counted each implemented idea of the year (190,000
index entries at a million ideas: 48 ms on PostgreSQL, 25 ms on SQLite). The implement
transition now adds one to its area's day; the digest adds up whole days from here and counts
only the two partial days at the ends. "Most supported" aggregated the month's reactions
(16 ms); ideas now carry their supporter count, kept by the reaction repository, and a partial
index over open supported ideas gives the leaders directly (the reactions' time index that
query used goes). Measured in bench/bench_digest.py.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_SUPPORTED = "status IN ('submitted', 'approved', 'in_progress') AND supporters > 0"
UTC_DAY = {
    # SQLite keeps our UTC datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text, dates as "YYYY-MM-DD".
    "sqlite": "substr(decided_at, 1, 10)",
    "postgresql": "CAST(decided_at AT TIME ZONE 'UTC' AS DATE)",
}


def upgrade() -> None:
    op.create_table(
        "implemented_days",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "day", "area",
                                name=op.f("pk_implemented_days")),
        sqlite_with_rowid=False,  # the key is the table: the year's sum reads one b-tree
    )
    day = UTC_DAY[op.get_bind().dialect.name]
    for area, by_area in (("COALESCE(area, '')", ", COALESCE(area, '')"), ("'*'", "")):
        # Each area's days, then every area's together ("*").
        op.execute(
            f"INSERT INTO implemented_days (platform, workspace, day, area, count) "
            f"SELECT platform, workspace, {day}, {area}, COUNT(*) FROM ideas "
            f"WHERE status = 'implemented' AND decided_at IS NOT NULL "
            f"GROUP BY platform, workspace, {day}{by_area}"
        )


    # The month's reactions by time were only for the old "most supported" query (and, left
    # in place, SQLite would pick it for the backfill below: minutes instead of a second).
    op.drop_index("ix_idea_reactions_kind_created", table_name="idea_reactions")
    op.add_column("ideas", sa.Column("supporters", sa.Integer(), server_default="0",
                                     nullable=False))
    # One aggregation joined back by primary key (UPDATE … FROM: SQLite 3.33+, PostgreSQL).
    op.execute(
        "UPDATE ideas SET supporters = s.n FROM (SELECT idea_id, COUNT(DISTINCT person_id) AS n "
        "FROM idea_reactions WHERE kind = 'support' GROUP BY idea_id) AS s "
        "WHERE ideas.id = s.idea_id"
    )
    op.create_index("ix_ideas_open_support", "ideas",
                    ["platform", "workspace", "supporters", "id", "area"], unique=False,
                    sqlite_where=sa.text(OPEN_SUPPORTED), postgresql_where=sa.text(OPEN_SUPPORTED))


def downgrade() -> None:
    op.drop_index("ix_ideas_open_support", table_name="ideas")
    op.create_index("ix_idea_reactions_kind_created", "idea_reactions",
                    ["kind", "created_at", "idea_id", "person_id"], unique=False)
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.drop_column("supporters")
    op.drop_table("implemented_days")
