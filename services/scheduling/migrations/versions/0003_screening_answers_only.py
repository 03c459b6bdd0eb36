"""screenings keep their answers, not a copy of the API answer

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

A screening's scores and triage are derived from its stored answers (scoring is deterministic, and
the booking gate already derives them that way), so the serialized API message kept beside them is
dropped: the API format is the api layer's business, not the database's.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE screenings DROP COLUMN result")


def downgrade() -> None:
    op.execute("ALTER TABLE screenings ADD COLUMN result bytea NOT NULL DEFAULT ''::bytea")
