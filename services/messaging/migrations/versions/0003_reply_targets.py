"""text-therapy reply policies and the replies owed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from confide_messaging.db import tables as t

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (t.reply_policies, t.reply_obligations)


def upgrade() -> None:
    t.metadata.create_all(bind=op.get_bind(), tables=list(TABLES))


def downgrade() -> None:
    t.metadata.drop_all(bind=op.get_bind(), tables=list(TABLES))
