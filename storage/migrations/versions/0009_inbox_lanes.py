"""inbox: updates set aside as poison, and the replies recorded with their update

``failed_at``: the update failed every attempt (or could not be read at all) and is set aside,
with its ``error``, for an operator (``congdoan inbox failed``, ``congdoan inbox retry ID``).

``replies``: the Bot API calls that answer the update, as JSON, written in the transaction
that marks the update handled; ``replied_at``: when they were all sent (or given up).  A crash
between the commit and the send leaves ``replied_at`` empty, and the next start sends them.

Two partial indexes keep the runner's reads to the few rows they concern: the updates waiting
to be handled, and the handled ones whose replies are not out yet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "handled_at IS NULL AND failed_at IS NULL"
_UNREPLIED = "handled_at IS NOT NULL AND replied_at IS NULL"


def upgrade() -> None:
    op.add_column(
        "inbox_updates", sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("inbox_updates", sa.Column("replies", sa.Text(), nullable=True))
    op.add_column(
        "inbox_updates", sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Rows handled before this revision had their replies sent (or dropped) already.
    op.execute("UPDATE inbox_updates SET replied_at = handled_at WHERE handled_at IS NOT NULL")
    op.create_index(
        "ix_inbox_pending",
        "inbox_updates",
        ["id"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_index(
        "ix_inbox_unreplied",
        "inbox_updates",
        ["id"],
        sqlite_where=sa.text(_UNREPLIED),
        postgresql_where=sa.text(_UNREPLIED),
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_unreplied", table_name="inbox_updates")
    op.drop_index("ix_inbox_pending", table_name="inbox_updates")
    # Set-aside updates become handled ones, as they were counted before this revision.
    op.execute(
        "UPDATE inbox_updates SET handled_at = failed_at "
        "WHERE failed_at IS NOT NULL AND handled_at IS NULL"
    )
    with op.batch_alter_table("inbox_updates", schema=None) as batch_op:
        batch_op.drop_column("replied_at")
        batch_op.drop_column("replies")
        batch_op.drop_column("failed_at")
