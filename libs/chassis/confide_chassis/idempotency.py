"""Idempotent RPCs, once for every service: a retried request has its effect once.

An RPC is idempotent when its request message has a `string idempotency_key` field (the proto
declares it; the key is then required). For such a call the interceptor:

1. opens one database transaction for the whole call (the *ambient* transaction) and claims
   (caller, method, key) in it with an insert. A concurrent retry's insert waits on the unique key
   until the first call's transaction ends, then sees the row;
2. runs the handler. Every `confide_chassis.db.UnitOfWork` the use cases open during the call joins
   the ambient transaction as a savepoint, so their state changes, their outbox events and the
   stored response commit together or not at all;
3. stores the serialized response beside the changes and commits.

A retry with the same key and the same request (fingerprint) gets the stored response and changes
nothing; the same key with a different request is INVALID_ARGUMENT on `idempotency_key`. When the
handler fails, the transaction rolls back, unless a unit of work committed on purpose before the
error (e.g. a refused check-in that flags the appointment): then that state is kept and the key
is released, so a retry runs again. Keys are scoped to the calling user and kept for
`IDEMPOTENCY_RETENTION_HOURS`.

A stored response is a copy of what the RPC answered. A service that keeps some of that data
encrypted at rest (messaging's bodies, MSG-01) gives the interceptor a `ResponseSealer`, so the copy
is encrypted too and the database never holds the plaintext beside the ciphertext.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from google.protobuf.message import Message
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis.errors import Conflict, InvalidArgument

KEY_FIELD = "idempotency_key"
_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

idempotency_metadata = MetaData()

idempotency_table = Table(
    "rpc_idempotency",
    idempotency_metadata,
    Column("caller", String(200), nullable=False),
    Column("method", String(300), nullable=False),
    Column("key", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("response", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("caller", "method", "key"),
)


class ResponseSealer(Protocol):
    """Encrypts the stored answers of a service's idempotent RPCs. `row` names the stored row
    (caller, method and key), so a sealed answer opens only where it was stored."""

    def seal(self, row: bytes, response: bytes) -> bytes: ...

    def open(self, row: bytes, sealed: bytes) -> bytes: ...


def _row(caller: str, method: str, key: str) -> bytes:
    return "\0".join((caller, method, key)).encode()


@dataclass(slots=True)
class AmbientTransaction:
    """The transaction an idempotent call runs in; units of work join it as savepoints."""

    session: AsyncSession
    committed_work: bool = False


_ambient: contextvars.ContextVar[AmbientTransaction | None] = contextvars.ContextVar(
    "confide_ambient_transaction", default=None
)


def ambient_transaction() -> AmbientTransaction | None:
    return _ambient.get()


@contextlib.contextmanager
def joined_transaction(session: AsyncSession) -> Iterator[AmbientTransaction]:
    """Let units of work opened inside join `session`'s transaction as savepoints (event handlers
    run in the consumer's transaction, beside the inbox row)."""
    ambient = AmbientTransaction(session)
    token = _ambient.set(ambient)
    try:
        yield ambient
    finally:
        _ambient.reset(token)


def is_idempotent(request: Message) -> bool:
    field = request.DESCRIPTOR.fields_by_name.get(KEY_FIELD)
    return field is not None and field.type == field.TYPE_STRING and not field.is_repeated


def fingerprint(method: str, request: Message) -> str:
    """The request's identity without its key: same key + same fingerprint = the same request."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField(KEY_FIELD)
    digest = hashlib.sha256(method.encode())
    digest.update(b"\0")
    digest.update(copy.SerializeToString(deterministic=True))
    return digest.hexdigest()


def validated_key(request: Message) -> str:
    key: str = getattr(request, KEY_FIELD)
    if not _KEY.match(key):
        raise InvalidArgument.field(
            KEY_FIELD, "required: 8-128 characters of letters, digits, . _ : - (a UUID fits)"
        )
    return key


class _KeyTaken(Exception):
    def __init__(self, stored_fingerprint: str, response: bytes | None) -> None:
        self.stored_fingerprint = stored_fingerprint
        self.response = response


async def run_idempotent(
    sessions: async_sessionmaker[AsyncSession],
    *,
    caller: str,
    method: str,
    request: Message,
    handler: Callable[[], Awaitable[Any]],
    serialize: Callable[[Any], bytes],
    sealer: ResponseSealer | None = None,
) -> Any:
    """Run `handler` once per (caller, method, key); returns its response, or the stored response
    (bytes, already serialized) when this is a retry."""
    key = validated_key(request)
    print_ = fingerprint(method, request)
    row = _row(caller, method, key)

    def store(response: Any) -> bytes:
        data = serialize(response)
        return sealer.seal(row, data) if sealer is not None else data

    try:
        return await _first_run(sessions, caller, method, key, print_, handler, store)
    except _KeyTaken as taken:
        if taken.stored_fingerprint != print_:
            raise InvalidArgument.field(
                KEY_FIELD, "this key was used for a different request; use a new key"
            ) from None
        if taken.response is None:  # only possible while the first call's transaction is open
            raise Conflict("a request with this idempotency key is still in progress; retry") from None
        return sealer.open(row, taken.response) if sealer is not None else taken.response


async def _first_run(
    sessions: async_sessionmaker[AsyncSession],
    caller: str,
    method: str,
    key: str,
    print_: str,
    handler: Callable[[], Awaitable[Any]],
    serialize: Callable[[Any], bytes],
) -> Any:
    t = idempotency_table
    where = (t.c.caller == caller) & (t.c.method == method) & (t.c.key == key)
    async with sessions() as session:
        await session.begin()
        claimed = await session.execute(
            pg_insert(t)
            .values(caller=caller, method=method, key=key, fingerprint=print_)
            .on_conflict_do_nothing()
            .returning(t.c.key)
        )
        if claimed.first() is None:
            row = (await session.execute(select(t.c.fingerprint, t.c.response).where(where))).first()
            await session.rollback()
            if row is None:  # released between our insert and select: treat as in progress
                raise _KeyTaken(print_, None)
            raise _KeyTaken(row.fingerprint, row.response)
        ambient = AmbientTransaction(session)
        token = _ambient.set(ambient)
        try:
            response = await handler()
        except BaseException:
            if ambient.committed_work and session.in_transaction():
                # State committed on purpose before the error stays; the key is free for a retry.
                await session.execute(delete(t).where(where))
                await session.commit()
            else:
                await session.rollback()
            raise
        finally:
            _ambient.reset(token)
        await session.execute(update(t).where(where).values(response=serialize(response)))
        await session.commit()
        return response


async def prune(sessions: async_sessionmaker[AsyncSession], older_than: timedelta) -> int:
    async with sessions() as session, session.begin():
        result = await session.execute(
            text("DELETE FROM rpc_idempotency WHERE created_at < now() - make_interval(secs => :s)"),
            {"s": older_than.total_seconds()},
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
