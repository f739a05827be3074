"""lifecycle: roles audit, processes, standard versions, reactions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:03:24.010036
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processes")),
        sa.UniqueConstraint("workspace", "name_key", name="uq_processes_name"),
    )
    op.create_table(
        "idea_reactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idea_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("reaction", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["idea_id"],
            ["ideas.id"],
            name=op.f("fk_idea_reactions_idea_id_ideas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_idea_reactions_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idea_reactions")),
        sa.UniqueConstraint("idea_id", "person_id", "reaction", name="uq_idea_reactions_reaction"),
    )
    op.create_table(
        "standard_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("idea_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["people.id"], name=op.f("fk_standard_versions_author_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_standard_versions_idea_id_ideas")
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["processes.id"],
            name=op.f("fk_standard_versions_process_id_processes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standard_versions")),
        sa.UniqueConstraint("process_id", "version", name="uq_standard_versions_version"),
    )
    with op.batch_alter_table("idea_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("result", sa.String(length=16), server_default="applied", nullable=False)
        )
        batch_op.add_column(sa.Column("via", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.alter_column("idea_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_idea_events_subject_id_people"), "people", ["subject_id"], ["id"]
        )

    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ideas_process_id_processes"), "processes", ["process_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ideas_decided_by_id_people"), "people", ["decided_by_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ideas_decided_by_id_people"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_ideas_process_id_processes"), type_="foreignkey")
        batch_op.drop_column("decision_reason")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_by_id")
        batch_op.drop_column("process_id")

    # Role changes have no idea; revision 0001 cannot hold them.
    op.execute("DELETE FROM idea_events WHERE idea_id IS NULL")
    with op.batch_alter_table("idea_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_idea_events_subject_id_people"), type_="foreignkey")
        batch_op.alter_column("idea_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("subject_id")
        batch_op.drop_column("via")
        batch_op.drop_column("result")

    op.drop_table("standard_versions")
    op.drop_table("idea_reactions")
    op.drop_table("processes")
