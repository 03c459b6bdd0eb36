"""Idempotency keys for every mutating RPC: a retried request has its effect once.

Flow (``run_idempotent``):

1. look the key up (scoped to the calling user); a stored answer for the same request is replayed, a
   different request with the same key is INVALID_ARGUMENT (``domain.idempotency``);
2. otherwise the use case runs; inside its transaction it first *claims* the key (an insert that waits
   for a concurrent transaction holding the same key) and, just before committing, stores its answer
   beside its changes — so the key, the change and its events commit together or not at all;
3. if the claim finds the key taken (a concurrent retry won), the use case's transaction is rolled back
   and the winner's stored answer is replayed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message

from confide_chassis.errors import Conflict
from confide_scheduling.app.context import AppContext, Caller
from confide_scheduling.app.ports import UnitOfWork
from confide_scheduling.domain.idempotency import (
    IdempotencyRecord,
    check_idempotency,
    request_fingerprint,
    validate_idempotency_key,
)

M = TypeVar("M", bound=Message)


class _KeyTaken(Exception):
    """A concurrent request with the same key committed first."""


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    caller: str
    key: str
    fingerprint: str

    async def claim(self, uow: UnitOfWork, deps: AppContext) -> None:
        if not await uow.idempotency.claim(self.caller, self.key, self.fingerprint, deps.now()):
            raise _KeyTaken

    async def finish(self, uow: UnitOfWork, response: Message) -> None:
        """Store the answer and commit the unit of work."""
        await uow.idempotency.save(self.caller, self.key, response.SerializeToString())
        await uow.commit()

    async def abandon(self, uow: UnitOfWork) -> None:
        """Commit the transaction's other changes without remembering an answer (the request failed
        after changing state on purpose, e.g. a refused check-in that flags the appointment)."""
        await uow.idempotency.release(self.caller, self.key)
        await uow.commit()


async def _stored(deps: AppContext, scope: IdempotencyScope, response_type: type[M]) -> M | None:
    async with deps.uow() as uow:
        found = await uow.idempotency.lookup(scope.caller, scope.key)
    if found is None:
        return None
    fingerprint, payload = found
    replay = check_idempotency(
        scope.key, scope.fingerprint, IdempotencyRecord(scope.key, fingerprint, payload)
    )
    if replay is None:  # pragma: no cover - check_idempotency returns the stored payload
        return None
    return response_type.FromString(replay)


async def run_idempotent(
    deps: AppContext,
    caller: Caller,
    method: str,
    key: str,
    request: Mapping[str, object],
    response_type: type[M],
    body: Callable[[IdempotencyScope], Awaitable[M]],
) -> M:
    validate_idempotency_key(key)
    scope = IdempotencyScope(caller.key_scope, key, request_fingerprint(method, request))
    replay = await _stored(deps, scope, response_type)
    if replay is not None:
        return replay
    try:
        return await body(scope)
    except _KeyTaken:
        replay = await _stored(deps, scope, response_type)
        if replay is None:
            raise Conflict("a request with this idempotency key is still in progress; retry") from None
        return replay
