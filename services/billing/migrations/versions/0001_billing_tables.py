"""Billing schema: chassis outbox/inbox and idempotency tables, price lists, profiles, sliding scale,
plans and subscriptions, expected sessions, Good Faith Estimates, charges, invoices, payments, refunds.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from confide_billing.db.tables import metadata
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
    # The first revision creates the tables exactly as `tables.py` defines them today; every later
    # change is its own revision with explicit `op.*` steps.
    metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind())
    drop_idempotency_table()
    drop_messaging_tables()
