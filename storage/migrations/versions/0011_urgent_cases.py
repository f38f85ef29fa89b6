"""cases: urgency, and when an officer first opened the case and when it was escalated

``urgent``: the reporter answered "Cần hỗ trợ khẩn cấp: Có".  The officers of the case's CĐCS
are alerted at once; ``escalated_at`` records that the next level up was alerted because no
officer had opened the case (``opened_at``) within ``URGENT_ESCALATE_AFTER`` hours.  Existing
cases take their urgency from their report's answer; they are not alerted now (they are
marked opened, so that no escalation goes out for a report made before alerts existed).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (a constant default): SQLite need not rebuild the table, which the
    # case history's foreign key would forbid.
    op.add_column(
        "cases", sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("cases", sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    true = "true" if op.get_bind().dialect.name == "postgresql" else "1"
    op.execute(
        f"UPDATE cases SET urgent = {true} WHERE response_id IN ("
        "SELECT answers.response_id FROM answers "
        "WHERE answers.question_key = 'urgent' AND answers.value = 'true')"
    )
    op.execute("UPDATE cases SET opened_at = created_at")
    op.create_index("ix_cases_urgent_waiting", "cases", ["urgent", "escalated_at", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_urgent_waiting", table_name="cases")
    op.drop_column("cases", "escalated_at")
    op.drop_column("cases", "opened_at")
    op.drop_column("cases", "urgent")
