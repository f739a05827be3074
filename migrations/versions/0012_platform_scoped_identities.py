"""platform-scoped identities: processes per (platform, workspace, name), event ids per
workspace, people's directory ids

Processes were unique per workspace id only, so a Teams tenant called ``T1`` shared its
processes and standards with Slack team ``T1``. Each process now belongs to one platform: the
platform of its ideas and standard versions. A process that two platforms had written into is
split, one per platform, each keeping its own ideas and versions (renumbered 1..n in their
order), so nothing is lost and nobody sees the other platform's standard.

Event ids are remembered per workspace (a Teams activity id is unique in its conversation, not
across tenants), and people get the directory id (Teams' Entra object id) that configuration
names them by (``teams:<object id>``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 18:00:00
"""

from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FALLBACK_PLATFORM = "console"
"""A process nothing points at (no idea, no version) and whose workspace id has no ideas."""


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("directory_id", sa.String(length=255), nullable=True))

    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=128), server_default="",
                                      nullable=False))
        batch_op.drop_constraint("uq_processed_events_event", type_="unique")
        batch_op.create_unique_constraint("uq_processed_events_event",
                                          ["platform", "workspace", "event_id"])

    with op.batch_alter_table("processes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform", sa.String(length=32), nullable=True))
        batch_op.drop_constraint("uq_processes_name", type_="unique")
    _assign_platforms(op.get_bind())
    with op.batch_alter_table("processes", schema=None) as batch_op:
        batch_op.alter_column("platform", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint("uq_processes_name",
                                          ["platform", "workspace", "name_key"])


def _assign_platforms(bind: sa.Connection) -> None:
    processes = bind.execute(sa.text(
        "SELECT id, workspace, name, name_key, created_at FROM processes ORDER BY id")).all()
    for process_id, workspace, name, key, created_at in processes:
        versions = bind.execute(sa.text(
            "SELECT v.id, COALESCE(i.platform, p.platform) FROM standard_versions v "
            "LEFT JOIN ideas i ON i.id = v.idea_id LEFT JOIN people p ON p.id = v.author_id "
            "WHERE v.process_id = :process ORDER BY v.version"), {"process": process_id}).all()
        ideas: Counter[str] = Counter(dict(bind.execute(sa.text(
            "SELECT platform, COUNT(*) FROM ideas WHERE process_id = :process "
            "GROUP BY platform"), {"process": process_id}).all()))
        # The platform that wrote version 1 keeps the process; every other gets its own copy.
        order = [platform for _, platform in versions if platform]
        order += [platform for platform, _ in ideas.most_common()]
        platforms = list(dict.fromkeys(order)) or [_workspace_platform(bind, workspace)]
        owner = platforms[0]
        bind.execute(sa.text("UPDATE processes SET platform = :platform WHERE id = :id"),
                     {"platform": owner, "id": process_id})
        for other in platforms[1:]:
            copy_id = bind.execute(sa.text(
                "INSERT INTO processes (platform, workspace, name, name_key, created_at) "
                "VALUES (:platform, :workspace, :name, :key, :created) RETURNING id"),
                {"platform": other, "workspace": workspace, "name": name, "key": key,
                 "created": created_at}).scalar_one()
            bind.execute(sa.text(
                "UPDATE ideas SET process_id = :copy WHERE process_id = :process "
                "AND platform = :platform"),
                {"copy": copy_id, "process": process_id, "platform": other})
            moved = [version_id for version_id, platform in versions if platform == other]
            for version_id in moved:
                bind.execute(sa.text(
                    "UPDATE standard_versions SET process_id = :copy WHERE id = :id"),
                    {"copy": copy_id, "id": version_id})
            _renumber(bind, copy_id)
        if len(platforms) > 1:
            _renumber(bind, process_id)


def _workspace_platform(bind: sa.Connection, workspace: str) -> str:
    """The platform whose ideas use this workspace id most (for a process nothing points at)."""
    found = bind.execute(sa.text(
        "SELECT platform FROM ideas WHERE workspace = :workspace GROUP BY platform "
        "ORDER BY COUNT(*) DESC, platform LIMIT 1"), {"workspace": workspace}).scalar()
    return str(found) if found else FALLBACK_PLATFORM


def _renumber(bind: sa.Connection, process_id: int) -> None:
    """Versions 1..n in their old order; through negative numbers so the unique
    (process, version) constraint never sees two equal ones."""
    ids = bind.execute(sa.text(
        "SELECT id FROM standard_versions WHERE process_id = :process ORDER BY version"),
        {"process": process_id}).scalars().all()
    for number, version_id in enumerate(ids, start=1):
        bind.execute(sa.text("UPDATE standard_versions SET version = :v WHERE id = :id"),
                     {"v": -number, "id": version_id})
    bind.execute(sa.text(
        "UPDATE standard_versions SET version = -version WHERE process_id = :process"),
        {"process": process_id})


def downgrade() -> None:
    # Two platforms' processes of the same name cannot share a name again: the later ones
    # are renamed "<name> (<platform> <id>)" (the id keeps it unique even if such a name
    # exists), which keeps every idea and version.
    bind = op.get_bind()
    seen: set[tuple[str, str]] = set()
    for process_id, platform, workspace, name, key in bind.execute(sa.text(
            "SELECT id, platform, workspace, name, name_key FROM processes ORDER BY id")).all():
        if (workspace, key) in seen:
            suffix = f" ({platform} {process_id})"
            bind.execute(sa.text(
                "UPDATE processes SET name = :name, name_key = :key WHERE id = :id"),
                {"name": name[:120 - len(suffix)] + suffix,
                 "key": key[:120 - len(suffix)] + suffix, "id": process_id})
        seen.add((workspace, key))
    with op.batch_alter_table("processes", schema=None) as batch_op:
        batch_op.drop_constraint("uq_processes_name", type_="unique")
        batch_op.create_unique_constraint("uq_processes_name", ["workspace", "name_key"])
        batch_op.drop_column("platform")

    op.execute(
        "DELETE FROM processed_events WHERE id NOT IN (SELECT MIN(id) FROM processed_events "
        "GROUP BY platform, event_id)")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_processed_events_event", type_="unique")
        batch_op.create_unique_constraint("uq_processed_events_event", ["platform", "event_id"])
        batch_op.drop_column("workspace")

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("directory_id")
