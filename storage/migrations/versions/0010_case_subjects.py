"""cases: whether the subject was a member, or the union body itself; people who left the
sector; tallies recounted

``subject_member``: the person a case is about was a union member (đoàn viên) when it was
reported.  A3b and P4 count members' cases (the plan: "đoàn viên có hoàn cảnh khó khăn", "vụ
việc của đoàn viên, tổ chức công đoàn"); the cases of others are handled and listed apart.
Existing cases take the membership their subject has now (the nearest record there is); a
colleague not found in the roster is not a known member.

``subject_union``: the case is the union body's own (an officer filed a legal case for their
CĐCS): P4 counts it.

``people.work_status`` and ``left_on``: a person who retired or moved out of the sector
(the roster's "Trạng thái") is out of every indicator of the year they left and later; the
trigger that marks a person's units on a change now watches ``left_on`` too.

The runs of submitted hardship reports and legal requests (a run each) are closed.

The indicator tallies are dropped: their counts were made under the earlier rules (survey
rates over everyone in the roster, every case counted); the next report recounts them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tallies_revision() -> Any:
    """Revision 0008, whose trigger builders this one reuses."""
    path = Path(__file__).with_name("0008_indicator_tallies.py")
    spec = importlib.util.spec_from_file_location("congdoan_revision_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _people_trigger(columns: tuple[str, ...]) -> None:
    """Recreate the trigger on a person's change, watching ``columns``."""
    r0008 = _tallies_revision()
    dialect = op.get_bind().dialect.name
    (old,) = [t for t in r0008.TRIGGERS if t.name == "trg_indicators_people_update"]
    new = r0008.Trigger(old.name, old.table, old.event, old.body, columns, old.when)
    for statement in r0008._drop_trigger(old, dialect) + r0008._create_trigger(new, dialect):
        op.execute(statement)


def upgrade() -> None:
    # Plain ADD COLUMN (a constant default): SQLite need not rebuild the table, which the
    # case history's foreign key would forbid.
    op.add_column(
        "cases",
        sa.Column("subject_member", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "cases",
        sa.Column("subject_union", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE cases SET subject_member = COALESCE("
        "(SELECT people.is_member FROM people WHERE people.id = cases.subject_person_id), "
        f"{'false' if op.get_bind().dialect.name == 'postgresql' else '0'})"
    )
    op.add_column(
        "people",
        sa.Column("work_status", sa.String(length=16), nullable=False, server_default="active"),
    )
    op.add_column("people", sa.Column("left_on", sa.Date(), nullable=True))
    _people_trigger(("unit_id", "is_member", "left_on"))
    # A hardship report or legal request is a run of its own: once submitted, its run is
    # closed (the runs still open for a unit, which /surveys reads, stay few).
    op.execute(
        "UPDATE survey_runs SET status = 'closed' WHERE status = 'open' AND id IN ("
        "SELECT responses.run_id FROM responses JOIN cases ON cases.response_id = responses.id)"
    )
    op.execute("DELETE FROM indicator_tallies")


def downgrade() -> None:
    _people_trigger(("unit_id", "is_member"))
    op.drop_column("people", "left_on")
    op.drop_column("people", "work_status")
    op.drop_column("cases", "subject_union")
    op.drop_column("cases", "subject_member")
    op.execute("DELETE FROM indicator_tallies")
