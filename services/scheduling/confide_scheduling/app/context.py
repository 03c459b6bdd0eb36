"""What every use case gets (the AppContext, built in wiring): settings, the unit-of-work factory, ports
(compliance, video rooms), catalogue and clock; and the calling user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis import audit
from confide_chassis.auth import Principal
from confide_chassis.clock import utc_now
from confide_chassis.errors import NotFound, PermissionDenied
from confide_chassis.ids import parse_id
from confide_chassis.roles import CLIENT, CLINICIAN, PRACTICE_ADMIN
from confide_scheduling.app.ports import (
    AuthorizationPort,
    Repositories,
    UnitOfWork,
    UnitOfWorkFactory,
    VideoRoomPort,
)
from confide_scheduling.domain.checkin import CheckInPolicy
from confide_scheduling.domain.policy import CancellationPolicy, Money
from confide_scheduling.domain.reminders import ReminderPolicy
from confide_scheduling.reference_data import SessionTypeCatalogue
from confide_scheduling.settings import SchedulingSettings

SERVICE = "scheduling"


@dataclass
class AppContext:
    settings: SchedulingSettings
    uow: UnitOfWorkFactory
    authorization: AuthorizationPort
    video: VideoRoomPort | None
    catalogue: SessionTypeCatalogue
    clock: Callable[[], datetime] = field(default=utc_now)

    def now(self) -> datetime:
        return self.clock()

    @property
    def reminder_policy(self) -> ReminderPolicy:
        return ReminderPolicy(self.settings.reminder_offsets)

    @property
    def check_in_policy(self) -> CheckInPolicy:
        return CheckInPolicy(timedelta(minutes=self.settings.check_in_opens_minutes))

    def default_policy(self) -> CancellationPolicy:
        return CancellationPolicy(
            late_cancel_window=timedelta(minutes=self.settings.late_cancel_window_minutes),
            no_show_grace=timedelta(minutes=self.settings.no_show_grace_minutes),
        )

    async def policy(self, uow: Repositories, practice_id: str) -> CancellationPolicy:
        return await uow.policies.get(practice_id) or self.default_policy()


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user of an RPC and the bearer token forwarded to compliance."""

    principal: Principal
    token: str

    @property
    def user_id(self) -> UUID | None:
        return parse_id(self.principal.subject)

    @property
    def practice_id(self) -> str:
        return self.principal.practice_id

    def has(self, role: str) -> bool:
        return role in self.principal.roles

    def _staff_mfa(self) -> None:
        if not self.principal.mfa:
            raise PermissionDenied("clinicians and admins need multi-factor authentication")

    def is_user(self, user_id: UUID) -> bool:
        return self.user_id is not None and self.user_id == user_id

    def role_for_appointment(
        self,
        practice_id: str,
        client_id: UUID,
        clinician_id: UUID,
        *,
        client: bool = True,
        clinician: bool = True,
        admin: bool = True,
        resource: str = "appointment",
    ) -> str:
        """The role the caller acts in on a client's appointment (or series, offer ...), or an error:
        NotFound for strangers (no existence leak), PermissionDenied for participants who may not do it."""
        if practice_id != self.practice_id:
            raise NotFound(f"no such {resource}")
        participant = False
        if self.is_user(client_id) and self.has(CLIENT):
            participant = True
            if client:
                return CLIENT
        if self.is_user(clinician_id) and self.has(CLINICIAN):
            participant = True
            if clinician:
                self._staff_mfa()
                return CLINICIAN
        if self.has(PRACTICE_ADMIN):
            participant = True
            if admin:
                self._staff_mfa()
                return PRACTICE_ADMIN
        if participant:
            raise PermissionDenied(f"the caller's role may not do this to the {resource}")
        raise NotFound(f"no such {resource}")

    async def role_for_client(
        self,
        uow: Repositories,
        client_id: UUID,
        profile_practice: str | None,
        *,
        clinician: bool = True,
        admin: bool = True,
    ) -> str:
        """May the caller act for this client? The client themself; a clinician of the client's care team;
        an admin of the client's practice."""
        if profile_practice is not None and profile_practice != self.practice_id:
            raise NotFound("no such client")
        if self.is_user(client_id) and self.has(CLIENT):
            return CLIENT
        if admin and self.has(PRACTICE_ADMIN):
            self._staff_mfa()
            return PRACTICE_ADMIN
        if clinician and self.has(CLINICIAN) and self.user_id is not None:
            self._staff_mfa()
            if await uow.clients.on_care_team(self.user_id, client_id, self.practice_id):
                return CLINICIAN
            raise PermissionDenied("the client is not on the clinician's care team")
        raise PermissionDenied("the caller may not act for this client")

    def role_for_clinician(self, clinician_id: UUID, *, practice_id: str | None = None) -> str:
        """Schedules: the clinician themself or an admin of the practice."""
        if practice_id is not None and practice_id != self.practice_id:
            raise NotFound("no such clinician schedule")
        if self.is_user(clinician_id) and self.has(CLINICIAN):
            self._staff_mfa()
            return CLINICIAN
        if self.has(PRACTICE_ADMIN):
            self._staff_mfa()
            return PRACTICE_ADMIN
        raise PermissionDenied("only the clinician or a practice admin may do this")


def audit_record(
    uow: UnitOfWork,
    *,
    action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: str,
    subject: UUID | str,
    outcome: audit_pb2.AuditOutcome.ValueType = audit.SUCCESS,
    purpose: audit_pb2.AccessPurpose.ValueType = audit.TREATMENT,
    rule_ids: tuple[str, ...] = (),
    system: bool = False,
    now: datetime | None = None,
) -> None:
    """Every read or change of PHI leaves an audit event, committed with the change."""
    uow.publish(
        audit.audit_event(
            service=SERVICE,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            subject_person_id=str(subject),
            purpose=purpose,
            outcome=outcome,
            service_actor=SERVICE if system else None,
            rule_ids=rule_ids,
            occurred_at=now,
        )
    )


def money_or_none(minor: int, currency: str) -> Money | None:
    return Money(minor, currency) if currency else None
