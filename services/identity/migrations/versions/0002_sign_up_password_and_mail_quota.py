"""IDN-AUTH-02: a verification token carries the password its sign-up chose; IDN-AUTH-03: when
self-service e-mails went to an account (for the per-account quota).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("one_time_tokens", sa.Column("password_hash", sa.Text(), nullable=True))
    op.create_table(
        "account_mails",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_account_mails_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_mails")),
    )
    op.create_index("ix_account_mails_user_sent", "account_mails", ["user_id", "sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_account_mails_user_sent", table_name="account_mails")
    op.drop_table("account_mails")
    op.drop_column("one_time_tokens", "password_hash")
