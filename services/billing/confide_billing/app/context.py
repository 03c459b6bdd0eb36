"""What every billing use case runs on, built once in wiring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from confide_billing.app.ports import PaymentProvider, SuperbillRenderer, UnitOfWorkFactory
from confide_chassis.auth import Principal
from confide_chassis.clock import utc_now
from confide_chassis.errors import PermissionDenied
from confide_chassis.roles import CLIENT, CLINICIAN, PRACTICE_ADMIN


@dataclass(frozen=True, slots=True)
class AppContext:
    uow: UnitOfWorkFactory
    payments: PaymentProvider | None
    superbills: SuperbillRenderer
    clock: Callable[[], datetime] = utc_now

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        return self.now().date()


def client_scope(actor: Principal, client_id: str) -> str:
    """Whose account the caller may read: clients only their own; staff of the practice any client
    (the practice check is done by the repositories' practice filter)."""
    if not client_id or client_id == actor.subject:
        return actor.subject
    if actor.has_any_role((PRACTICE_ADMIN, CLINICIAN)):
        return client_id
    raise PermissionDenied("clients may only see their own account")


def is_client(actor: Principal) -> bool:
    return CLIENT in actor.roles
