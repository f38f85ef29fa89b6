"""notice reminders: a reminder row points at the notice delivery it is about

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminds_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_deliveries_reminds_id"), ["reminds_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_deliveries_reminds_id", "deliveries", ["reminds_id"], ["id"]
        )
        batch_op.create_index(
            "ix_deliveries_unacknowledged",
            ["notice_id", "sent_at"],
            unique=False,
            sqlite_where=sa.text("notice_id IS NOT NULL AND acknowledged_at IS NULL"),
            postgresql_where=sa.text("notice_id IS NOT NULL AND acknowledged_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_unacknowledged")
        batch_op.drop_constraint("fk_deliveries_reminds_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_deliveries_reminds_id"))
        batch_op.drop_column("reminds_id")
