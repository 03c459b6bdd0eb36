"""A lost database is "retry later" (UNAVAILABLE, no dead letter), never a bug (INTERNAL).

Found by the fault tests (tests/faults): during a PostgreSQL restart, RPCs answered INTERNAL and
consumers dead-lettered good events, then crashed their service.
"""

from __future__ import annotations

import socket

import asyncpg
import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from confide_chassis.auth import StaticJwks, TokenVerifier
from confide_chassis.db import create_engine, database_unavailable
from confide_chassis.grpc.interceptor import ServiceInterceptor


def _wrapped(cause: BaseException, *, invalidated: bool = False) -> DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises: a DBAPIError whose chain holds asyncpg's error."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise DBAPIError(
                "ROLLBACK TO SAVEPOINT sa_savepoint_1", {}, inner, connection_invalidated=invalidated
            ) from inner
    except DBAPIError as outer:
        return outer


@pytest.mark.parametrize(
    "cause",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        ConnectionRefusedError(111, "Connect call failed"),
    ],
    ids=["starting-or-stopping", "fast-shutdown", "closed-mid-operation", "refused"],
)
def test_a_lost_connection_is_unavailable_however_it_is_wrapped(cause: BaseException) -> None:
    assert database_unavailable(cause)
    assert database_unavailable(_wrapped(cause))


def test_an_invalidated_connection_is_unavailable() -> None:
    assert database_unavailable(_wrapped(RuntimeError("socket gone"), invalidated=True))


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
        IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate key")),
        _wrapped(asyncpg.exceptions.PostgresSyntaxError("syntax error")),
        ValueError("a bug"),
    ],
    ids=["unique-violation", "integrity", "syntax", "bug"],
)
def test_data_errors_and_bugs_are_not_unavailable(error: BaseException) -> None:
    assert not database_unavailable(error)


async def test_a_database_nobody_listens_on_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nothing")
        try:
            with pytest.raises(ConnectionRefusedError) as caught:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
    assert database_unavailable(caught.value)


def test_an_rpc_that_lost_its_database_answers_unavailable_not_internal() -> None:
    interceptor = ServiceInterceptor(
        service="test", verifier=TokenVerifier(StaticJwks({"keys": []}), issuer="i", audience="a"), access={}
    )
    lost = _wrapped(
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")
    )
    code, status = interceptor._status_for(lost, "/confide.test.v1.Sample/Echo")
    assert code is grpc.StatusCode.UNAVAILABLE
    assert "terminating" not in status.message  # the server's words stay in the log
    code, _ = interceptor._status_for(ValueError("a bug"), "/confide.test.v1.Sample/Echo")
    assert code is grpc.StatusCode.INTERNAL
