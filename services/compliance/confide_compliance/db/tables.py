"""The compliance database: registry (current view + append-only history), verifications, stored
decisions, day usage, expiry notices sent, and the hash-chained audit trail.

Append-only tables (`registry_history`, `verifications`, `audit_records`) carry a trigger that
rejects UPDATE, DELETE and TRUNCATE, so even a bug in this service cannot rewrite the past; the
audit trail's hash chain detects what someone with enough database rights did anyway.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

clinicians = Table(
    "clinicians",
    metadata,
    Column("clinician_id", UUID(as_uuid=False), primary_key=True),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("practice_jurisdiction", String(2), nullable=True),
    Column("is_supervisee", Boolean, nullable=False),
    Column("primary_profession", String(64), nullable=True),
    Column("npi", JSONB, nullable=True),
    Column("version", Integer, nullable=False),
    # The coverage consumers were last told about (AuthorizationChanged), for the day it was computed.
    Column("coverage", JSONB, nullable=True),
    Column("coverage_on", Date, nullable=True),
    Column("coverage_reference_version", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", Text, nullable=False),
    CheckConstraint("version >= 1", name="clinicians_version_positive"),
    Index("clinicians_practice", "practice_id", "clinician_id"),
)

# Identity's word on which practice each user belongs to (UserRegistered, RoleChanged): a practice can
# register in its registry only its own users, never squat another practice's clinician id.
practice_users = Table(
    "practice_users",
    metadata,
    Column("user_id", UUID(as_uuid=False), primary_key=True),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("credential_id", UUID(as_uuid=False), primary_key=True),
    Column("clinician_id", UUID(as_uuid=False), ForeignKey("clinicians.clinician_id"), nullable=False),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    # state_license | psypact_e_passport | psypact_apit | ... | state_exception | bc_tmh
    Column("kind", String(64), nullable=False),
    Column("jurisdiction", String(2), nullable=True),
    Column("status", String(32), nullable=False),
    Column("expires_on", Date, nullable=True),
    Column("data", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", Text, nullable=False),
    CheckConstraint("version >= 1", name="credentials_version_positive"),
    Index("credentials_clinician", "clinician_id", "credential_id"),
    Index("credentials_expiry", "expires_on"),
)

registry_history = Table(
    "registry_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("clinician_id", UUID(as_uuid=False), nullable=False),
    Column("record_type", String(20), nullable=False),  # clinician | credential
    Column("record_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("change", String(20), nullable=False),  # created | updated | verified
    Column("data", JSONB, nullable=False),  # the record as it was after the change
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("record_type", "record_id", "version", name="registry_history_version"),
    Index("registry_history_clinician", "clinician_id", "id"),
)

verifications = Table(
    "verifications",
    metadata,
    Column("verification_id", UUID(as_uuid=False), primary_key=True),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("clinician_id", UUID(as_uuid=False), nullable=False),
    Column("record_id", Text, nullable=False),  # credential id or "npi"
    Column("record_version", Integer, nullable=False),
    Column("source", String(40), nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=False),
    Column("verified_by", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("verifications_clinician", "clinician_id", "recorded_at"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", UUID(as_uuid=False), primary_key=True),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("clinician_id", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("session_date", Date, nullable=False),
    Column("allowed", Boolean, nullable=False),
    Column("authority_kind", String(64), nullable=True),
    Column("authority_id", Text, nullable=True),
    Column("profession", String(64), nullable=False),
    Column("request", JSONB, nullable=False),
    Column("reasons", JSONB, nullable=False),
    Column("reference_data_version", Text, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("appointment_id", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("usage_key", JSONB, nullable=True),
    CheckConstraint("allowed = (authority_id IS NOT NULL)", name="decisions_allowed_names_authority"),
    Index("decisions_clinician", "practice_id", "clinician_id", "decided_at"),
    Index("decisions_appointment", "appointment_id", postgresql_where=text("appointment_id <> ''")),
)

# Days of practice under a day-limited authority (PSYPACT TAP, temporary-practice exceptions):
# one row per authority, state and date (LIC-13, LIC-60).
authority_day_usage = Table(
    "authority_day_usage",
    metadata,
    Column("authority_id", Text, nullable=False),
    Column("jurisdiction", String(2), nullable=False),
    Column("day", Date, nullable=False),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("clinician_id", UUID(as_uuid=False), nullable=False),
    Column("decision_id", UUID(as_uuid=False), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("authority_id", "jurisdiction", "day"),
    Index("authority_day_usage_clinician", "clinician_id", "day"),
)

# Notices sent by the expiry watch and the registry: each dedupe key exactly once.
expiry_notices = Table(
    "expiry_notices",
    metadata,
    Column("dedupe_key", Text, primary_key=True),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    Column("clinician_id", UUID(as_uuid=False), nullable=False),
    Column("credential_id", Text, nullable=True),
    Column("milestone", String(40), nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index("expiry_notices_clinician", "clinician_id", "sent_at"),
)

# The audit trail: one hash chain over the whole store (sequence 1, 2, 3, ... without gaps).
audit_records = Table(
    "audit_records",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("source_service", Text, nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("actor_role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("attributes", JSONB, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("sequence >= 1", name="audit_records_sequence_positive"),
    Index("audit_records_subject", "subject_id", "sequence"),
    Index("audit_records_actor", "actor_id", "sequence"),
    Index("audit_records_resource", "resource_type", "resource_id", "sequence"),
    Index("audit_records_occurred", "occurred_at"),
    Index("audit_records_practice", "practice_id", "sequence"),
)

APPEND_ONLY_TABLES: tuple[str, ...] = ("registry_history", "verifications", "audit_records")
