"""indicator tallies: per-unit counts of every indicator source, kept fresh by version triggers

Also ``ix_responses_run_unit``: the responses of a year's runs in a few units, which is what a
refresh of a few stale units reads.

A report sums ``indicator_tallies`` (a row per year, unit and source) instead of aggregating
every answer, acknowledgement and roster row of the scope.  ``indicator_versions`` holds a
counter per unit.  The triggers below log a row in ``indicator_changes``, in the same
transaction, whenever a row that an indicator counts changes in a unit; the next report turns
the logged changes into version bumps (one refresh at a time) and recomputes, from the facts,
the tallies computed at an older version (``storage.indicators``).  Writers only insert into
the log: they never wait on, or deadlock over, a shared counter row.

What the triggers watch, and which units they mark:

- units: a new unit gets its counter; a change of kind, place in the tree, public flag or staff
  count marks the unit and every unit above its old and its new place (a CĐCS's staff count
  falls back on the people of its subtree); a deleted unit takes its tallies with it.
- people: a new or deleted person marks their unit; a move or a change of membership marks the
  old unit and every unit the person has facts in (responses, benefits, their unit now).
- responses: a completed response, or a change to one (state, unit, person, membership, run),
  marks its unit and every unit of its person's facts: a person counts once a year per survey,
  in the unit of their latest answer, so an answer elsewhere moves them.
- answers: an answer of a completed response marks as a change of the response does.
- welfare_benefits, cases: a new, changed or deleted row marks its unit (and a benefit, its
  person's units, as for responses).
- deliveries: a notice delivery that becomes delivered (sent, or acknowledged) or acknowledged,
  or stops being so, marks its person's unit.

Not watched, because the bot never changes them once written: a run's year and definition, a
definition's key, a notice's year.  SQLite's batch migrations rebuild a table and drop its
triggers: a later migration that batch-alters one of these tables must create them again
(``tests/test_indicator_tallies.py`` checks that every trigger named here exists at head).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:30:00
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _person_units(person: str) -> str:
    """Every unit a person has indicator facts in."""
    return (
        f"SELECT unit_id FROM responses WHERE person_id = {person} "
        f"UNION SELECT unit_id FROM welfare_benefits WHERE person_id = {person} "
        f"UNION SELECT unit_id FROM people WHERE id = {person}"
    )


def _bump(*unit_sets: str) -> str:
    """Log a change in each unit of the sets (the next report bumps their versions).  An
    INSERT into a log, never an UPDATE of a shared row: a writer waits for nobody and no two
    writers can deadlock over it."""
    units = " UNION ".join(unit_sets)
    return (
        "INSERT INTO indicator_changes (unit_id) "
        f"SELECT unit_id FROM ({units}) AS changed WHERE unit_id IS NOT NULL"
    )


def _unit(expression: str) -> str:
    return f"SELECT {expression} AS unit_id"


def _around(path: str) -> str:
    """The unit at ``path`` and every unit above it."""
    return f"SELECT id AS unit_id FROM units WHERE {path} LIKE path || '%'"


_DELIVERED = "(CASE WHEN {r}.status = 'sent' OR {r}.acknowledged_at IS NOT NULL THEN 1 ELSE 0 END)"
_ACKNOWLEDGED = "(CASE WHEN {r}.acknowledged_at IS NOT NULL THEN 1 ELSE 0 END)"
_OF_RESPONSE = (
    "(SELECT person_id FROM responses WHERE id = NEW.response_id AND state = 'completed')"
)


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    event: str  # INSERT, UPDATE, DELETE
    body: tuple[str, ...]
    columns: tuple[str, ...] = ()  # UPDATE OF these
    when: str | None = None  # SQL over NEW / OLD, valid on both engines


def _answer_trigger(event: str, row: str) -> Trigger:
    of_response = _OF_RESPONSE.replace("NEW.", f"{row}.")
    return Trigger(
        f"trg_indicators_answers_{event.lower()}",
        "answers",
        event,
        (
            _bump(
                f"SELECT unit_id FROM responses WHERE id = {row}.response_id "
                "AND state = 'completed'",
                _person_units(of_response),
            ),
        ),
    )


TRIGGERS: tuple[Trigger, ...] = (
    Trigger(
        "trg_indicators_units_insert",
        "units",
        "INSERT",
        ("INSERT INTO indicator_versions (unit_id, version) VALUES (NEW.id, 1)",),
    ),
    Trigger(
        "trg_indicators_units_update",
        "units",
        "UPDATE",
        (_bump(_around("OLD.path"), _around("NEW.path"), _unit("NEW.id")),),
        columns=("kind", "parent_id", "path", "is_public", "staff_count"),
    ),
    Trigger(
        "trg_indicators_units_delete",
        "units",
        "DELETE",
        (
            "DELETE FROM indicator_tallies WHERE unit_id = OLD.id",
            "DELETE FROM indicator_versions WHERE unit_id = OLD.id",
            _bump(_around("OLD.path")),
        ),
    ),
    Trigger("trg_indicators_people_insert", "people", "INSERT", (_bump(_unit("NEW.unit_id")),)),
    Trigger(
        "trg_indicators_people_update",
        "people",
        "UPDATE",
        (_bump(_unit("OLD.unit_id"), _person_units("NEW.id")),),
        columns=("unit_id", "is_member"),
    ),
    Trigger("trg_indicators_people_delete", "people", "DELETE", (_bump(_unit("OLD.unit_id")),)),
    Trigger(
        "trg_indicators_responses_insert",
        "responses",
        "INSERT",
        (_bump(_unit("NEW.unit_id"), _person_units("NEW.person_id")),),
        when="NEW.state = 'completed'",
    ),
    Trigger(
        "trg_indicators_responses_update",
        "responses",
        "UPDATE",
        (
            _bump(
                _unit("OLD.unit_id"),
                _unit("NEW.unit_id"),
                _person_units("OLD.person_id"),
                _person_units("NEW.person_id"),
            ),
        ),
        columns=("state", "unit_id", "person_id", "is_member", "run_id"),
        when="OLD.state = 'completed' OR NEW.state = 'completed'",
    ),
    Trigger(
        "trg_indicators_responses_delete",
        "responses",
        "DELETE",
        (_bump(_unit("OLD.unit_id"), _person_units("OLD.person_id")),),
        when="OLD.state = 'completed'",
    ),
    _answer_trigger("INSERT", "NEW"),
    _answer_trigger("UPDATE", "NEW"),
    _answer_trigger("DELETE", "OLD"),
    Trigger(
        "trg_indicators_benefits_insert",
        "welfare_benefits",
        "INSERT",
        (_bump(_unit("NEW.unit_id"), _person_units("NEW.person_id")),),
    ),
    Trigger(
        "trg_indicators_benefits_update",
        "welfare_benefits",
        "UPDATE",
        (
            _bump(
                _unit("OLD.unit_id"),
                _person_units("OLD.person_id"),
                _person_units("NEW.person_id"),
            ),
        ),
        columns=("status", "unit_id", "person_id", "period_year"),
    ),
    Trigger(
        "trg_indicators_benefits_delete",
        "welfare_benefits",
        "DELETE",
        (_bump(_unit("OLD.unit_id"), _person_units("OLD.person_id")),),
    ),
    Trigger("trg_indicators_cases_insert", "cases", "INSERT", (_bump(_unit("NEW.unit_id")),)),
    Trigger(
        "trg_indicators_cases_update",
        "cases",
        "UPDATE",
        (_bump(_unit("OLD.unit_id"), _unit("NEW.unit_id")),),
        columns=("status", "unit_id", "kind", "period_year"),
    ),
    Trigger("trg_indicators_cases_delete", "cases", "DELETE", (_bump(_unit("OLD.unit_id")),)),
    Trigger(
        "trg_indicators_deliveries_insert",
        "deliveries",
        "INSERT",
        (_bump("SELECT unit_id FROM people WHERE id = NEW.person_id"),),
        when=f"NEW.kind = 'notice' AND {_DELIVERED.format(r='NEW')} = 1",
    ),
    Trigger(
        "trg_indicators_deliveries_update",
        "deliveries",
        "UPDATE",
        (_bump("SELECT unit_id FROM people WHERE id = NEW.person_id"),),
        columns=("status", "acknowledged_at"),
        when=(
            f"NEW.kind = 'notice' AND ({_DELIVERED.format(r='OLD')} <> "
            f"{_DELIVERED.format(r='NEW')} OR {_ACKNOWLEDGED.format(r='OLD')} <> "
            f"{_ACKNOWLEDGED.format(r='NEW')})"
        ),
    ),
    Trigger(
        "trg_indicators_deliveries_delete",
        "deliveries",
        "DELETE",
        (_bump("SELECT unit_id FROM people WHERE id = OLD.person_id"),),
        when=f"OLD.kind = 'notice' AND {_DELIVERED.format(r='OLD')} = 1",
    ),
)


def _create_trigger(trigger: Trigger, dialect: str) -> list[str]:
    event = trigger.event
    if trigger.columns:
        event += " OF " + ", ".join(trigger.columns)
    body = ";\n    ".join(trigger.body) + ";"
    if dialect == "postgresql":
        when = f"\n    WHEN ({trigger.when})" if trigger.when else ""
        return [
            f"CREATE FUNCTION {trigger.name}_fn() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n    {body}\n    RETURN NULL;\nEND\n$$",
            f"CREATE TRIGGER {trigger.name} AFTER {event} ON {trigger.table}\n"
            f"    FOR EACH ROW{when} EXECUTE FUNCTION {trigger.name}_fn()",
        ]
    when = f"\n    WHEN {trigger.when}" if trigger.when else ""
    return [
        f"CREATE TRIGGER {trigger.name} AFTER {event} ON {trigger.table}"
        f"\n    FOR EACH ROW{when}\nBEGIN\n    {body}\nEND"
    ]


def _drop_trigger(trigger: Trigger, dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}",
            f"DROP FUNCTION IF EXISTS {trigger.name}_fn()",
        ]
    return [f"DROP TRIGGER IF EXISTS {trigger.name}"]


def upgrade() -> None:
    op.create_table(
        "indicator_versions",
        sa.Column("unit_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    op.create_table(
        "indicator_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "indicator_tallies",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("unit_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=96), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        *[sa.Column(f"n{i}", sa.BigInteger(), nullable=False) for i in range(1, 7)],
        sa.PrimaryKeyConstraint("year", "unit_id", "source"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_responses_run_unit", "responses", ["run_id", "unit_id"], unique=False)
    op.execute("INSERT INTO indicator_versions (unit_id, version) SELECT id, 1 FROM units")
    dialect = op.get_bind().dialect.name
    for trigger in TRIGGERS:
        for statement in _create_trigger(trigger, dialect):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for trigger in TRIGGERS:
        for statement in _drop_trigger(trigger, dialect):
            op.execute(statement)
    op.drop_index("ix_responses_run_unit", table_name="responses")
    op.drop_table("indicator_tallies")
    op.drop_table("indicator_changes")
    op.drop_table("indicator_versions")
