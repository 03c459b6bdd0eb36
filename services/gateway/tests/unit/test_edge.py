"""The gateway's edge rules: request ids, CORS, deadlines, per-client rate limits, routes from protos."""

from __future__ import annotations

from confide_gateway import edge
from confide_gateway.routes import gateway_routes

ORIGINS = frozenset({"https://app.confide.example"})


def test_a_well_formed_request_id_is_kept_anything_else_replaced() -> None:
    assert edge.request_id("req-12345678") == "req-12345678"
    for bad in (None, "", "short", "x" * 65, "has space in it", "<script>alert(1)</script>"):
        fresh = edge.request_id(bad)
        assert fresh != bad
        assert len(fresh) == 32


def test_cors_answers_only_listed_origins() -> None:
    assert (b"access-control-allow-origin", b"https://app.confide.example") in edge.cors_headers(
        "https://app.confide.example", ORIGINS
    )
    assert edge.cors_headers("https://evil.example", ORIGINS) == []
    assert edge.cors_headers(None, ORIGINS) == []
    assert edge.preflight_headers("https://evil.example", ORIGINS) is None
    allowed = dict(edge.preflight_headers("https://app.confide.example", ORIGINS) or [])
    assert b"authorization" in allowed[b"access-control-allow-headers"]


def test_deadlines_default_and_cap() -> None:
    assert edge.deadline_seconds(None, 10, 60) == 10
    assert edge.deadline_seconds(2500, 10, 60) == 2.5
    assert edge.deadline_seconds(10**9, 10, 60) == 60


def test_rate_limit_is_per_client_and_refills() -> None:
    limiter = edge.RateLimiter(rate_per_second=2, burst=3)
    assert [limiter.admit("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.admit("b", 0.0)  # another client has its own bucket
    assert limiter.admit("a", 0.5)  # one token back after half a second
    assert not limiter.admit("a", 0.5)


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = edge.RateLimiter(rate_per_second=1, burst=1, max_clients=100)
    for n in range(1000):
        limiter.admit(f"client-{n}", 0.0)
    assert len(limiter._buckets) == 100


def test_routes_come_from_the_proto_declarations() -> None:
    routes = gateway_routes({"devtest"})
    assert set(routes) == {
        "/confide.devtest.v1.SampleService/Echo",
        "/confide.devtest.v1.SampleService/Fail",
        "/confide.devtest.v1.SampleService/Count",
    }
    assert routes["/confide.devtest.v1.SampleService/Count"].server_streaming
    assert routes["/confide.devtest.v1.SampleService/Fail"].access.public
    # An RPC without `gateway: true` (RecordService) is never served; neither is an unconfigured area.
    assert gateway_routes(set()) == {}
