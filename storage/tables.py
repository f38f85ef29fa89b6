"""The Core tables behind the models, by the names the SQL of ``storage`` uses.

Queries that aggregate or write in bulk (indicators, campaigns, notices, digests) work on these
``Table`` objects rather than on the ORM classes of :mod:`storage.models`; each is looked up
once here instead of in every module.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

_tables = SQLModel.metadata.tables
units: Table = _tables["units"]
people: Table = _tables["people"]
chats: Table = _tables["chat_identities"]
definitions: Table = _tables["survey_definitions"]
runs: Table = _tables["survey_runs"]
responses: Table = _tables["responses"]
participations: Table = _tables["participations"]
answers: Table = _tables["answers"]
cases: Table = _tables["cases"]  # hardship and legal cases (``kind``)
case_events: Table = _tables["case_events"]
benefits: Table = _tables["welfare_benefits"]
notices: Table = _tables["notices"]
deliveries: Table = _tables["deliveries"]
targets: Table = _tables["campaign_targets"]
digests_sent: Table = _tables["digests_sent"]
officer_news: Table = _tables["officer_news"]
pending_links: Table = _tables["pending_links"]
indicator_versions: Table = _tables["indicator_versions"]
indicator_changes: Table = _tables["indicator_changes"]
indicator_tallies: Table = _tables["indicator_tallies"]
audit_events: Table = _tables["audit_events"]
consent_texts: Table = _tables["consent_texts"]
correction_requests: Table = _tables["correction_requests"]
closed_years: Table = _tables["closed_years"]
indicator_snapshots: Table = _tables["indicator_snapshots"]
web_sign_ins: Table = _tables["web_sign_ins"]
web_sessions: Table = _tables["web_sessions"]
