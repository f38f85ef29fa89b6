"""deliveries.channel: the channel of the chat written to, none for a person without a chat

Every message goes to its recipient's own newest linked chat, whichever channel it is on, so
a delivery's channel is its chat's.  A delivery written ``unreachable`` because the person has
no linked chat has no channel (it was stored as Telegram before).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNEL = sa.Enum("telegram", "zalo", "local", name="channel", native_enum=False, length=16)


def _set_nullable(nullable: bool) -> None:
    """SQLite rebuilds the table to change a column, which drops its triggers (the indicator
    tallies' of 0008): they are read before and created again after, as they were."""
    bind = op.get_bind()
    triggers: list[str] = []
    if bind.dialect.name == "sqlite":
        found = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'deliveries' "
            "ORDER BY name"
        )
        triggers = [str(row[0]) for row in found]
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("channel", existing_type=_CHANNEL, nullable=nullable)
    for statement in triggers:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    _set_nullable(True)
    op.execute("UPDATE deliveries SET channel = NULL WHERE chat_id IS NULL")


def downgrade() -> None:
    op.execute("UPDATE deliveries SET channel = 'telegram' WHERE channel IS NULL")
    _set_nullable(False)
