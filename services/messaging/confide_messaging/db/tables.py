"""SQLAlchemy Core tables of the messaging database.

Bodies and amendment reasons are only ever stored sealed (`*_sealed`, AES-256-GCM under the thread's
data key); thread data keys only wrapped by a KEK (db/envelope.py). Projections of identity's facts
(care teams, deactivated users, client profiles) are kept here so access checks need no call.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

# NOTIFY channel of the live stream; payload = the thread id (an id, never content).
THREAD_CHANNEL = "confide_messaging_thread"

threads = Table(
    "threads",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("created_by", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Bumped under the row lock by every message: sequences are gap-free and in commit order.
    Column("last_sequence", BigInteger, nullable=False, server_default="0"),
    Column("last_message_at", DateTime(timezone=True), nullable=True),
    Index("threads_client", "client_id"),
)

thread_keys = Table(
    "thread_keys",
    metadata,
    Column("thread_id", UUID(as_uuid=True), ForeignKey("threads.id"), primary_key=True),
    Column("kek_id", String(64), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rewrapped_at", DateTime(timezone=True), nullable=True),
    Index("thread_keys_kek", "kek_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("thread_id", UUID(as_uuid=True), ForeignKey("threads.id"), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("author_id", UUID(as_uuid=True), nullable=True),
    Column("author_role", String(20), nullable=False),
    Column("body_sealed", LargeBinary, nullable=False),
    Column("attachments", JSONB, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("amends_message_id", UUID(as_uuid=True), ForeignKey("messages.id"), nullable=True),
    Column("reason_sealed", LargeBinary, nullable=True),
    UniqueConstraint("thread_id", "sequence", name="messages_thread_sequence"),
    Index("messages_amends", "amends_message_id"),
)

thread_reads = Table(
    "thread_reads",
    metadata,
    Column("thread_id", UUID(as_uuid=True), ForeignKey("threads.id"), nullable=False),
    Column("participant_id", UUID(as_uuid=True), nullable=False),
    Column("last_read_sequence", BigInteger, nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("thread_id", "participant_id"),
)

risk_flags = Table(
    "risk_flags",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("thread_id", UUID(as_uuid=True), ForeignKey("threads.id"), nullable=False),
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id"), nullable=False, unique=True),
    Column("crisis_message_id", UUID(as_uuid=True), ForeignKey("messages.id"), nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("rule_codes", ARRAY(Text), nullable=False),
    Column("signals", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# --- projections of identity's events ------------------------------------------------------------

care_team_links = Table(
    "care_team_links",
    metadata,
    Column("link_id", Text, primary_key=True),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("clinician_id", UUID(as_uuid=True), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("care_team_links_client", "client_id"),
    Index("care_team_links_clinician", "clinician_id"),
)

deactivated_users = Table(
    "deactivated_users",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("deactivated_at", DateTime(timezone=True), nullable=False),
)

client_profiles = Table(
    "client_profiles",
    metadata,
    Column("client_id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("time_zone", Text, nullable=True),
    Column("home_state", String(2), nullable=True),
    Column("profile_version", Integer, nullable=False),
)

# --- notifications (MSG-03) ------------------------------------------------------------------------

notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("practice_id", Text, nullable=False),
    Column("email_enabled", Boolean, nullable=False),
    Column("sms_enabled", Boolean, nullable=False),
    # Contact addresses are sealed like bodies, under a per-user data key wrapped by the KEK.
    Column("email_sealed", LargeBinary, nullable=True),
    Column("phone_sealed", LargeBinary, nullable=True),
    Column("kek_id", String(64), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("quiet_start", Time, nullable=True),
    Column("quiet_end", Time, nullable=True),
    Column("time_zone", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("recipient_id", UUID(as_uuid=True), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("purpose", String(30), nullable=False),
    Column("channels", ARRAY(Text), nullable=False),
    Column("thread_id", UUID(as_uuid=True), nullable=True),
    Column("appointment_id", Text, nullable=True),
    Column("deliver_after", DateTime(timezone=True), nullable=False),
    # pending | sent | failed
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("notifications_due", "deliver_after", postgresql_where=text("status = 'pending'")),
    # One pending "new message" notice per person and thread: a busy chat does not flood them.
    Index(
        "notifications_one_pending_per_thread",
        "recipient_id",
        "thread_id",
        unique=True,
        postgresql_where=text("status = 'pending' AND purpose = 'new_message'"),
    ),
)

# --- text-therapy reply targets (MSG-04) -------------------------------------------------------------

reply_policies = Table(
    "reply_policies",
    metadata,
    Column("practice_id", Text, primary_key=True),
    Column("target_working_hours", Integer, nullable=False),
    Column("working_days", ARRAY(Integer), nullable=False),
    Column("day_start", Time, nullable=False),
    Column("day_end", Time, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# A client's text-therapy message waiting for a clinician's answer.
reply_obligations = Table(
    "reply_obligations",
    metadata,
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id"), primary_key=True),
    Column("thread_id", UUID(as_uuid=True), ForeignKey("threads.id"), nullable=False),
    Column("practice_id", Text, nullable=False),
    Column("client_id", UUID(as_uuid=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("overdue_at", DateTime(timezone=True), nullable=True),
    Index("reply_obligations_open", "thread_id", postgresql_where=text("answered_at IS NULL")),
    Index(
        "reply_obligations_due",
        "due_at",
        postgresql_where=text("answered_at IS NULL AND overdue_at IS NULL"),
    ),
)
