"""One repository per aggregate, each on the unit of work's session. Bodies are sealed here, on the
way in, and opened on the way out: the database only ever sees ciphertext (db/envelope.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from confide_chassis.errors import NotFound
from confide_messaging.app.ports import (
    ClientProfile,
    ContactPreferences,
    Notification,
    ReplyObligation,
    RiskFlag,
)
from confide_messaging.db import tables as t
from confide_messaging.db.envelope import KeyRing, WrappedKey, body_aad, open_text, seal_text
from confide_messaging.domain.notifications import Channel, Preferences, Purpose, QuietHours
from confide_messaging.domain.reply_times import ReplyPolicy
from confide_messaging.domain.threads import (
    Attachment,
    AuthorRole,
    CareTeam,
    Message,
    MessageKind,
    ReadReceipt,
    Thread,
)


def _thread(row: Any) -> Thread:
    return Thread(
        id=row.id,
        practice_id=row.practice_id,
        client_id=row.client_id,
        created_at=row.created_at,
        last_sequence=row.last_sequence,
        last_message_at=row.last_message_at,
    )


class SqlThreads:
    def __init__(self, session: AsyncSession, keys: KeyRing) -> None:
        self._session = session
        self._keys = keys

    async def add(self, thread: Thread, *, created_by: UUID) -> None:
        _, wrapped = self._keys.new_data_key(thread.id)
        await self._session.execute(
            insert(t.threads).values(
                id=thread.id,
                practice_id=thread.practice_id,
                client_id=thread.client_id,
                created_by=created_by,
                created_at=thread.created_at,
                last_sequence=0,
            )
        )
        await self._session.execute(
            insert(t.thread_keys).values(
                thread_id=thread.id,
                kek_id=wrapped.kek_id,
                wrapped_key=wrapped.wrapped,
                created_at=thread.created_at,
            )
        )

    async def get(self, thread_id: UUID) -> Thread:
        row = (await self._session.execute(select(t.threads).where(t.threads.c.id == thread_id))).first()
        if row is None:
            raise NotFound("thread not found")
        return _thread(row)

    async def next_sequence(self, thread_id: UUID, now: datetime) -> int:
        # The row lock is held to commit, so a second sender of the same thread waits: sequences
        # are gap-free and become visible in order (what the live stream relies on).
        sequence = (
            await self._session.execute(
                update(t.threads)
                .where(t.threads.c.id == thread_id)
                .values(last_sequence=t.threads.c.last_sequence + 1, last_message_at=now)
                .returning(t.threads.c.last_sequence)
            )
        ).scalar_one()
        return int(sequence)

    async def of_client(self, client_id: UUID, limit: int) -> list[Thread]:
        rows = await self._session.execute(
            select(t.threads)
            .where(t.threads.c.client_id == client_id)
            .order_by(func.coalesce(t.threads.c.last_message_at, t.threads.c.created_at).desc())
            .limit(limit)
        )
        return [_thread(r) for r in rows]

    async def of_clinician(self, clinician_id: UUID, practice_id: str, limit: int) -> list[Thread]:
        links = t.care_team_links
        on_team = (
            select(links.c.link_id)
            .where(
                links.c.client_id == t.threads.c.client_id,
                links.c.clinician_id == clinician_id,
                links.c.active.is_(True),
                links.c.practice_id == practice_id,
            )
            .exists()
        )
        rows = await self._session.execute(
            select(t.threads)
            .where(on_team, t.threads.c.practice_id == practice_id)
            .order_by(func.coalesce(t.threads.c.last_message_at, t.threads.c.created_at).desc())
            .limit(limit)
        )
        return [_thread(r) for r in rows]


class SqlMessages:
    def __init__(self, session: AsyncSession, keys: KeyRing) -> None:
        self._session = session
        self._keys = keys

    async def _data_key(self, thread_id: UUID) -> bytes:
        row = (
            await self._session.execute(
                select(t.thread_keys.c.kek_id, t.thread_keys.c.wrapped_key).where(
                    t.thread_keys.c.thread_id == thread_id
                )
            )
        ).one()
        return self._keys.data_key(thread_id, WrappedKey(row.kek_id, row.wrapped_key))

    async def add(self, message: Message) -> None:
        key = await self._data_key(message.thread_id)
        reason = (
            seal_text(key, message.amendment_reason, body_aad(message.thread_id, message.id, "reason"))
            if message.amendment_reason is not None
            else None
        )
        await self._session.execute(
            insert(t.messages).values(
                id=message.id,
                thread_id=message.thread_id,
                sequence=message.sequence,
                kind=message.kind.value,
                author_id=message.author_id,
                author_role=message.author_role.value,
                body_sealed=seal_text(key, message.body, body_aad(message.thread_id, message.id)),
                attachments=[
                    {
                        "object_key": a.object_key,
                        "sha256": a.sha256,
                        "size_bytes": a.size_bytes,
                        "media_type": a.media_type,
                    }
                    for a in message.attachments
                ],
                sent_at=message.sent_at,
                amends_message_id=message.amends_message_id,
                reason_sealed=reason,
            )
        )

    async def _load(self, rows: list[Any]) -> list[Message]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        amended: dict[UUID, list[UUID]] = {}
        found = await self._session.execute(
            select(t.messages.c.amends_message_id, t.messages.c.id)
            .where(t.messages.c.amends_message_id.in_(ids))
            .order_by(t.messages.c.sequence)
        )
        for original, amendment in found:
            amended.setdefault(original, []).append(amendment)
        keys: dict[UUID, bytes] = {}
        out: list[Message] = []
        for r in rows:
            if r.thread_id not in keys:
                keys[r.thread_id] = await self._data_key(r.thread_id)
            key = keys[r.thread_id]
            out.append(
                Message(
                    id=r.id,
                    thread_id=r.thread_id,
                    sequence=r.sequence,
                    kind=MessageKind(r.kind),
                    author_id=r.author_id,
                    author_role=AuthorRole(r.author_role),
                    body=open_text(key, r.body_sealed, body_aad(r.thread_id, r.id)),
                    sent_at=r.sent_at,
                    attachments=tuple(Attachment(**a) for a in r.attachments),
                    amends_message_id=r.amends_message_id,
                    amendment_reason=(
                        open_text(key, r.reason_sealed, body_aad(r.thread_id, r.id, "reason"))
                        if r.reason_sealed is not None
                        else None
                    ),
                    amended_by=tuple(amended.get(r.id, ())),
                )
            )
        return out

    async def get(self, message_id: UUID) -> Message:
        rows = list(await self._session.execute(select(t.messages).where(t.messages.c.id == message_id)))
        if not rows:
            raise NotFound("message not found")
        return (await self._load(rows))[0]

    async def after(self, thread_id: UUID, after_sequence: int, limit: int) -> list[Message]:
        rows = list(
            await self._session.execute(
                select(t.messages)
                .where(t.messages.c.thread_id == thread_id, t.messages.c.sequence > after_sequence)
                .order_by(t.messages.c.sequence)
                .limit(limit)
            )
        )
        return await self._load(rows)

    async def count_from_others_after(self, thread_id: UUID, reader: UUID, after_sequence: int) -> int:
        count = (
            await self._session.execute(
                select(func.count())
                .select_from(t.messages)
                .where(
                    t.messages.c.thread_id == thread_id,
                    t.messages.c.sequence > after_sequence,
                    or_(t.messages.c.author_id.is_(None), t.messages.c.author_id != reader),
                )
            )
        ).scalar_one()
        return int(count)


class SqlReads:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def receipts(self, thread_id: UUID) -> list[ReadReceipt]:
        rows = await self._session.execute(
            select(t.thread_reads).where(t.thread_reads.c.thread_id == thread_id)
        )
        return [ReadReceipt(r.participant_id, r.last_read_sequence, r.read_at) for r in rows]

    async def last_read(self, thread_id: UUID, participant_id: UUID) -> int:
        value = (
            await self._session.execute(
                select(t.thread_reads.c.last_read_sequence).where(
                    t.thread_reads.c.thread_id == thread_id, t.thread_reads.c.participant_id == participant_id
                )
            )
        ).scalar()
        return int(value or 0)

    async def mark(self, thread_id: UUID, participant_id: UUID, sequence: int, now: datetime) -> ReadReceipt:
        statement = pg_insert(t.thread_reads).values(
            thread_id=thread_id, participant_id=participant_id, last_read_sequence=sequence, read_at=now
        )
        current = t.thread_reads.c
        upsert = statement.on_conflict_do_update(
            index_elements=[current.thread_id, current.participant_id],
            set_={"last_read_sequence": func.greatest(current.last_read_sequence, sequence), "read_at": now},
        ).returning(current.last_read_sequence, current.read_at)
        row = (await self._session.execute(upsert)).one()
        return ReadReceipt(participant_id, int(row.last_read_sequence), row.read_at)


class SqlCareTeams:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def team(self, client_id: UUID) -> CareTeam:
        links, gone = t.care_team_links, t.deactivated_users
        rows = await self._session.execute(
            select(links.c.clinician_id)
            .where(links.c.client_id == client_id, links.c.active.is_(True))
            .where(~select(gone.c.user_id).where(gone.c.user_id == links.c.clinician_id).exists())
        )
        return CareTeam(client_id, frozenset(r.clinician_id for r in rows))

    async def is_deactivated(self, user_id: UUID) -> bool:
        found = await self._session.execute(
            select(t.deactivated_users.c.user_id).where(t.deactivated_users.c.user_id == user_id)
        )
        return found.first() is not None

    async def profile(self, client_id: UUID) -> ClientProfile | None:
        row = (
            await self._session.execute(
                select(t.client_profiles).where(t.client_profiles.c.client_id == client_id)
            )
        ).first()
        if row is None:
            return None
        return ClientProfile(
            row.client_id, row.practice_id, row.time_zone, row.home_state, row.profile_version
        )

    async def set_link(
        self,
        *,
        link_id: str,
        client_id: UUID,
        clinician_id: UUID,
        practice_id: str,
        active: bool,
        changed_at: datetime,
    ) -> None:
        links = t.care_team_links
        statement = pg_insert(links).values(
            link_id=link_id,
            client_id=client_id,
            clinician_id=clinician_id,
            practice_id=practice_id,
            active=active,
            changed_at=changed_at,
        )
        # Events of one client arrive in order (keyed by client_id); the newer fact wins regardless.
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[links.c.link_id],
                set_={"active": active, "changed_at": changed_at},
                where=links.c.changed_at <= changed_at,
            )
        )

    async def deactivate(self, user_id: UUID, practice_id: str, at: datetime) -> None:
        await self._session.execute(
            pg_insert(t.deactivated_users)
            .values(user_id=user_id, practice_id=practice_id, deactivated_at=at)
            .on_conflict_do_nothing()
        )

    async def upsert_profile(self, profile: ClientProfile) -> None:
        profiles = t.client_profiles
        statement = pg_insert(profiles).values(
            client_id=profile.client_id,
            practice_id=profile.practice_id,
            time_zone=profile.time_zone,
            home_state=profile.home_state,
            profile_version=profile.profile_version,
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[profiles.c.client_id],
                set_={
                    "practice_id": profile.practice_id,
                    "time_zone": profile.time_zone,
                    "home_state": profile.home_state,
                    "profile_version": profile.profile_version,
                },
                where=profiles.c.profile_version < profile.profile_version,
            )
        )


class SqlRiskFlags:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, flag: RiskFlag) -> None:
        await self._session.execute(
            insert(t.risk_flags).values(
                id=flag.id,
                thread_id=flag.thread_id,
                message_id=flag.message_id,
                crisis_message_id=flag.crisis_message_id,
                client_id=flag.client_id,
                practice_id=flag.practice_id,
                rule_codes=list(flag.rule_codes),
                signals=list(flag.signals),
                created_at=flag.created_at,
            )
        )

    async def for_message(self, message_id: UUID) -> RiskFlag | None:
        row = (
            await self._session.execute(select(t.risk_flags).where(t.risk_flags.c.message_id == message_id))
        ).first()
        if row is None:
            return None
        return RiskFlag(
            row.id, row.thread_id, row.message_id, row.crisis_message_id, row.client_id, row.practice_id,
            tuple(row.rule_codes), tuple(row.signals), row.created_at,
        )  # fmt: skip


async def rewrap_data_keys(session: AsyncSession, keys: KeyRing, now: datetime, batch: int = 100) -> int:
    """Re-wrap up to `batch` data keys (threads' and contact preferences') not yet under the active
    KEK; returns how many (0 = done). SKIP LOCKED lets several runs go side by side; sealed values
    are not touched."""
    moved = 0
    for table, owner, stamp in (
        (t.thread_keys, t.thread_keys.c.thread_id, "rewrapped_at"),
        (t.notification_preferences, t.notification_preferences.c.user_id, "updated_at"),
    ):
        rows = list(
            await session.execute(
                select(owner.label("owner"), table.c.kek_id, table.c.wrapped_key)
                .where(table.c.kek_id != keys.active_kek_id)
                .limit(batch - moved)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            wrapped = keys.rewrap(row.owner, WrappedKey(row.kek_id, row.wrapped_key))
            await session.execute(
                update(table)
                .where(and_(owner == row.owner, table.c.kek_id == row.kek_id))
                .values({"kek_id": wrapped.kek_id, "wrapped_key": wrapped.wrapped, stamp: now})
            )
        moved += len(rows)
        if moved >= batch:
            break
    return moved


class SqlPreferences:
    def __init__(self, session: AsyncSession, keys: KeyRing) -> None:
        self._session = session
        self._keys = keys

    async def get(self, user_id: UUID) -> ContactPreferences | None:
        row = (
            await self._session.execute(
                select(t.notification_preferences).where(t.notification_preferences.c.user_id == user_id)
            )
        ).first()
        if row is None:
            return None
        key = self._keys.data_key(user_id, WrappedKey(row.kek_id, row.wrapped_key))
        email = (
            open_text(key, row.email_sealed, body_aad(user_id, user_id, "email"))
            if row.email_sealed
            else None
        )
        phone = (
            open_text(key, row.phone_sealed, body_aad(user_id, user_id, "phone"))
            if row.phone_sealed
            else None
        )
        quiet = QuietHours(row.quiet_start, row.quiet_end) if row.quiet_start is not None else None
        return ContactPreferences(
            user_id=user_id,
            practice_id=row.practice_id,
            preferences=Preferences(
                email_enabled=row.email_enabled,
                sms_enabled=row.sms_enabled,
                has_email=email is not None,
                has_phone=phone is not None,
                quiet_hours=quiet,
                time_zone=row.time_zone,
            ),
            email_address=email,
            phone_number=phone,
        )

    async def save(self, contact: ContactPreferences, now: datetime) -> None:
        user_id = contact.user_id
        existing = (
            await self._session.execute(
                select(t.notification_preferences.c.kek_id, t.notification_preferences.c.wrapped_key).where(
                    t.notification_preferences.c.user_id == user_id
                )
            )
        ).first()
        if existing is None:
            key, wrapped = self._keys.new_data_key(user_id)
        else:
            wrapped = WrappedKey(existing.kek_id, existing.wrapped_key)
            key = self._keys.data_key(user_id, wrapped)
        prefs = contact.preferences
        values = {
            "practice_id": contact.practice_id,
            "email_enabled": prefs.email_enabled,
            "sms_enabled": prefs.sms_enabled,
            "email_sealed": seal_text(key, contact.email_address, body_aad(user_id, user_id, "email"))
            if contact.email_address
            else None,
            "phone_sealed": seal_text(key, contact.phone_number, body_aad(user_id, user_id, "phone"))
            if contact.phone_number
            else None,
            "kek_id": wrapped.kek_id,
            "wrapped_key": wrapped.wrapped,
            "quiet_start": prefs.quiet_hours.start if prefs.quiet_hours else None,
            "quiet_end": prefs.quiet_hours.end if prefs.quiet_hours else None,
            "time_zone": prefs.time_zone,
            "updated_at": now,
        }
        statement = pg_insert(t.notification_preferences).values(user_id=user_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[t.notification_preferences.c.user_id], set_=values
            )
        )


def _notification(row: Any) -> Notification:
    return Notification(
        id=row.id,
        recipient_id=row.recipient_id,
        practice_id=row.practice_id,
        purpose=Purpose(row.purpose),
        channels=tuple(Channel(c) for c in row.channels),
        deliver_after=row.deliver_after,
        created_at=row.created_at,
        thread_id=row.thread_id,
        appointment_id=row.appointment_id,
        attempts=row.attempts,
    )


class SqlNotifications:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, notification: Notification) -> bool:
        statement = (
            pg_insert(t.notifications)
            .values(
                id=notification.id,
                recipient_id=notification.recipient_id,
                practice_id=notification.practice_id,
                purpose=notification.purpose.value,
                channels=[c.value for c in notification.channels],
                thread_id=notification.thread_id,
                appointment_id=notification.appointment_id,
                deliver_after=notification.deliver_after,
                status="pending",
                created_at=notification.created_at,
            )
            .on_conflict_do_nothing()
            .returning(t.notifications.c.id)
        )
        return (await self._session.execute(statement)).first() is not None

    async def claim_due(self, now: datetime, limit: int) -> list[Notification]:
        rows = await self._session.execute(
            select(t.notifications)
            .where(t.notifications.c.status == "pending", t.notifications.c.deliver_after <= now)
            .order_by(t.notifications.c.deliver_after)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_notification(r) for r in rows]

    async def mark(self, notification_id: UUID, *, sent: bool, now: datetime, give_up: bool) -> None:
        values: dict[str, Any] = {"attempts": t.notifications.c.attempts + 1}
        if sent:
            values.update(status="sent", sent_at=now)
        elif give_up:
            values.update(status="failed")
        else:  # try again a little later
            values.update(deliver_after=now + timedelta(minutes=1))
        await self._session.execute(
            update(t.notifications).where(t.notifications.c.id == notification_id).values(**values)
        )


class SqlReplies:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def policy(self, practice_id: str) -> ReplyPolicy | None:
        row = (
            await self._session.execute(
                select(t.reply_policies).where(t.reply_policies.c.practice_id == practice_id)
            )
        ).first()
        if row is None:
            return None
        return ReplyPolicy(
            target_working_hours=row.target_working_hours,
            working_days=frozenset(row.working_days),
            day_start=row.day_start,
            day_end=row.day_end,
            time_zone=row.time_zone,
        )

    async def save_policy(self, practice_id: str, policy: ReplyPolicy, now: datetime) -> None:
        values = {
            "target_working_hours": policy.target_working_hours,
            "working_days": sorted(policy.working_days),
            "day_start": policy.day_start,
            "day_end": policy.day_end,
            "time_zone": policy.time_zone,
            "updated_at": now,
        }
        statement = pg_insert(t.reply_policies).values(practice_id=practice_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[t.reply_policies.c.practice_id], set_=values)
        )

    async def owe(self, obligation: ReplyObligation) -> None:
        await self._session.execute(
            insert(t.reply_obligations).values(
                message_id=obligation.message_id,
                thread_id=obligation.thread_id,
                practice_id=obligation.practice_id,
                client_id=obligation.client_id,
                sent_at=obligation.sent_at,
                due_at=obligation.due_at,
            )
        )

    async def answer(self, thread_id: UUID, now: datetime) -> int:
        owed = t.reply_obligations
        result = await self._session.execute(
            update(owed)
            .where(owed.c.thread_id == thread_id, owed.c.answered_at.is_(None))
            .values(answered_at=now)
            .returning(owed.c.message_id)
        )
        return len(result.all())

    async def claim_overdue(self, now: datetime, limit: int) -> list[ReplyObligation]:
        owed = t.reply_obligations
        rows = list(
            await self._session.execute(
                select(owed)
                .where(owed.c.answered_at.is_(None), owed.c.overdue_at.is_(None), owed.c.due_at <= now)
                .order_by(owed.c.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if rows:
            await self._session.execute(
                update(owed).where(owed.c.message_id.in_([r.message_id for r in rows])).values(overdue_at=now)
            )
        return [
            ReplyObligation(r.message_id, r.thread_id, r.practice_id, r.client_id, r.sent_at, r.due_at)
            for r in rows
        ]

    async def open_overdue(self) -> int:
        owed = t.reply_obligations
        count = (
            await self._session.execute(
                select(func.count())
                .select_from(owed)
                .where(owed.c.answered_at.is_(None), owed.c.overdue_at.is_not(None))
            )
        ).scalar_one()
        return int(count)
