"""The directory's tables (SQLAlchemy Core). The migration in migrations/versions creates them with the
indexes the search relies on (full text, trigram, arrays)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

# Drafts and their review state: what the clinician wrote, as JSON (never searched).
profile_drafts = sa.Table(
    "profile_drafts",
    metadata,
    sa.Column("clinician_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("practice_id", postgresql.UUID(as_uuid=False), nullable=False),
    sa.Column("content", postgresql.JSONB(), nullable=False),
    sa.Column("draft_version", sa.Integer(), nullable=False),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The approved, listed profiles: the searchable projection.
profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("clinician_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("practice_id", postgresql.UUID(as_uuid=False), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("display_name", sa.Text(), nullable=False),
    sa.Column("search_name", sa.Text(), nullable=False),
    sa.Column("profession", sa.Text(), nullable=False),
    sa.Column("is_coach", sa.Boolean(), nullable=False),
    sa.Column("specialties", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("approaches", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("populations", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("languages", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("modalities", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("fee_min_minor", sa.BigInteger(), nullable=False),
    sa.Column("fee_max_minor", sa.BigInteger(), nullable=False),
    sa.Column("sliding_scale", sa.Boolean(), nullable=False),
    sa.Column("accepts_self_pay", sa.Boolean(), nullable=False),
    sa.Column("accepts_plans", sa.Boolean(), nullable=False),
    sa.Column("bio", sa.Text(), nullable=False),
    sa.Column("time_zone", sa.Text(), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("approved_by", sa.Text(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("search_document", postgresql.TSVECTOR(), nullable=False),
)

# Where compliance last reported the clinician authorized (AuthorizationChanged, LicenseExpired,
# LicenseSuspended). Shown on profiles; the search asks compliance itself.
coverage = sa.Table(
    "coverage",
    metadata,
    sa.Column("clinician_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("jurisdiction", sa.Text(), primary_key=True),
)

# Care-team links (identity's CareTeamAssigned / CareTeamRemoved): continuity in the ranking.
care_team_links = sa.Table(
    "care_team_links",
    metadata,
    sa.Column("link_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("client_id", postgresql.UUID(as_uuid=False), nullable=False, index=True),
    sa.Column("clinician_id", postgresql.UUID(as_uuid=False), nullable=False),
)

# Clients whose screening flagged risk (scheduling's RiskFlagged): never offered coaching (SAFE-20, LIC-81).
risk_flags = sa.Table(
    "risk_flags",
    metadata,
    sa.Column("client_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
)

# Deactivated accounts (identity's UserDeactivated), kept even before a profile exists.
deactivated_users = sa.Table(
    "deactivated_users",
    metadata,
    sa.Column("user_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=False),
)
