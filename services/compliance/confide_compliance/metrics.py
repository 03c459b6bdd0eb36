"""Compliance's domain metrics (exported beside the chassis' on the metrics port).

Named ``confide_compliance_...`` with the ``service`` label first, like every Confide metric (see
`confide_chassis.metrics`): `bind_service` sets it, so call sites pass only the other labels.
Labels are bounded codes only: never a clinician, practice, credential or person id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from confide_chassis.metrics import bind_service

SERVICE = "compliance"
KNOWN_PURPOSES = frozenset({"booking", "check_in", "matching", "reschedule"})

decisions_total = bind_service(
    Counter(
        "confide_compliance_authorization_decisions_total",
        "Authorization decisions made, by result, authority kind used and purpose.",
        ["service", "allowed", "authority_kind", "purpose"],
    ),
    SERVICE,
)
authorization_changes_total = bind_service(
    Counter(
        "confide_compliance_authorization_changes_total",
        "AuthorizationChanged events staged, by what caused them (registry change or expiry watch).",
        ["service", "source"],
    ),
    SERVICE,
)
license_notices_total = bind_service(
    Counter(
        "confide_compliance_license_notices_total",
        "License notices staged (expiring_90/60/30, expired, suspended, revoked, encumbered).",
        ["service", "milestone"],
    ),
    SERVICE,
)
registry_changes_total = bind_service(
    Counter(
        "confide_compliance_registry_changes_total",
        "Registry versions written, by record kind.",
        ["service", "record"],
    ),
    SERVICE,
)
expiry_watch_runs_total = bind_service(
    Counter(
        "confide_compliance_expiry_watch_runs_total",
        "Expiry watch runs, by outcome (ran, skipped: another replica holds the lock, failed).",
        ["service", "outcome"],
    ),
    SERVICE,
)
expiry_watch_last_success = Gauge(
    "confide_compliance_expiry_watch_last_success_timestamp_seconds",
    "Unix time of the last expiry watch run that completed in this process (alert when stale).",
    ["service"],
).labels(SERVICE)
audit_records_appended_total = Counter(
    "confide_compliance_audit_records_appended_total",
    "Audit events appended to the hash chain (duplicates by event id are not counted).",
    ["service"],
).labels(SERVICE)
audit_chain_verifications_total = bind_service(
    Counter(
        "confide_compliance_audit_chain_verifications_total",
        "VerifyChain runs, by result (ok, broken).",
        ["service", "result"],
    ),
    SERVICE,
)


# -- counters whose call sites pass SERVICE themselves ---------------------------------------------

decisions_by_rule_total = Counter(
    "confide_compliance_decisions_by_rule_total",
    "Authorization decisions by outcome (allowed, denied) and decisive rule id: for a denial each "
    "rule that failed, for an allow each rule the authorizing credential satisfied.",
    ["service", "outcome", "rule_id"],
)
session_days_total = Counter(
    "confide_compliance_session_starts_total",
    "SessionStarted events handled, by what they did to day-limited authorities (recorded: a new "
    "day counted; already_recorded; not_day_limited; no_decision: no matching check-in decision).",
    ["service", "outcome"],
)
day_limit_overruns_total = Counter(
    "confide_compliance_day_limit_overruns_total",
    "Days counted beyond a day-limited authority's limit (two sessions on different days checked "
    "in before either started: see docs/adr). Alert on any increase.",
    ["service"],
)

registry_conflicts_total = Counter(
    "confide_compliance_registry_conflicts_total",
    "Clinicians registered in another practice than the one identity says they belong to "
    "(registered before identity's event arrived). Alert on any increase.",
    ["service"],
)


def purpose_label(purpose: str) -> str:
    return purpose if purpose in KNOWN_PURPOSES else ("unspecified" if not purpose else "other")
