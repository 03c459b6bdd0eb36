"""What the gateway counts for each public RPC: the availability SLO reads these codes."""

from __future__ import annotations

import asyncio

import pytest
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from prometheus_client import REGISTRY

from confide_gateway.app import recorded

PATH = "/confide.test.v1.Probe/Call"


def count(code: str) -> float:
    value = REGISTRY.get_sample_value(
        "confide_rpc_requests_total", {"service": "gateway", "method": PATH, "code": code}
    )
    return value or 0.0


def test_a_bug_in_the_gateway_is_counted_as_internal_not_ok() -> None:
    before_ok, before_internal = count("OK"), count("INTERNAL")
    with pytest.raises(ValueError, match="decoding"), recorded(PATH):
        raise ValueError("a decoding bug")
    assert count("INTERNAL") == before_internal + 1
    assert count("OK") == before_ok


def test_connect_errors_keep_their_code_and_success_is_ok() -> None:
    before_unavailable, before_ok = count("UNAVAILABLE"), count("OK")
    with pytest.raises(ConnectError), recorded(PATH):
        raise ConnectError(Code.UNAVAILABLE, "upstream down")
    with recorded(PATH):
        pass
    assert count("UNAVAILABLE") == before_unavailable + 1
    assert count("OK") == before_ok + 1


def test_a_client_that_goes_away_is_cancelled_spelt_as_grpc_spells_it() -> None:
    before = count("CANCELLED")
    with pytest.raises(asyncio.CancelledError), recorded(PATH):
        raise asyncio.CancelledError
    with pytest.raises(ConnectError), recorded(PATH):
        raise ConnectError(Code.CANCELED, "client went away")
    assert count("CANCELLED") == before + 2
    assert count("CANCELED") == 0
