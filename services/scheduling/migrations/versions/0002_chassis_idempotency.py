"""idempotent RPCs move to the chassis: its rpc_idempotency table replaces idempotency_keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

The chassis interceptor now stores the answers of idempotent RPCs (docs/adr/0009). Stored answers of
the old table are not carried over: they are kept for retries of the last hours only, and a retry
after the switch runs like a new request.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from confide_chassis.migrations import create_idempotency_table, drop_idempotency_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_table()
    op.execute("DROP TABLE IF EXISTS idempotency_keys")


def downgrade() -> None:
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            caller_id text NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            response bytea,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (caller_id, key)
        )
        """
    )
    op.execute("CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)")
    drop_idempotency_table()
