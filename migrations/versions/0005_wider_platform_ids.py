"""wider platform ids: Teams user and conversation ids exceed 128 characters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDENED = (
    ("people", "user_id", False),
    ("conversations", "user_id", False),
    ("ideas", "source_channel", True),
    ("ideas", "source_event_id", True),
)


def upgrade() -> None:
    for table, column, nullable in WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=128),
                type_=sa.String(length=255),
                existing_nullable=nullable,
            )


def downgrade() -> None:
    # Values longer than 128 characters would not fit: cut them rather than fail.
    for table, column, nullable in WIDENED:
        op.execute(
            sa.text(
                f"UPDATE {table} SET {column} = SUBSTR({column}, 1, 128) "
                f"WHERE LENGTH({column}) > 128"
            )
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=255),
                type_=sa.String(length=128),
                existing_nullable=nullable,
            )
