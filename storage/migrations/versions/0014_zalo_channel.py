"""Zalo: an inbox key that is the platform's own id, and the choices a chat was last shown

``inbox_updates.update_key``: the platform's id of the update, unique per channel.  Telegram's
is its integer ``update_id``; Zalo's is the message id, a string.  ``update_id`` stays the
number that orders a chat's updates (Telegram's update id, Zalo's message time in ms).

``chat_identities.menu``: on a channel without buttons (Zalo), the numbered choices of the last
screen shown to the chat, as JSON, so that "2" or "có" typed next is read as that choice.

``chat_identities.used_at`` / ``chosen_at``: when the person last wrote from the chat, and
when they chose it with /kenh.  A person with chats on two channels is written to on the
chosen one, else on the one last used (else the newest).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The unique constraint of 0001 has no name; this convention names it so that it can go.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s"}
_OLD_UNIQUE = "uq_inbox_updates_channel_update_id"
_NEW_UNIQUE = "uq_inbox_updates_channel_update_key"


def _indexes() -> list[str]:
    """SQLite rebuilds the table, and reflection loses the WHERE of the partial indexes of
    0009: their statements are read before and run again after."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return []
    found = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox_updates' "
        "AND sql IS NOT NULL ORDER BY name"
    )
    rows = [(str(row[0]), str(row[1])) for row in found]
    for name, _ in rows:
        bind.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _old_unique_name() -> str:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return _OLD_UNIQUE
    for constraint in sa.inspect(bind).get_unique_constraints("inbox_updates"):
        if constraint["column_names"] == ["channel", "update_id"] and constraint["name"]:
            return str(constraint["name"])
    return _OLD_UNIQUE


def upgrade() -> None:
    indexes = _indexes()
    old = _old_unique_name()
    op.add_column("inbox_updates", sa.Column("update_key", sa.String(length=64), nullable=True))
    op.execute("UPDATE inbox_updates SET update_key = CAST(update_id AS VARCHAR(64))")
    with op.batch_alter_table("inbox_updates", naming_convention=_NAMES) as batch_op:
        batch_op.alter_column("update_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint(old, type_="unique")
        batch_op.create_unique_constraint(_NEW_UNIQUE, ["channel", "update_key"])
    bind = op.get_bind()
    for statement in indexes:
        bind.exec_driver_sql(statement)
    op.add_column("chat_identities", sa.Column("menu", sa.Text(), nullable=True))
    op.add_column(
        "chat_identities", sa.Column("used_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "chat_identities", sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("chat_identities") as batch_op:
        batch_op.drop_column("chosen_at")
        batch_op.drop_column("used_at")
        batch_op.drop_column("menu")
    # Updates that have no integer id of their own (Zalo's) cannot keep the old key.
    op.execute("DELETE FROM inbox_updates WHERE channel <> 'telegram' AND channel <> 'local'")
    indexes = _indexes()
    with op.batch_alter_table("inbox_updates", naming_convention=_NAMES) as batch_op:
        batch_op.drop_constraint(_NEW_UNIQUE, type_="unique")
        batch_op.create_unique_constraint(_OLD_UNIQUE, ["channel", "update_id"])
        batch_op.drop_column("update_key")
    bind = op.get_bind()
    for statement in indexes:
        bind.exec_driver_sql(statement)
