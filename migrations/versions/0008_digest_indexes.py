"""digest speed at a million ideas: an area-leading covering index, reactions by time

The area index gains status, decided_at and created_at so an area-filtered digest counts
waiting and implemented ideas and finds each area's latest idea inside the index; reactions get
an index on (kind, created_at) so "most supported this month" starts from the month's reactions.
Measured in bench/bench_digest.py.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 13:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AREA_INDEX = ("ix_ideas_scope_area_status",
              ["platform", "workspace", "area", "status", "decided_at", "created_at"])
REACTION_INDEX = ("ix_idea_reactions_kind_created", ["kind", "created_at", "idea_id", "person_id"])


def upgrade() -> None:
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.drop_index("ix_ideas_scope_area")
        batch_op.create_index(*AREA_INDEX, unique=False)
    with op.batch_alter_table("idea_reactions", schema=None) as batch_op:
        batch_op.create_index(*REACTION_INDEX, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idea_reactions", schema=None) as batch_op:
        batch_op.drop_index(REACTION_INDEX[0])
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.drop_index(AREA_INDEX[0])
        batch_op.create_index("ix_ideas_scope_area", ["platform", "workspace", "area"],
                              unique=False)
