"""legal cases: a case is a hardship (A3b) or a legal matter needing the union (P4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hardship_cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="hardship")
        )
        batch_op.create_index("ix_hardship_cases_kind_year", ["kind", "period_year"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hardship_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_hardship_cases_kind_year")
        batch_op.drop_column("kind")
