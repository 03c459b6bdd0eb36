"""Billing's tables (SQLAlchemy Core). Money columns are BIGINT minor units beside a currency."""

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
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

ID = 36


def _id(name: str, *, primary: bool = False, nullable: bool = False) -> Column[str]:
    return Column(name, String(ID), primary_key=primary, nullable=nullable)


clients = Table(
    "billing_clients",
    metadata,
    _id("client_id", primary=True),
    _id("practice_id"),
    Column("payer_type", String(20), nullable=False, server_default="unknown"),
    Column("fee_policy_version", Integer, nullable=True),
    Column("fee_policy_accepted_at", DateTime(timezone=True), nullable=True),
)

# identity's care teams (CareTeamAssigned / CareTeamRemoved): which clinicians may read a client's account.
care_teams = Table(
    "billing_care_teams",
    metadata,
    _id("client_id", primary=True),
    _id("clinician_id", primary=True),
    _id("practice_id"),
)

price_lists = Table(
    "price_lists",
    metadata,
    _id("practice_id", primary=True),
    Column("version", Integer, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("body", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

billing_profiles = Table(
    "billing_profiles",
    metadata,
    _id("practice_id", primary=True),
    Column("body", JSONB, nullable=False),
)

sliding_scale = Table(
    "sliding_scale_determinations",
    metadata,
    _id("determination_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    Column("tier_code", String(20), nullable=False),
    Column("evidence", Text, nullable=False),
    _id("approved_by"),
    Column("determined_on", Date, nullable=False),
    Column("review_on", Date, nullable=False),
)

plans = Table(
    "plans",
    metadata,
    _id("plan_id", primary=True),
    _id("practice_id"),
    Column("name", String(100), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("messaging", Boolean, nullable=False),
    Column("live_sessions_per_period", Integer, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    _id("subscription_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    _id("plan_id"),
    Column("period_start", Date, nullable=False),
    Column("sessions_used", Integer, nullable=False, server_default="0"),
    Column("cancel_at_period_end", Boolean, nullable=False, server_default="false"),
    Column("cancelled", Boolean, nullable=False, server_default="false"),
)

bookings = Table(
    "expected_sessions",
    metadata,
    _id("appointment_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    _id("clinician_id"),
    Column("session_kind", String(30), nullable=False),
    Column("scheduled_minutes", Integer, nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("booked_at", DateTime(timezone=True), nullable=False),
    Column("status", String(12), nullable=False),  # booked | cancelled | completed
)

estimates = Table(
    "good_faith_estimates",
    metadata,
    _id("estimate_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    _id("clinician_id"),
    Column("version", Integer, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("covers_from", Date, nullable=False),
    Column("covers_until", Date, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("due_on", Date, nullable=True),
    Column("superseded", Boolean, nullable=False, server_default="false"),
    UniqueConstraint("client_id", "clinician_id", "version"),
)

charges = Table(
    "charges",
    metadata,
    _id("charge_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    _id("clinician_id", nullable=True),
    _id("appointment_id", nullable=True),
    Column("kind", String(20), nullable=False),
    Column("service_date", Date, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("place_of_service", String(2), nullable=False, server_default=""),
    Column("modifiers", JSONB, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("covered_by_plan", Boolean, nullable=False, server_default="false"),
    Column("diagnosis_codes", JSONB, nullable=False),
    _id("invoice_id", nullable=True),
    Column("exceeds_estimate", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # One session charge (or fee) per appointment, whatever the event redelivery does.
    UniqueConstraint("appointment_id", "kind", name="charges_once_per_appointment"),
)

invoices = Table(
    "invoices",
    metadata,
    _id("invoice_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("paid_minor", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

payments = Table(
    "payments",
    metadata,
    _id("payment_id", primary=True),
    _id("practice_id"),
    _id("client_id"),
    _id("invoice_id"),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("method", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("provider_ref", String(255), nullable=True),
    Column("payment_method_ref", String(255), nullable=True),
    Column("failure_reason", String(64), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("next_retry_at", DateTime(timezone=True), nullable=True),
    Column("first_failed_at", DateTime(timezone=True), nullable=True),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

refunds = Table(
    "refunds",
    metadata,
    _id("refund_id", primary=True),
    _id("payment_id"),
    Column("amount_minor", BigInteger, nullable=False),
    Column("provider_ref", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
