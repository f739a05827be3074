"""board speed: scope-leading covering indexes, first_decided_at (backfilled from the log)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 11:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_INDEXES = (
    ("ix_ideas_scope_created", ["platform", "workspace", "created_at", "area", "author_id"]),
    ("ix_ideas_scope_status_created", ["platform", "workspace", "status", "created_at"]),
    ("ix_ideas_scope_status_decided", ["platform", "workspace", "status", "decided_at"]),
    ("ix_ideas_scope_first_decided", ["platform", "workspace", "first_decided_at"]),
    ("ix_ideas_scope_area", ["platform", "workspace", "area"]),
)
OLD_INDEXES = (
    ("ix_ideas_workspace_created", ["workspace", "created_at"]),
    ("ix_ideas_status", ["status"]),
    ("ix_ideas_workspace_status_created", ["workspace", "status", "created_at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_decided_at", sa.DateTime(timezone=True),
                                      nullable=True))
        for name, _ in OLD_INDEXES:
            batch_op.drop_index(name)
        for name, columns in NEW_INDEXES:
            batch_op.create_index(name, columns, unique=False)
    # Existing ideas: the first applied decision in their audit trail.
    op.execute(sa.text(
        "UPDATE ideas SET first_decided_at = (SELECT MIN(e.created_at) FROM idea_events e "
        "WHERE e.idea_id = ideas.id AND e.result = 'applied' "
        "AND e.to_status IN ('approved', 'rejected', 'duplicate'))"
    ))


def downgrade() -> None:
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        for name, _ in NEW_INDEXES:
            batch_op.drop_index(name)
        for name, columns in OLD_INDEXES:
            batch_op.create_index(name, columns, unique=False)
        batch_op.drop_column("first_decided_at")
