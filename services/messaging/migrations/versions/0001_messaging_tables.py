"""messaging tables, the live-stream NOTIFY trigger, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from confide_chassis.migrations import (
    create_idempotency_table,
    create_messaging_tables,
    drop_idempotency_table,
    drop_messaging_tables,
)
from confide_messaging.db import tables as t

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# NOTIFY is delivered on commit only, so a stream woken by it always finds the row
# (docs/adr/0017-messaging.md).
NOTIFY_DDL: tuple[str, ...] = (
    f"""
    CREATE FUNCTION confide_messaging_notify() RETURNS trigger AS $$
    BEGIN
      PERFORM pg_notify('{t.THREAD_CHANNEL}', NEW.thread_id::text);
      RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER messages_notify AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION confide_messaging_notify()
    """,
    # MSG-05: messages are never edited or deleted, whatever the application does.
    """
    CREATE FUNCTION confide_messaging_immutable() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION 'messages are append-only (MSG-05)';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER messages_append_only BEFORE UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION confide_messaging_immutable()
    """,
)


# The tables of this revision, named: later revisions add theirs to the same metadata.
TABLES = (
    t.threads,
    t.thread_keys,
    t.messages,
    t.thread_reads,
    t.risk_flags,
    t.care_team_links,
    t.deactivated_users,
    t.client_profiles,
)


def upgrade() -> None:
    bind = op.get_bind()
    t.metadata.create_all(bind=bind, tables=list(TABLES))
    for ddl in NOTIFY_DDL:
        bind.execute(text(ddl))
    create_messaging_tables()
    create_idempotency_table()


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(text("DROP TRIGGER IF EXISTS messages_append_only ON messages"))
    bind.execute(text("DROP TRIGGER IF EXISTS messages_notify ON messages"))
    bind.execute(text("DROP FUNCTION IF EXISTS confide_messaging_immutable()"))
    bind.execute(text("DROP FUNCTION IF EXISTS confide_messaging_notify()"))
    t.metadata.drop_all(bind=bind, tables=list(TABLES))
    drop_messaging_tables()
    drop_idempotency_table()
