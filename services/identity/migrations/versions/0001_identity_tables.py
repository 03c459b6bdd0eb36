"""Identity tables, plus the chassis outbox/inbox (transactional outbox).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from confide_chassis.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "practices",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("idle_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("absolute_lifetime_seconds", sa.Integer(), nullable=False),
        sa.Column("client_sign_up_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'", name=op.f("ck_practices_slug_format")
        ),
        sa.CheckConstraint(
            "absolute_lifetime_seconds BETWEEN idle_timeout_seconds AND 2592000",
            name=op.f("ck_practices_absolute_lifetime_range"),
        ),
        sa.CheckConstraint(
            "idle_timeout_seconds BETWEEN 300 AND 86400", name=op.f("ck_practices_idle_timeout_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practices")),
        sa.UniqueConstraint("slug", name=op.f("uq_practices_slug")),
    )
    op.create_table(
        "sign_in_throttles",
        sa.Column("identifier_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_level", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("identifier_hash", name=op.f("pk_sign_in_throttles")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("source IN ('generated', 'imported')", name=op.f("ck_signing_keys_source_known")),
        sa.CheckConstraint("octet_length(public_key) = 32", name=op.f("ck_signing_keys_ed25519_public_key")),
        sa.CheckConstraint(
            "retired_at IS NULL OR activated_at IS NOT NULL",
            name=op.f("ck_signing_keys_retired_after_active"),
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_index(
        "uq_signing_keys_one_active",
        "signing_keys",
        [sa.literal_column("(true)")],
        unique=True,
        postgresql_where=sa.text("activated_at IS NOT NULL AND retired_at IS NULL"),
    )
    op.create_table(
        "consent_documents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("practice_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modalities", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("jurisdictions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "modalities <@ ARRAY['video', 'audio_only', 'live_chat', 'async_messaging', 'email', 'sms']"
            "::text[]",
            name=op.f("ck_consent_documents_modalities_known"),
        ),
        sa.CheckConstraint(
            "cardinality(jurisdictions) >= 1", name=op.f("ck_consent_documents_jurisdictions_not_empty")
        ),
        sa.CheckConstraint(
            "cardinality(modalities) >= 1", name=op.f("ck_consent_documents_modalities_not_empty")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_consent_documents_version_positive")),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_consent_documents_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_documents")),
        sa.UniqueConstraint("practice_id", "id", name=op.f("uq_consent_documents_practice_id_id")),
        sa.UniqueConstraint("practice_id", "version", name=op.f("uq_consent_documents_practice_id_version")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("practice_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_by", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "email = lower(email) AND position('@' in email) > 1", name=op.f("ck_users_email_normalized")
        ),
        sa.CheckConstraint(
            "roles <@ ARRAY['client', 'clinician', 'practice_admin', 'compliance_officer', "
            "'platform_operator']::text[]",
            name=op.f("ck_users_roles_known"),
        ),
        sa.CheckConstraint("cardinality(roles) >= 1", name=op.f("ck_users_roles_not_empty")),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_users_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("practice_id", "email", name=op.f("uq_users_practice_id_email")),
        sa.UniqueConstraint("practice_id", "id", name=op.f("uq_users_practice_id_id")),
    )
    op.create_table(
        "care_team_links",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("practice_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("clinician_id", sa.UUID(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.UUID(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.UUID(), nullable=True),
        sa.Column("removal_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "(removed_at IS NULL) = (removal_reason IS NULL)",
            name=op.f("ck_care_team_links_removal_complete"),
        ),
        sa.CheckConstraint("client_id <> clinician_id", name=op.f("ck_care_team_links_not_self")),
        sa.ForeignKeyConstraint(
            ["practice_id", "client_id"],
            ["users.practice_id", "users.id"],
            name=op.f("fk_care_team_links_practice_id_client_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id", "clinician_id"],
            ["users.practice_id", "users.id"],
            name=op.f("fk_care_team_links_practice_id_clinician_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team_links")),
    )
    op.create_index(
        "ix_care_team_links_clinician",
        "care_team_links",
        ["clinician_id"],
        unique=False,
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_index(
        "uq_care_team_links_active_pair",
        "care_team_links",
        ["client_id", "clinician_id"],
        unique=True,
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_table(
        "client_profiles",
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("practice_id", sa.UUID(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("preferred_name", sa.String(length=100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("home_state", sa.String(length=2), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("emergency_contact_name", sa.String(length=200), nullable=False),
        sa.Column("emergency_contact_phone", sa.String(length=16), nullable=False),
        sa.Column("payer_type", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "emergency_contact_phone ~ '^\\+[1-9][0-9]{7,14}$'", name=op.f("ck_client_profiles_phone_e164")
        ),
        sa.CheckConstraint("home_state ~ '^[A-Z]{2}$'", name=op.f("ck_client_profiles_home_state_code")),
        sa.CheckConstraint(
            "payer_type IN ('self_pay', 'insurance', 'federal_program')",
            name=op.f("ck_client_profiles_payer_type_known"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_client_profiles_version_positive")),
        sa.ForeignKeyConstraint(
            ["practice_id", "client_id"],
            ["users.practice_id", "users.id"],
            name=op.f("fk_client_profiles_practice_id_client_id_users"),
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_profiles")),
    )
    op.create_table(
        "consent_signatures",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("practice_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("document_version", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=2), nullable=False),
        sa.Column("signer_role", sa.String(length=16), nullable=False),
        sa.Column("signed_by", sa.UUID(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signer_name", sa.String(length=200), nullable=True),
        sa.Column("documented_by", sa.UUID(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(method = 'verbal_documented_by_clinician') = (documented_by IS NOT NULL)",
            name=op.f("ck_consent_signatures_verbal_documented"),
        ),
        sa.CheckConstraint(
            "method IN ('click', 'typed', 'verbal_documented_by_clinician')",
            name=op.f("ck_consent_signatures_method_known"),
        ),
        sa.CheckConstraint(
            "signer_role IN ('client', 'guardian')", name=op.f("ck_consent_signatures_signer_role_known")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id", "client_id"],
            ["users.practice_id", "users.id"],
            name=op.f("fk_consent_signatures_practice_id_client_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id", "document_id"],
            ["consent_documents.practice_id", "consent_documents.id"],
            name=op.f("fk_consent_signatures_practice_id_document_id_consent_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id", "signed_by"],
            ["users.practice_id", "users.id"],
            name=op.f("fk_consent_signatures_practice_id_signed_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_signatures")),
    )
    op.create_index(
        "ix_consent_signatures_client", "consent_signatures", ["client_id", "signed_at"], unique=False
    )
    op.create_table(
        "mfa_challenges",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("throttle_key", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_mfa_challenges_attempts_non_negative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_mfa_challenges_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_mfa_challenges")),
    )
    op.create_index(op.f("ix_mfa_challenges_user_id"), "mfa_challenges", ["user_id"], unique=False)
    op.create_table(
        "one_time_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('email_verification', 'password_reset')",
            name=op.f("ck_one_time_tokens_purpose_known"),
        ),
        sa.CheckConstraint("expires_at > issued_at", name=op.f("ck_one_time_tokens_expires_after_issue")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_one_time_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_one_time_tokens")),
    )
    op.create_index(op.f("ix_one_time_tokens_user_id"), "one_time_tokens", ["user_id"], unique=False)
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name=op.f("pk_recovery_codes")),
    )
    op.create_table(
        "refresh_token_families",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("practice_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("mfa", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "(revoked_at IS NULL) = (revoked_reason IS NULL)",
            name=op.f("ck_refresh_token_families_revocation_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id", "user_id"],
            ["users.practice_id", "users.id"],
            name=op.f("fk_refresh_token_families_practice_id_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token_families")),
    )
    op.create_index(
        "ix_refresh_token_families_active_user",
        "refresh_token_families",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "totp_credentials",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_totp_credentials_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_credentials")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.UUID(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("generation >= 0", name=op.f("ck_refresh_tokens_generation_non_negative")),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["refresh_token_families.id"],
            name=op.f("fk_refresh_tokens_family_id_refresh_token_families"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("family_id", "generation", name=op.f("uq_refresh_tokens_family_id_generation")),
    )


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    op.drop_table("totp_credentials")
    op.drop_index(
        "ix_refresh_token_families_active_user",
        table_name="refresh_token_families",
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_table("refresh_token_families")
    op.drop_table("recovery_codes")
    op.drop_index(op.f("ix_one_time_tokens_user_id"), table_name="one_time_tokens")
    op.drop_table("one_time_tokens")
    op.drop_index(op.f("ix_mfa_challenges_user_id"), table_name="mfa_challenges")
    op.drop_table("mfa_challenges")
    op.drop_index("ix_consent_signatures_client", table_name="consent_signatures")
    op.drop_table("consent_signatures")
    op.drop_table("client_profiles")
    op.drop_index(
        "uq_care_team_links_active_pair",
        table_name="care_team_links",
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.drop_index(
        "ix_care_team_links_clinician",
        table_name="care_team_links",
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.drop_table("care_team_links")
    op.drop_table("users")
    op.drop_table("consent_documents")
    op.drop_index(
        "uq_signing_keys_one_active",
        table_name="signing_keys",
        postgresql_where=sa.text("activated_at IS NOT NULL AND retired_at IS NULL"),
    )
    op.drop_table("signing_keys")
    op.drop_table("sign_in_throttles")
    op.drop_table("practices")
    drop_messaging_tables()
