"""notification preferences (contacts sealed) and the notification queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from confide_messaging.db import tables as t

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (t.notification_preferences, t.notifications)


def upgrade() -> None:
    t.metadata.create_all(bind=op.get_bind(), tables=list(TABLES))


def downgrade() -> None:
    t.metadata.drop_all(bind=op.get_bind(), tables=list(TABLES))
