"""Initial compliance schema: messaging tables, credential registry (current view + append-only history),
verifications, stored decisions, day usage, expiry notices, hash-chained audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from confide_chassis.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the trigger DDL as of this revision (later revisions must not change history).
REJECT_CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION compliance_reject_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
APPEND_ONLY_TABLES = ("registry_history", "verifications", "audit_records")


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "audit_records",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_service", sa.Text(), nullable=False),
        sa.Column("practice_id", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=False),
        sa.Column("actor_role", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("sequence >= 1", name="audit_records_sequence_positive"),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("audit_records_actor", "audit_records", ["actor_id", "sequence"], unique=False)
    op.create_index("audit_records_occurred", "audit_records", ["occurred_at"], unique=False)
    op.create_index("audit_records_practice", "audit_records", ["practice_id", "sequence"], unique=False)
    op.create_index(
        "audit_records_resource", "audit_records", ["resource_type", "resource_id", "sequence"], unique=False
    )
    op.create_index("audit_records_subject", "audit_records", ["subject_id", "sequence"], unique=False)
    op.create_table(
        "authority_day_usage",
        sa.Column("authority_id", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=2), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("clinician_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("decision_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("authority_id", "jurisdiction", "day"),
    )
    op.create_index(
        "authority_day_usage_clinician", "authority_day_usage", ["clinician_id", "day"], unique=False
    )
    op.create_table(
        "clinicians",
        sa.Column("clinician_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("practice_jurisdiction", sa.String(length=2), nullable=True),
        sa.Column("is_supervisee", sa.Boolean(), nullable=False),
        sa.Column("primary_profession", sa.String(length=64), nullable=True),
        sa.Column("npi", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("coverage", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("coverage_on", sa.Date(), nullable=True),
        sa.Column("coverage_reference_version", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.CheckConstraint("version >= 1", name="clinicians_version_positive"),
        sa.PrimaryKeyConstraint("clinician_id"),
    )
    op.create_index("clinicians_practice", "clinicians", ["practice_id", "clinician_id"], unique=False)
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("clinician_id", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("authority_kind", sa.String(length=64), nullable=True),
        sa.Column("authority_id", sa.Text(), nullable=True),
        sa.Column("profession", sa.String(length=64), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reference_data_version", sa.Text(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("appointment_id", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("usage_key", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint("allowed = (authority_id IS NOT NULL)", name="decisions_allowed_names_authority"),
        sa.PrimaryKeyConstraint("decision_id"),
    )
    op.create_index(
        "decisions_appointment",
        "decisions",
        ["appointment_id"],
        unique=False,
        postgresql_where=sa.text("appointment_id <> ''"),
    )
    op.create_index(
        "decisions_clinician", "decisions", ["practice_id", "clinician_id", "decided_at"], unique=False
    )
    op.create_table(
        "expiry_notices",
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("clinician_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("credential_id", sa.Text(), nullable=True),
        sa.Column("milestone", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dedupe_key"),
    )
    op.create_index("expiry_notices_clinician", "expiry_notices", ["clinician_id", "sent_at"], unique=False)
    op.create_table(
        "registry_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("clinician_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_type", "record_id", "version", name="registry_history_version"),
    )
    op.create_index("registry_history_clinician", "registry_history", ["clinician_id", "id"], unique=False)
    op.create_table(
        "verifications",
        sa.Column("verification_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("clinician_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_by", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("verification_id"),
    )
    op.create_index("verifications_clinician", "verifications", ["clinician_id", "recorded_at"], unique=False)
    op.create_table(
        "credentials",
        sa.Column("credential_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("clinician_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("practice_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("jurisdiction", sa.String(length=2), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.CheckConstraint("version >= 1", name="credentials_version_positive"),
        sa.ForeignKeyConstraint(
            ["clinician_id"],
            ["clinicians.clinician_id"],
        ),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index("credentials_clinician", "credentials", ["clinician_id", "credential_id"], unique=False)
    op.create_index("credentials_expiry", "credentials", ["expires_on"], unique=False)

    op.execute(REJECT_CHANGE_FUNCTION)
    for table in APPEND_ONLY_TABLES:
        # Append-only: UPDATE, DELETE and TRUNCATE are refused, whoever asks (except a superuser who
        # disables the trigger - which the audit chain then detects).
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION compliance_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION compliance_reject_change()"
        )


def downgrade() -> None:
    for table in (
        "credentials",
        "verifications",
        "registry_history",
        "expiry_notices",
        "decisions",
        "clinicians",
        "authority_day_usage",
        "audit_records",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS compliance_reject_change()")
    drop_messaging_tables()
