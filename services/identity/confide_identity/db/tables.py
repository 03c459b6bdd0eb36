"""The identity database: SQLAlchemy Core tables (the Alembic migrations create them).

The database guards what it can:
- e-mail addresses are unique per practice (stored lower-cased);
- rows that pair two people (care-team links, profiles, consent signatures, sessions) reference users
  through ``(practice_id, user_id)``, so a row can never join people of two practices;
- at most one active care-team link per client/clinician pair, at most one active signing key;
- enumerations and ranges are CHECK constraints.

Secrets: password hashes (argon2id), token hashes (SHA-256), TOTP secrets and private signing keys
sealed with AES-256-GCM (`confide_identity.crypto`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ROLES = ("client", "clinician", "practice_admin", "compliance_officer", "platform_operator")
MODALITIES = ("video", "audio_only", "live_chat", "async_messaging", "email", "sms")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


practices = Table(
    "practices",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("idle_timeout_seconds", Integer, nullable=False),
    Column("absolute_lifetime_seconds", Integer, nullable=False),
    Column("client_sign_up_enabled", Boolean, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'", name="slug_format"),
    CheckConstraint("idle_timeout_seconds BETWEEN 300 AND 86400", name="idle_timeout_range"),
    CheckConstraint(
        "absolute_lifetime_seconds BETWEEN idle_timeout_seconds AND 2592000", name="absolute_lifetime_range"
    ),
)

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=True), ForeignKey("practices.id"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("display_name", String(200), nullable=True),
    Column("roles", ARRAY(Text), nullable=False),
    Column("password_hash", Text, nullable=True),
    _ts("email_verified_at", nullable=True),
    _ts("created_at"),
    _ts("deactivated_at", nullable=True),
    Column("deactivated_by", UUID(as_uuid=True), nullable=True),
    UniqueConstraint("practice_id", "email"),
    UniqueConstraint("practice_id", "id"),  # target of the composite "same practice" foreign keys
    CheckConstraint("email = lower(email) AND position('@' in email) > 1", name="email_normalized"),
    CheckConstraint("cardinality(roles) >= 1", name="roles_not_empty"),
    CheckConstraint(f"roles <@ ARRAY[{', '.join(repr(r) for r in ROLES)}]::text[]", name="roles_known"),
)

sign_in_throttles = Table(
    "sign_in_throttles",
    metadata,
    # HMAC of practice id + normalised e-mail (crypto.Sealer.keyed_hash): unknown addresses are
    # throttled exactly like known ones, and the table holds no e-mail addresses.
    Column("identifier_hash", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    _ts("window_started_at", nullable=True),
    _ts("last_failure_at", nullable=True),
    Column("lock_level", Integer, nullable=False),
    _ts("locked_until", nullable=True),
    _ts("updated_at"),
)

one_time_tokens = Table(
    "one_time_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False, index=True),
    Column("purpose", String(32), nullable=False),
    _ts("issued_at"),
    _ts("expires_at"),
    _ts("used_at", nullable=True),
    # IDN-AUTH-02: the argon2id hash of the password a self sign-up chose (set when the token is used).
    Column("password_hash", Text, nullable=True),
    CheckConstraint(_in("purpose", ("email_verification", "password_reset")), name="purpose_known"),
    CheckConstraint("expires_at > issued_at", name="expires_after_issue"),
)

account_mails = Table(
    # IDN-AUTH-03: when self-service e-mails went to an account (no address, no link), for the quota.
    "account_mails",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    _ts("sent_at"),
    Index("ix_account_mails_user_sent", "user_id", "sent_at"),
)

mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False, index=True),
    Column("throttle_key", String(64), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _ts("issued_at"),
    _ts("expires_at"),
    _ts("used_at", nullable=True),
    CheckConstraint("attempts >= 0", name="attempts_non_negative"),
)

totp_credentials = Table(
    "totp_credentials",
    metadata,
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), primary_key=True),
    Column("secret_sealed", LargeBinary, nullable=False),
    _ts("created_at"),
    _ts("confirmed_at", nullable=True),
    Column("last_used_step", BigInteger, nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    _ts("generated_at"),
    _ts("used_at", nullable=True),
)

refresh_token_families = Table(
    "refresh_token_families",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("mfa", Boolean, nullable=False),
    _ts("created_at"),
    _ts("last_used_at"),
    _ts("revoked_at", nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    ForeignKeyConstraint(["practice_id", "user_id"], ["users.practice_id", "users.id"]),
    Index("ix_refresh_token_families_active_user", "user_id", postgresql_where=text("revoked_at IS NULL")),
    CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revocation_complete"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", UUID(as_uuid=True), ForeignKey("refresh_token_families.id"), nullable=False),
    Column("generation", Integer, nullable=False),
    _ts("issued_at"),
    _ts("used_at", nullable=True),
    UniqueConstraint("family_id", "generation"),
    CheckConstraint("generation >= 0", name="generation_non_negative"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("source", String(16), nullable=False),
    _ts("created_at"),
    _ts("activated_at", nullable=True),
    _ts("retired_at", nullable=True),
    CheckConstraint(_in("source", ("generated", "imported")), name="source_known"),
    CheckConstraint("retired_at IS NULL OR activated_at IS NOT NULL", name="retired_after_active"),
    CheckConstraint("octet_length(public_key) = 32", name="ed25519_public_key"),
    # IDN-KEY-01: exactly one key signs at a time.
    Index(
        "uq_signing_keys_one_active",
        text("(true)"),
        unique=True,
        postgresql_where=text("activated_at IS NOT NULL AND retired_at IS NULL"),
    ),
)

client_profiles = Table(
    "client_profiles",
    metadata,
    Column("client_id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=True), nullable=False),
    Column("legal_name", String(200), nullable=False),
    Column("preferred_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=False),
    Column("home_state", String(2), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("emergency_contact_name", String(200), nullable=False),
    Column("emergency_contact_phone", String(16), nullable=False),
    Column("payer_type", String(32), nullable=False),
    Column("version", BigInteger, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    ForeignKeyConstraint(["practice_id", "client_id"], ["users.practice_id", "users.id"]),
    CheckConstraint("home_state ~ '^[A-Z]{2}$'", name="home_state_code"),
    CheckConstraint("emergency_contact_phone ~ '^\\+[1-9][0-9]{7,14}$'", name="phone_e164"),
    CheckConstraint(_in("payer_type", ("self_pay", "insurance", "federal_program")), name="payer_type_known"),
    CheckConstraint("version >= 1", name="version_positive"),
)

consent_documents = Table(
    "consent_documents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=True), ForeignKey("practices.id"), nullable=False),
    Column("version", Integer, nullable=False),
    _ts("effective_at"),
    Column("modalities", ARRAY(Text), nullable=False),
    Column("jurisdictions", ARRAY(Text), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    _ts("published_at"),
    Column("published_by", UUID(as_uuid=True), nullable=True),
    UniqueConstraint("practice_id", "version"),
    UniqueConstraint("practice_id", "id"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint("cardinality(modalities) >= 1", name="modalities_not_empty"),
    CheckConstraint("cardinality(jurisdictions) >= 1", name="jurisdictions_not_empty"),
    CheckConstraint(
        f"modalities <@ ARRAY[{', '.join(repr(m) for m in MODALITIES)}]::text[]", name="modalities_known"
    ),
)

consent_signatures = Table(
    "consent_signatures",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=True), nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("document_id", UUID(as_uuid=True), nullable=False),
    Column("document_version", Integer, nullable=False),
    Column("jurisdiction", String(2), nullable=False),
    Column("signer_role", String(16), nullable=False),
    Column("signed_by", UUID(as_uuid=True), nullable=False),
    Column("method", String(40), nullable=False),
    _ts("signed_at"),
    Column("signer_name", String(200), nullable=True),
    Column("documented_by", UUID(as_uuid=True), nullable=True),
    _ts("revoked_at", nullable=True),
    ForeignKeyConstraint(["practice_id", "client_id"], ["users.practice_id", "users.id"]),
    ForeignKeyConstraint(
        ["practice_id", "document_id"], ["consent_documents.practice_id", "consent_documents.id"]
    ),
    ForeignKeyConstraint(["practice_id", "signed_by"], ["users.practice_id", "users.id"]),
    Index("ix_consent_signatures_client", "client_id", "signed_at"),
    CheckConstraint(_in("signer_role", ("client", "guardian")), name="signer_role_known"),
    CheckConstraint(_in("method", ("click", "typed", "verbal_documented_by_clinician")), name="method_known"),
    CheckConstraint(
        "(method = 'verbal_documented_by_clinician') = (documented_by IS NOT NULL)", name="verbal_documented"
    ),
)

care_team_links = Table(
    "care_team_links",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", UUID(as_uuid=True), nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    _ts("assigned_at"),
    Column("assigned_by", UUID(as_uuid=True), nullable=False),
    _ts("removed_at", nullable=True),
    Column("removed_by", UUID(as_uuid=True), nullable=True),
    Column("removal_reason", String(32), nullable=True),
    ForeignKeyConstraint(["practice_id", "client_id"], ["users.practice_id", "users.id"]),
    ForeignKeyConstraint(["practice_id", "clinician_id"], ["users.practice_id", "users.id"]),
    CheckConstraint("client_id <> clinician_id", name="not_self"),
    CheckConstraint("(removed_at IS NULL) = (removal_reason IS NULL)", name="removal_complete"),
    # IDN-CARE-01: at most one active link per pair.
    Index(
        "uq_care_team_links_active_pair",
        "client_id",
        "clinician_id",
        unique=True,
        postgresql_where=text("removed_at IS NULL"),
    ),
    Index("ix_care_team_links_clinician", "clinician_id", postgresql_where=text("removed_at IS NULL")),
)
