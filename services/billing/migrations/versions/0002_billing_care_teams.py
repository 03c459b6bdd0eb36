"""Care teams from identity's events: which clinicians may read a client's account.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates whatever tables.py defines when it runs, so a fresh database may have this one already.
    if sa.inspect(op.get_bind()).has_table("billing_care_teams"):
        return
    op.create_table(
        "billing_care_teams",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("clinician_id", sa.String(36), primary_key=True),
        sa.Column("practice_id", sa.String(36), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("billing_care_teams")
