"""The outbox's due index ends with the row's id

A claim takes the oldest due rows, ``ORDER BY available_at, id``.  With the index on
(status, available_at) alone, PostgreSQL sorted every due row of the backlog at each claim
(all 30,000 rows of a province notice share one ``available_at``); with ``id`` in the index
it reads the rows it takes in order and stops.  SQLite's index already ended with the rowid:
the same order there, rebuilt the same way.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_due")
        batch_op.create_index("ix_deliveries_due", ["status", "available_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_due")
        batch_op.create_index("ix_deliveries_due", ["status", "available_at"], unique=False)
