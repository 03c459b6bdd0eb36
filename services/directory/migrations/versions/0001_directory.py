"""Directory schema: messaging and idempotency tables, drafts, listed profiles with their search indexes,
and the projections of other services' events.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from confide_chassis.migrations import (
    create_idempotency_table,
    create_messaging_tables,
    drop_idempotency_table,
    drop_messaging_tables,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    create_idempotency_table()
    # Trigram matching of names and keywords (needs the contrib extension; CloudNativePG images ship it).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE profile_drafts (
            clinician_id uuid PRIMARY KEY,
            practice_id uuid NOT NULL,
            content jsonb NOT NULL,
            draft_version integer NOT NULL CHECK (draft_version > 0),
            status text NOT NULL CHECK (status IN ('pending_review', 'approved')),
            updated_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_profile_drafts_pending ON profile_drafts (practice_id)"
        " WHERE status = 'pending_review'"
    )
    op.execute(
        """
        CREATE TABLE profiles (
            clinician_id uuid PRIMARY KEY,
            practice_id uuid NOT NULL,
            version integer NOT NULL,
            display_name text NOT NULL,
            -- the name folded to lower case without accents, for trigram matching
            search_name text NOT NULL,
            profession text NOT NULL,
            is_coach boolean NOT NULL,
            specialties text[] NOT NULL,
            approaches text[] NOT NULL,
            populations text[] NOT NULL,
            languages text[] NOT NULL,
            modalities text[] NOT NULL,
            fee_min_minor bigint NOT NULL CHECK (fee_min_minor >= 0),
            fee_max_minor bigint NOT NULL CHECK (fee_max_minor >= fee_min_minor),
            sliding_scale boolean NOT NULL,
            accepts_self_pay boolean NOT NULL,
            accepts_plans boolean NOT NULL,
            bio text NOT NULL CHECK (char_length(bio) <= 2000),
            time_zone text NOT NULL,
            approved_at timestamptz NOT NULL,
            approved_by text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            search_document tsvector NOT NULL
        )
        """
    )
    # The search always filters by practice and kind among active profiles; the other filters use the
    # GIN indexes below (docs/adr/0019-directory.md, tests/integration/test_search_plan.py).
    op.execute("CREATE INDEX ix_profiles_practice ON profiles (practice_id, is_coach) WHERE active")
    op.execute("CREATE INDEX ix_profiles_search ON profiles USING gin (search_document)")
    op.execute("CREATE INDEX ix_profiles_name_trgm ON profiles USING gin (search_name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_profiles_specialties ON profiles USING gin (specialties)")
    op.execute("CREATE INDEX ix_profiles_languages ON profiles USING gin (languages)")
    op.execute(
        """
        CREATE TABLE coverage (
            clinician_id uuid NOT NULL,
            jurisdiction text NOT NULL,
            PRIMARY KEY (clinician_id, jurisdiction)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE care_team_links (
            link_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            clinician_id uuid NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX ix_care_team_links_client ON care_team_links (client_id)")
    op.execute("CREATE TABLE risk_flags (client_id uuid PRIMARY KEY, flagged_at timestamptz NOT NULL)")
    op.execute(
        "CREATE TABLE deactivated_users (user_id uuid PRIMARY KEY, deactivated_at timestamptz NOT NULL)"
    )


def downgrade() -> None:
    for table in (
        "deactivated_users",
        "risk_flags",
        "care_team_links",
        "coverage",
        "profiles",
        "profile_drafts",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    drop_idempotency_table()
    drop_messaging_tables()
