"""The metrics contract of the running platform, scraped from every service's /metrics after traffic.

What an on-call engineer relies on (docs/conventions.md, "Metrics"): every service exports the RPC
RED metrics, its outbox backlog and oldest age when it has a database, its consumers' records and
lag when it consumes, the dead-letter counter, and its database pool; every ``confide_`` series
carries ``service`` = the service's name; labels are bounded codes (real gRPC methods of that
service, status names, registry topics), never an id, an e-mail or another request-supplied value.
promtool's metrics lint finds nothing. The expectations are derived from the services the platform
runs (``stack.json``), the topic registry (``protos/topics.yaml``) and each service's gRPC descriptors
(server reflection), so a new service or topic is checked without changing this file.
"""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client.parser import text_string_to_metric_families

from confide_chassis.metrics import CONSUMER_OUTCOMES, DB_POOL_METRICS
from confide_devstack.topics import TopicSpec, load_topics

from .conftest import ROOT, Platform
from .test_journeys import ALEX, PROPAGATION, eventually, sign_in

pytestmark = pytest.mark.integration

RPC_METRICS = ("confide_rpc_requests_total", "confide_rpc_duration_seconds")
OUTBOX_METRICS = ("confide_outbox_pending_events", "confide_outbox_oldest_pending_age_seconds")
CONSUMER_METRICS = ("confide_consumer_records_total", "confide_consumer_lag_records")
DLQ_METRIC = "confide_dlq_records_total"
STATUS_CODES = frozenset(code.name for code in grpc.StatusCode)

# What an identifier or personal data looks like in a label value.
ID_LIKE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|\b[0-9A-HJKMNP-TV-Z]{26}\b"  # ULID
    r"|[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"  # e-mail
    r"|\d{6,}"  # phone numbers, account and card numbers, timestamps
    r"|[0-9a-f]{16,}",  # hashes, tokens
    re.IGNORECASE,
)
# A bounded code: a method path, a status, a topic, an outcome, a jurisdiction, a number.
CODE_LIKE = re.compile(r"[A-Za-z0-9_.:/+-]{1,120}")


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class Exposition:
    """One scrape of a service's /metrics."""

    text: str
    types: dict[str, str] = field(default_factory=dict)  # declared family name -> type
    samples: list[Sample] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Exposition:
        exposition = cls(text)
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                exposition.types[name] = kind
        for family in text_string_to_metric_families(text):
            exposition.samples += [Sample(s.name, s.labels, s.value) for s in family.samples]
        return exposition

    def of(self, name: str) -> list[Sample]:
        """Samples of a metric; a histogram's are its _bucket, _count and _sum."""
        return [
            s
            for s in self.samples
            if s.name == name or s.name.removeprefix(name) in ("_bucket", "_count", "_sum")
        ]

    def declares(self, name: str) -> bool:
        return name in self.types


async def scrape(platform: Platform) -> dict[str, Exposition]:
    async with aiohttp.ClientSession() as session:

        async def one(url: str) -> Exposition:
            async with session.get(url) as reply:
                assert reply.status == 200, url
                assert reply.headers["content-type"].startswith("text/plain"), reply.headers
                return Exposition.parse(await reply.text())

        services = platform.info["services"]
        scraped = await asyncio.gather(*(one(entry["metrics"]) for entry in services.values()))
        return dict(zip(services, scraped, strict=True))


def gateway_name(platform: Platform) -> str:
    """The service whose port is the platform's HTTP origin."""
    port = platform.gateway.rsplit(":", 1)[1]
    (name,) = [n for n, entry in platform.info["services"].items() if entry["grpc"].endswith(f":{port}")]
    return str(name)


def reflected_methods(address: str) -> set[str]:
    """Every method the gRPC server at `address` implements, as ``/package.Service/Method``."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        return {
            f"/{name}/{method.name}"
            for name in database.get_services()
            for method in pool.FindServiceByName(name).methods
        }


async def traffic(platform: Platform) -> None:
    """What a client does first: sign in (identity, through the gateway) and search the directory."""
    alex = await sign_in(platform, "alex@demo-practice.test")

    async def search() -> bool:
        status, _ = await platform.call(
            "confide.directory.v1.DirectoryService/SearchClinicians",
            {
                "clientId": ALEX,
                "clientState": "JURISDICTION_CA",
                "clientTimeZone": "America/Los_Angeles",
                "careKind": "CARE_KIND_THERAPY",
                "modality": "MODALITY_VIDEO",
            },
            alex,
            expect_ok=False,
        )
        return status == 200  # 401 until directory has fetched identity's signing keys

    await eventually(search, "a directory search through the gateway")


@dataclass(frozen=True)
class Expected:
    """What each service must export, from the platform's services and the topic registry."""

    services: tuple[str, ...]
    gateway: str
    with_database: frozenset[str]
    topics: Mapping[str, TopicSpec]
    consumes: Mapping[str, frozenset[str]]  # service -> topics the registry says it reads
    produces: Mapping[str, frozenset[str]]  # service -> topics its outbox may publish to

    @classmethod
    def of(cls, platform: Platform) -> Expected:
        services = tuple(platform.info["services"])
        registry = load_topics(ROOT / "protos" / "topics.yaml")
        consumes = {s: frozenset(t.name for t in registry if s in t.consumers) for s in services}
        produces = {s: frozenset(t.name for t in registry if t.producer in (s, "*")) for s in services}
        return cls(
            services=services,
            gateway=gateway_name(platform),
            with_database=frozenset(n for n, e in platform.info["services"].items() if e.get("database_url")),
            topics={t.name: t for t in registry},
            consumes=consumes,
            produces=produces,
        )

    def consumers(self) -> list[str]:
        # Every service reads identity's user topic through the revocation watcher, without a
        # consumer group and without consumer metrics (ADR 13): only other topics make a consumer.
        users = {t for t in self.topics if t.startswith("confide.identity.users.")}
        return [s for s in self.services if self.consumes[s] - users]


def consumed(exposition: Exposition, metric: str) -> set[tuple[str, str]]:
    """(consumer, topic) pairs that `metric` has series for."""
    return {(s.labels["consumer"], s.labels["topic"]) for s in exposition.of(metric)}


def consumers_settled(exposition: Exposition) -> bool:
    """Some consumer handled records, and each one that did reports its lag (after its batch)."""
    records = consumed(exposition, "confide_consumer_records_total")
    return bool(records) and records <= consumed(exposition, "confide_consumer_lag_records")


@pytest.fixture(scope="module")
async def after_traffic(platform: Platform) -> dict[str, Exposition]:
    """Every service's metrics once a sign-in and a search went through and every consumer has
    handled events (the demo seed publishes to every consumed stream: profiles, care teams,
    authorizations, audit records)."""
    await traffic(platform)
    expected = Expected.of(platform)
    deadline = time.monotonic() + PROPAGATION
    while True:
        scraped = await scrape(platform)
        waiting = [s for s in expected.consumers() if not consumers_settled(scraped[s])]
        if not waiting:
            return scraped
        if time.monotonic() > deadline:
            return scraped  # the consumer assertions say which service is missing what
        await asyncio.sleep(1.0)


def test_promtool_finds_nothing_to_lint_in_any_service(
    platform: Platform, after_traffic: dict[str, Exposition], promtool: str
) -> None:
    for service, exposition in after_traffic.items():
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=exposition.text, capture_output=True, text=True, check=False
        )
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, ""), service


def test_every_service_exports_rpc_red_metrics_for_the_calls_it_served(
    platform: Platform, after_traffic: dict[str, Exposition]
) -> None:
    expected = Expected.of(platform)
    for service, exposition in after_traffic.items():
        for metric in RPC_METRICS:
            assert exposition.of(metric), f"{service} exports no {metric} series"
        requests = exposition.of("confide_rpc_requests_total")
        assert all(s.labels["code"] in STATUS_CODES for s in requests), service
        counted = {s.labels["method"] for s in requests}
        timed = {
            s.labels["method"]
            for s in exposition.of("confide_rpc_duration_seconds")
            if s.name.endswith("_count")
        }
        assert counted == timed, f"{service}: requests and durations are counted for different methods"
        for s in exposition.of("confide_rpc_duration_seconds"):
            if s.name.endswith("_bucket"):
                assert s.labels["le"] == "+Inf" or float(s.labels["le"]) > 0
    # The traffic itself is visible where it went: at the gateway and at the service behind it.
    for service, method in (
        ("identity", "/confide.identity.v1.AuthService/SignIn"),
        ("directory", "/confide.directory.v1.DirectoryService/SearchClinicians"),
    ):
        for where in (expected.gateway, service):
            answered = {
                s.labels["code"]: s.value
                for s in after_traffic[where].of("confide_rpc_requests_total")
                if s.labels["method"] == method
            }
            assert answered.get("OK", 0) >= 1, f"{where} counted {method} as {answered}"


def test_method_labels_are_real_methods_of_the_service(
    platform: Platform, after_traffic: dict[str, Exposition]
) -> None:
    expected = Expected.of(platform)
    implemented = {
        service: reflected_methods(platform.info["services"][service]["grpc"])
        for service in expected.services
        if service != expected.gateway
    }
    routed = set().union(*implemented.values())  # the gateway serves the services' methods
    for service, exposition in after_traffic.items():
        allowed = routed if service == expected.gateway else implemented[service]
        assert allowed, f"{service} reflects no methods"
        used = {s.labels["method"] for s in exposition.samples if "method" in s.labels}
        assert used <= allowed | {"unknown"}, f"{service} labels unknown methods: {sorted(used - allowed)}"


def test_outbox_and_database_pool_metrics_exist_where_there_is_a_database(
    platform: Platform, after_traffic: dict[str, Exposition]
) -> None:
    expected = Expected.of(platform)
    assert expected.with_database, "no service has a database?"
    for service, exposition in after_traffic.items():
        has_db = service in expected.with_database
        for metric in (*OUTBOX_METRICS, *DB_POOL_METRICS):
            present = bool(exposition.of(metric))
            assert present == has_db, f"{service}: {metric} {'missing' if has_db else 'without a database'}"
        if not has_db:
            continue
        for metric in OUTBOX_METRICS:
            (sample,) = exposition.of(metric)
            assert math.isfinite(sample.value), (service, sample)
            assert sample.value >= 0, (service, sample)
        states = {s.labels["state"] for s in exposition.of("confide_db_pool_connections")}
        assert states == {"in_use", "idle"}, service
        (size,) = exposition.of("confide_db_pool_size_connections")
        assert size.value >= 1, service
        published = {s.labels["topic"] for s in exposition.of("confide_outbox_published_events_total")}
        assert published <= expected.produces[service], (
            f"{service} published to topics the registry does not give it: "
            f"{published - expected.produces[service]}"
        )


def test_consumers_report_records_and_lag_and_nothing_was_dead_lettered(
    platform: Platform, after_traffic: dict[str, Exposition]
) -> None:
    expected = Expected.of(platform)
    consumers = expected.consumers()
    assert consumers, "the registry names no consuming service?"
    for service, exposition in after_traffic.items():
        records = exposition.of("confide_consumer_records_total")
        lag = exposition.of("confide_consumer_lag_records")
        if service not in consumers:
            assert not records, f"{service} consumes nothing in the registry but reports consumers"
            assert not lag, f"{service} consumes nothing in the registry but reports consumer lag"
            continue
        assert records, f"{service} consumes {sorted(expected.consumes[service])} but reports no records"
        assert lag, f"{service} handled records but reports no consumer lag"
        assert exposition.declares(DLQ_METRIC), f"{service} does not export {DLQ_METRIC}"
        for sample in records + lag:
            assert sample.labels["topic"] in expected.consumes[service], (service, sample.labels)
        assert {s.labels["outcome"] for s in records} <= set(CONSUMER_OUTCOMES), service
        for sample in lag:
            assert 0 <= int(sample.labels["partition"]) < expected.topics[sample.labels["topic"]].partitions
            assert sample.value >= 0
        # Both report per consumer: a consumer with records has a lag gauge for that topic.
        without_lag = consumed(exposition, "confide_consumer_records_total") - consumed(
            exposition, "confide_consumer_lag_records"
        )
        assert not without_lag, f"{service}: consumers with records but no lag: {without_lag}; {records}"
        # The demo platform's events are all well-formed: none may end in the dead-letter topic.
        dead = [s for s in exposition.of(DLQ_METRIC) if s.value > 0]
        dead += [s for s in records if s.labels["outcome"] == "dead_lettered" and s.value > 0]
        assert not dead, f"{service} dead-lettered events: {dead}"


def test_every_confide_series_names_its_service_and_carries_no_identifier(
    platform: Platform, after_traffic: dict[str, Exposition]
) -> None:
    expected = Expected.of(platform)
    checked = 0
    for service, exposition in after_traffic.items():
        others = [f"confide_{other.replace('-', '_')}_" for other in expected.services if other != service]
        for sample in exposition.samples:
            if not sample.name.startswith("confide_"):
                continue
            checked += 1
            assert sample.labels.get("service") == service, (
                f"{service} exports {sample.name}{dict(sample.labels)}"
            )
            assert not sample.name.startswith(tuple(others)), (
                f"{service} exports another service's {sample.name}"
            )
            for label, value in sample.labels.items():
                assert CODE_LIKE.fullmatch(value), f"{service} {sample.name}: {label}={value!r} is not a code"
                if label == "le":
                    continue
                assert not ID_LIKE.search(value), (
                    f"{service} {sample.name}: {label}={value!r} looks like an id"
                )
        topics = {s.labels["topic"] for s in exposition.samples if "topic" in s.labels}
        assert topics <= set(expected.topics), (
            f"{service}: topics outside the registry {topics - set(expected.topics)}"
        )
    assert checked > 100


@pytest.fixture(scope="module")
def promtool() -> str:
    script = ROOT / "scripts" / "ensure_promtool.sh"
    proc = subprocess.run([str(script)], capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{script} failed:\n{proc.stdout}\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1]).as_posix()
