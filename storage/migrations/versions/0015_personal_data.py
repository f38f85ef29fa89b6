"""Personal data: an audit trail, consent texts by version, corrections, closed years

``audit_events``: one append-only row per thing done to or with personal data (role changes,
views of a case's details, link decisions, exports, roster imports, notice sends, withdrawals
and erasures).  A trigger refuses updates on both databases; the retention purge deletes the
oldest rows.

``consent_texts``: the wording of each consent version, with its SHA-256.

``correction_requests``: a member's request to correct their name, phone or unit.

``closed_years`` / ``indicator_snapshots``: a year's indicator tallies frozen when an admin
closes it; its reports read the snapshot from then on.

``people.consent_withdrawn_at`` / ``erased_at`` and ``cases.subject_told_at`` /
``escalated_to_unit_id`` (the body an urgent case was passed up to: its officers may see it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09 09:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = "audit rows are append-only"


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _people_trigger(columns: tuple[str, ...]) -> None:
    """Recreate the indicator trigger on a person's change (revision 0010's helper), watching
    ``columns``: with ``consent_withdrawn_at``, a withdrawal marks the person's units, so
    the next report recounts them without the person's answers (``storage.indicators``)."""
    path = Path(__file__).with_name("0010_case_subjects.py")
    spec = importlib.util.spec_from_file_location("congdoan_revision_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._people_trigger(columns)


def upgrade() -> None:
    op.add_column("people", _ts("consent_withdrawn_at", nullable=True))
    _people_trigger(("unit_id", "is_member", "left_on", "consent_withdrawn_at"))
    op.add_column("people", _ts("erased_at", nullable=True))
    op.add_column("cases", _ts("subject_told_at", nullable=True))
    # Who a case was escalated to: their officers see its details (need to know).  On SQLite
    # a plain ADD COLUMN with an inline REFERENCES (no ALTER of constraints, and no table
    # rebuild under case_events' foreign key).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE cases ADD COLUMN escalated_to_unit_id INTEGER REFERENCES units (id)"
        )
    else:
        op.add_column("cases", sa.Column("escalated_to_unit_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "cases_escalated_to_unit_id_fkey", "cases", "units", ["escalated_to_unit_id"], ["id"]
        )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor_id"])
    op.create_index("ix_audit_events_person_id", "audit_events", ["person_id"])
    op.create_index("ix_audit_events_case_id", "audit_events", ["case_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER trg_audit_events_no_update BEFORE UPDATE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse()"
        )
    else:
        op.execute(
            "CREATE TRIGGER trg_audit_events_no_update BEFORE UPDATE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        )
    op.create_table(
        "consent_texts",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("version", "locale"),
    )
    op.create_table(
        "correction_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("old_value", sa.String(length=255), nullable=False),
        sa.Column("new_value", sa.String(length=255), nullable=False),
        sa.Column("new_unit_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        _ts("created_at"),
        _ts("decided_at", nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["new_unit_id"], ["units.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_correction_requests_person_id", "correction_requests", ["person_id"])
    op.create_index("ix_correction_requests_unit_id", "correction_requests", ["unit_id"])
    op.create_table(
        "closed_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        _ts("closed_at"),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["closed_by"], ["people.id"]),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "indicator_snapshots",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("unit_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=96), nullable=False),
        *[sa.Column(f"n{i}", sa.BigInteger(), nullable=False) for i in range(1, 7)],
        sa.PrimaryKeyConstraint("year", "unit_id", "source"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("indicator_snapshots")
    op.drop_table("closed_years")
    op.drop_index("ix_correction_requests_unit_id", table_name="correction_requests")
    op.drop_index("ix_correction_requests_person_id", table_name="correction_requests")
    op.drop_table("correction_requests")
    op.drop_table("consent_texts")
    op.execute(
        "DROP TRIGGER IF EXISTS trg_audit_events_no_update"
        + (" ON audit_events" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_refuse()")
    for name in ("case_id", "person_id", "actor_id"):
        op.drop_index(f"ix_audit_events_{name}", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would lose the indicator triggers
    # of 0008 on these tables.
    op.drop_column("cases", "escalated_to_unit_id")
    op.drop_column("cases", "subject_told_at")
    op.drop_column("people", "erased_at")
    _people_trigger(("unit_id", "is_member", "left_on"))  # before its column goes
    op.drop_column("people", "consent_withdrawn_at")
