"""scheduling tables, the no-double-booking exclusion constraint, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Explicit DDL on purpose: the exclusion constraint (btree_gist) is the database's guarantee that a
clinician is never booked twice for overlapping time (docs/adr/0008-scheduling.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from confide_chassis.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OCCUPYING = "('held', 'booked', 'checked_in', 'in_session', 'flagged_authorization')"

DDL: tuple[str, ...] = (
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    CREATE TABLE clinician_schedules (
        clinician_id uuid PRIMARY KEY,
        practice_id text NOT NULL,
        time_zone text NOT NULL,
        location_state varchar(2) NOT NULL,
        modalities text[] NOT NULL,
        session_type_codes text[] NOT NULL,
        weekly_rules jsonb NOT NULL,
        version bigint NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX clinician_schedules_practice ON clinician_schedules (practice_id)",
    """
    CREATE TABLE availability_exceptions (
        id uuid PRIMARY KEY,
        clinician_id uuid NOT NULL REFERENCES clinician_schedules (clinician_id) ON DELETE CASCADE,
        day date NOT NULL,
        kind text NOT NULL CHECK (kind IN ('extra', 'blocked')),
        start_time time,
        end_time time,
        modalities text[],
        created_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX availability_exceptions_day ON availability_exceptions (clinician_id, day)",
    """
    CREATE TABLE time_off (
        id uuid PRIMARY KEY,
        clinician_id uuid NOT NULL REFERENCES clinician_schedules (clinician_id) ON DELETE CASCADE,
        start_at timestamptz NOT NULL,
        end_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        CONSTRAINT time_off_range CHECK (start_at < end_at)
    )
    """,
    "CREATE INDEX time_off_clinician ON time_off (clinician_id, end_at)",
    """
    CREATE TABLE series (
        id uuid PRIMARY KEY,
        practice_id text NOT NULL,
        clinician_id uuid NOT NULL,
        client_id uuid NOT NULL,
        session_type_code text NOT NULL,
        modality text NOT NULL,
        time_zone text NOT NULL,
        first_date date NOT NULL,
        local_start time NOT NULL,
        duration_minutes integer NOT NULL,
        frequency text NOT NULL,
        count integer,
        until date,
        exceptions jsonb NOT NULL,
        client_state varchar(2) NOT NULL,
        cancelled boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version bigint NOT NULL
    )
    """,
    "CREATE INDEX series_client ON series (client_id)",
    f"""
    CREATE TABLE appointments (
        id uuid PRIMARY KEY,
        practice_id text NOT NULL,
        clinician_id uuid NOT NULL,
        client_id uuid NOT NULL,
        session_type_code text NOT NULL,
        session_kind text NOT NULL,
        duration_minutes integer NOT NULL,
        buffer_minutes integer NOT NULL,
        session_modalities text[] NOT NULL,
        modality text NOT NULL,
        start_at timestamptz NOT NULL,
        end_at timestamptz NOT NULL,
        status text NOT NULL,
        hold_expires_at timestamptz,
        scheduled_at timestamptz,
        series_id uuid REFERENCES series (id),
        occurrence_date date,
        authorization_decision_id text,
        authorized_state varchar(2) NOT NULL,
        clinician_time_zone text NOT NULL,
        clinician_review_required boolean NOT NULL,
        checked_in_at timestamptz,
        check_in_state varchar(2),
        check_in_at_home boolean,
        emergency_address_ref text,
        identity_confirmed boolean,
        check_in_decision_id text,
        started_at timestamptz,
        ended_at timestamptz,
        delivered_modality text,
        actual_minutes integer,
        cancelled_at timestamptz,
        cancel_reason text,
        cancelled_by text,
        video_room text NOT NULL UNIQUE,
        booked_by text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version bigint NOT NULL,
        CONSTRAINT appointments_time CHECK (start_at < end_at),
        CONSTRAINT appointments_status CHECK (status IN (
            'held', 'booked', 'checked_in', 'in_session', 'completed', 'cancelled', 'late_cancelled',
            'no_show', 'flagged_authorization')),
        -- No double booking, ever: two appointments of one clinician that occupy the calendar never
        -- overlap ([start, end), so back-to-back sessions are fine).
        CONSTRAINT appointments_no_double_booking EXCLUDE USING gist (
            clinician_id WITH =,
            tstzrange(start_at, end_at, '[)') WITH &&
        ) WHERE (status IN {OCCUPYING})
    )
    """,
    "CREATE INDEX appointments_client_start ON appointments (client_id, start_at, id)",
    "CREATE INDEX appointments_clinician_start ON appointments (clinician_id, start_at, id)",
    "CREATE INDEX appointments_practice_start ON appointments (practice_id, start_at, id)",
    "CREATE INDEX appointments_booked_start ON appointments (start_at) WHERE status = 'booked'",
    "CREATE INDEX appointments_hold_expiry ON appointments (hold_expires_at) WHERE status = 'held'",
    "CREATE INDEX appointments_flagged_end ON appointments (end_at) WHERE status = 'flagged_authorization'",
    "CREATE INDEX appointments_series ON appointments (series_id, occurrence_date)"
    " WHERE series_id IS NOT NULL",
    """
    CREATE TABLE idempotency_keys (
        caller_id text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        response bytea,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (caller_id, key)
    )
    """,
    "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
    """
    CREATE TABLE client_profiles (
        client_id uuid PRIMARY KEY,
        practice_id text NOT NULL,
        home_state varchar(2),
        time_zone text,
        payer_type text NOT NULL,
        is_minor boolean NOT NULL,
        guardian_consent_required boolean NOT NULL,
        profile_version bigint NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE consents (
        signature_id text PRIMARY KEY,
        client_id uuid NOT NULL,
        practice_id text NOT NULL,
        document_id text NOT NULL,
        document_version integer NOT NULL,
        jurisdiction varchar(2),
        modalities text[] NOT NULL,
        signer_role text NOT NULL,
        document_effective_at timestamptz,
        signed_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX consents_client ON consents (client_id)",
    "CREATE INDEX consents_practice_version ON consents (practice_id, document_version)",
    """
    CREATE TABLE care_team_links (
        link_id text PRIMARY KEY,
        client_id uuid NOT NULL,
        clinician_id uuid NOT NULL,
        practice_id text NOT NULL,
        active boolean NOT NULL,
        changed_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX care_team_links_client ON care_team_links (client_id, clinician_id)",
    """
    CREATE TABLE reminders_sent (
        dedupe_key text PRIMARY KEY,
        appointment_id uuid NOT NULL,
        offset_minutes integer NOT NULL,
        sent_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX reminders_sent_appointment ON reminders_sent (appointment_id)",
    """
    CREATE TABLE waitlist_entries (
        id uuid PRIMARY KEY,
        practice_id text NOT NULL,
        client_id uuid NOT NULL,
        enqueued_at timestamptz NOT NULL,
        client_time_zone text NOT NULL,
        session_type_codes text[] NOT NULL,
        modalities text[] NOT NULL,
        clinician_ids text[] NOT NULL,
        time_windows jsonb NOT NULL,
        status text NOT NULL,
        version bigint NOT NULL
    )
    """,
    "CREATE INDEX waitlist_entries_waiting ON waitlist_entries (practice_id, enqueued_at)"
    " WHERE status = 'waiting'",
    "CREATE INDEX waitlist_entries_client ON waitlist_entries (client_id)",
    """
    CREATE TABLE waitlist_offers (
        id uuid PRIMARY KEY,
        entry_id uuid NOT NULL REFERENCES waitlist_entries (id),
        practice_id text NOT NULL,
        clinician_id uuid NOT NULL,
        start_at timestamptz NOT NULL,
        end_at timestamptz NOT NULL,
        session_type_code text NOT NULL,
        modalities text[] NOT NULL,
        offered_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        status text NOT NULL,
        resolved_at timestamptz,
        appointment_id uuid
    )
    """,
    "CREATE INDEX waitlist_offers_pending ON waitlist_offers (expires_at) WHERE status = 'pending'",
    "CREATE INDEX waitlist_offers_entry ON waitlist_offers (entry_id)",
    """
    CREATE TABLE screenings (
        id uuid PRIMARY KEY,
        practice_id text NOT NULL,
        client_id uuid NOT NULL,
        submitted_by text NOT NULL,
        submitted_role text NOT NULL,
        phq9_answers integer[],
        gad7_answers integer[],
        cssrs_answers jsonb,
        result bytea NOT NULL,
        triage_level text NOT NULL,
        self_booking text NOT NULL,
        clinician_review_required boolean NOT NULL,
        risk_flag_id uuid,
        created_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX screenings_client ON screenings (client_id, created_at DESC, id DESC)",
    """
    CREATE TABLE practice_policies (
        practice_id text PRIMARY KEY,
        late_cancel_window_minutes integer NOT NULL,
        no_show_grace_minutes integer NOT NULL,
        late_cancel_fee_minor bigint,
        late_cancel_fee_currency varchar(3),
        no_show_fee_minor bigint,
        no_show_fee_currency varchar(3),
        updated_at timestamptz NOT NULL
    )
    """,
)

TABLES = (
    "practice_policies",
    "screenings",
    "waitlist_offers",
    "waitlist_entries",
    "reminders_sent",
    "care_team_links",
    "consents",
    "client_profiles",
    "idempotency_keys",
    "appointments",
    "series",
    "time_off",
    "availability_exceptions",
    "clinician_schedules",
)


def upgrade() -> None:
    create_messaging_tables()
    for statement in DDL:
        op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
    drop_messaging_tables()
