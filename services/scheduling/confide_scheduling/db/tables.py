"""SQLAlchemy Core tables of the scheduling database.

The schema itself is created by the Alembic revisions in ``services/scheduling/migrations`` (explicit
DDL, including what SQLAlchemy cannot express well: the exclusion constraint that makes double booking
impossible). These Table objects mirror it for queries; an integration test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Time,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

# Statuses that keep the clinician's time reserved; the exclusion constraint's WHERE clause.
OCCUPYING_STATUSES = ("held", "booked", "checked_in", "in_session", "flagged_authorization")
EXCLUSION_CONSTRAINT = "appointments_no_double_booking"

clinician_schedules = Table(
    "clinician_schedules",
    metadata,
    Column("clinician_id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("location_state", String(2), nullable=False),
    Column("modalities", ARRAY(Text), nullable=False),
    Column("session_type_codes", ARRAY(Text), nullable=False),
    Column("weekly_rules", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

availability_exceptions = Table(
    "availability_exceptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("day", Date, nullable=False),
    Column("kind", Text, nullable=False),
    Column("start_time", Time, nullable=True),
    Column("end_time", Time, nullable=True),
    Column("modalities", ARRAY(Text), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

time_off = Table(
    "time_off",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

series = Table(
    "series",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("session_type_code", Text, nullable=False),
    Column("modality", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("first_date", Date, nullable=False),
    Column("local_start", Time, nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("frequency", Text, nullable=False),
    Column("count", Integer, nullable=True),
    Column("until", Date, nullable=True),
    Column("exceptions", JSONB, nullable=False),
    Column("client_state", String(2), nullable=False),
    Column("cancelled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
)

appointments = Table(
    "appointments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("session_type_code", Text, nullable=False),
    Column("session_kind", Text, nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("buffer_minutes", Integer, nullable=False),
    Column("session_modalities", ARRAY(Text), nullable=False),
    Column("modality", Text, nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("hold_expires_at", DateTime(timezone=True), nullable=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=True),
    Column("series_id", UUID(as_uuid=True), nullable=True),
    Column("occurrence_date", Date, nullable=True),
    Column("authorization_decision_id", Text, nullable=True),
    Column("authorized_state", String(2), nullable=False),
    Column("clinician_time_zone", Text, nullable=False),
    Column("clinician_review_required", Boolean, nullable=False),
    Column("checked_in_at", DateTime(timezone=True), nullable=True),
    Column("check_in_state", String(2), nullable=True),
    Column("check_in_at_home", Boolean, nullable=True),
    Column("emergency_address_ref", Text, nullable=True),
    Column("identity_confirmed", Boolean, nullable=True),
    Column("check_in_decision_id", Text, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("delivered_modality", Text, nullable=True),
    Column("actual_minutes", Integer, nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("cancelled_by", Text, nullable=True),
    Column("video_room", Text, nullable=False),
    Column("booked_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
)

client_profiles = Table(
    "client_profiles",
    metadata,
    Column("client_id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("home_state", String(2), nullable=True),
    Column("time_zone", Text, nullable=True),
    Column("payer_type", Text, nullable=False),
    Column("is_minor", Boolean, nullable=False),
    Column("guardian_consent_required", Boolean, nullable=False),
    Column("profile_version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("signature_id", Text, primary_key=True),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("document_id", Text, nullable=False),
    Column("document_version", Integer, nullable=False),
    Column("jurisdiction", String(2), nullable=True),
    Column("modalities", ARRAY(Text), nullable=False),
    Column("signer_role", Text, nullable=False),
    Column("document_effective_at", DateTime(timezone=True), nullable=True),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

care_team_links = Table(
    "care_team_links",
    metadata,
    Column("link_id", Text, primary_key=True),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

reminders_sent = Table(
    "reminders_sent",
    metadata,
    Column("dedupe_key", Text, primary_key=True),
    Column("appointment_id", UUID(as_uuid=True), nullable=False),
    Column("offset_minutes", Integer, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("enqueued_at", DateTime(timezone=True), nullable=False),
    Column("client_time_zone", Text, nullable=False),
    Column("session_type_codes", ARRAY(Text), nullable=False),
    Column("modalities", ARRAY(Text), nullable=False),
    Column("clinician_ids", ARRAY(Text), nullable=False),
    Column("time_windows", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
)

waitlist_offers = Table(
    "waitlist_offers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("entry_id", UUID(as_uuid=True), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("session_type_code", Text, nullable=False),
    Column("modalities", ARRAY(Text), nullable=False),
    Column("offered_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("appointment_id", UUID(as_uuid=True), nullable=True),
)

screenings = Table(
    "screenings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("submitted_by", Text, nullable=False),
    Column("submitted_role", Text, nullable=False),
    Column("phq9_answers", ARRAY(Integer), nullable=True),
    Column("gad7_answers", ARRAY(Integer), nullable=True),
    Column("cssrs_answers", JSONB, nullable=True),
    Column("triage_level", Text, nullable=False),
    Column("self_booking", Text, nullable=False),
    Column("clinician_review_required", Boolean, nullable=False),
    Column("risk_flag_id", UUID(as_uuid=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

practice_policies = Table(
    "practice_policies",
    metadata,
    Column("practice_id", Text, primary_key=True),
    Column("late_cancel_window_minutes", Integer, nullable=False),
    Column("no_show_grace_minutes", Integer, nullable=False),
    Column("late_cancel_fee_minor", BigInteger, nullable=True),
    Column("late_cancel_fee_currency", String(3), nullable=True),
    Column("no_show_fee_minor", BigInteger, nullable=True),
    Column("no_show_fee_currency", String(3), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
