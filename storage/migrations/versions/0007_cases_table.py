"""cases: the table of hardship and legal cases is named for both (was hardship_cases)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old index, new index, columns); SQLite cannot rename an index: they are dropped and made again.
_INDEXES = (
    ("ix_hardship_cases_kind_year", "ix_cases_kind_year", ["kind", "period_year"]),
    ("ix_hardship_cases_period_year", "ix_cases_period_year", ["period_year"]),
    ("ix_hardship_cases_unit_id", "ix_cases_unit_id", ["unit_id"]),
)


def _rename(old_table: str, new_table: str, *, forward: bool) -> None:
    with op.batch_alter_table(old_table, schema=None) as batch_op:
        for old, new, _ in _INDEXES:
            batch_op.drop_index(old if forward else new)
    # PostgreSQL and SQLite ≥ 3.26 carry the case_events foreign key over to the new name.
    op.rename_table(old_table, new_table)
    with op.batch_alter_table(new_table, schema=None) as batch_op:
        for old, new, columns in _INDEXES:
            batch_op.create_index(new if forward else old, columns, unique=False)


def upgrade() -> None:
    _rename("hardship_cases", "cases", forward=True)


def downgrade() -> None:
    _rename("cases", "hardship_cases", forward=False)
