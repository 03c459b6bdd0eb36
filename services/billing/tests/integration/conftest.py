"""Billing over real gRPC, PostgreSQL and Kafka, with Stripe's own mock server (stripe-mock, a Go
module built by `go install`) in front of the Stripe adapter.

Identity and scheduling are not run here: their facts reach billing as events on Kafka, produced the
way their outbox relays produce them. The journey tests in tests/ run the real services together.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide.billing.v1 import billing_pb2 as pb
from confide.billing.v1 import billing_pb2_grpc as pb_grpc
from confide.common.v1 import money_pb2
from confide.identity.v1 import events_pb2 as identity_events
from confide.identity.v1 import identity_pb2
from confide_billing.adapters.stripe_payments import StripePayments
from confide_billing.testing import start_billing
from confide_chassis import db
from confide_chassis.outbox import new_producer
from confide_chassis.service import RunningService
from confide_chassis.testkit import TokenFactory, publish
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name

TOKENS = TokenFactory()
STRIPE_MOCK_MODULE = "github.com/stripe/stripe-mock@v0.203.0"
ROOT = Path(__file__).resolve().parents[4]


def new_id() -> str:
    return str(uuid.uuid4())


def usd(cents: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=cents, currency="USD")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stripe_mock_binary() -> str:
    """stripe-mock from PATH, or built once into .cache/bin with the Go toolchain."""
    found = shutil.which("stripe-mock")
    if found:
        return found
    target = ROOT / ".cache" / "bin" / "stripe-mock"
    if not target.exists():
        env = {**os.environ, "GOBIN": str(target.parent)}
        subprocess.run(["go", "install", STRIPE_MOCK_MODULE], check=True, env=env, timeout=300)
    return str(target)


@dataclass
class StripeRecorder:
    """A loopback proxy in front of stripe-mock that remembers what the adapter sent."""

    upstream: str
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def count(self, path: str) -> int:
        return sum(1 for _, p, _ in self.requests if p == path)


def _proxy_handler(recorder: StripeRecorder) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._forward()

        def do_GET(self) -> None:
            self._forward()

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            recorder.requests.append((self.command, self.path, self.headers.get("Idempotency-Key")))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(  # noqa: S310 - loopback only
                recorder.upstream + self.path, data=body, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback only
                    status, payload, reply_headers = reply.status, reply.read(), reply.headers
            except urllib.error.HTTPError as error:
                status, payload, reply_headers = error.code, error.read(), error.headers
            self.send_response(status)
            self.send_header("Content-Type", reply_headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[StripeRecorder]:
    port = _free_port()
    process = subprocess.Popen(
        [stripe_mock_binary(), "-http-port", str(port), "-https-port", str(_free_port())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    upstream = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("stripe-mock did not start") from None
            time.sleep(0.1)
    recorder = StripeRecorder(upstream)
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(recorder))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    recorder.upstream_proxy = f"http://127.0.0.1:{proxy.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield recorder
    finally:
        proxy.shutdown()
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Billing:
    running: RunningService
    engine: AsyncEngine
    producer: AIOKafkaProducer
    channel: grpc.aio.Channel
    stripe: StripeRecorder

    @property
    def setup(self) -> pb_grpc.BillingSetupServiceAsyncStub:
        return pb_grpc.BillingSetupServiceStub(self.channel)

    @property
    def accounts(self) -> pb_grpc.AccountServiceAsyncStub:
        return pb_grpc.AccountServiceStub(self.channel)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def send(self, message: Message, *, source: str, event_id: str | None = None) -> str:
        return await publish(self.producer, message, source=source, event_id=event_id)


async def eventually(check: Any, *, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def billing(
    postgres_cluster: PostgresCluster, kafka_broker: Any, stripe_mock: StripeRecorder
) -> AsyncIterator[Billing]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    url = await postgres_cluster.create_database_async(unique_database_name("billing_it"))
    payments = StripePayments("sk_test_confide", api_base=stripe_mock.upstream_proxy)  # type: ignore[attr-defined]
    running = await start_billing(
        url, bootstrap, verifier=TOKENS.verifier, spec_options={"payments": payments}
    )
    engine = db.create_engine(url)
    producer = new_producer(bootstrap, client_id="billing-it-producer")
    await producer.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Billing(running, engine, producer, channel, stripe_mock)
    finally:
        await channel.close()
        await producer.stop()
        await engine.dispose()
        await running.stop(grace=0)


@dataclass
class Practice:
    """A practice with an admin, a clinician and its price list and billing profile."""

    billing: Billing
    practice_id: str = field(default_factory=new_id)
    admin_id: str = field(default_factory=new_id)
    clinician_id: str = field(default_factory=new_id)

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.admin_id, self.practice_id, "practice_admin")

    @property
    def clinician(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.clinician_id, self.practice_id, "clinician")

    def client(self, client_id: str) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(client_id, self.practice_id, "client", mfa=False)

    async def add_client(
        self, payer: identity_pb2.PayerType.ValueType = identity_pb2.PAYER_TYPE_SELF_PAY
    ) -> str:
        client_id = new_id()
        await self.billing.send(
            identity_events.ClientProfileChanged(
                client_id=client_id, practice_id=self.practice_id, payer_type=payer, profile_version=1
            ),
            source="//confide/identity",
        )

        async def known() -> bool:
            count = await self.billing.scalar(
                "SELECT count(*) FROM billing_clients WHERE client_id = :c AND payer_type <> 'unknown'",
                c=client_id,
            )
            return bool(count)

        await eventually(known)
        return client_id


async def new_practice(billing: Billing, *, no_show_fee: int = 5_000) -> Practice:
    practice = Practice(billing)
    prices = pb.PriceList(
        currency="USD",
        fees=[
            pb.Fee(service_code="90791", amount=usd(20_000)),
            pb.Fee(service_code="90832", amount=usd(10_000)),
            pb.Fee(service_code="90834", amount=usd(15_000)),
            pb.Fee(service_code="90837", amount=usd(18_000)),
            pb.Fee(service_code="90839", amount=usd(22_000)),
            pb.Fee(service_code="90840", amount=usd(9_000)),
        ],
        tiers=[pb.SlidingScaleTier(code="B", discount_bp=4_000)],
        no_show_fee=usd(no_show_fee),
        late_cancel_fee=usd(no_show_fee),
    )
    await billing.setup.SetPriceList(
        pb.SetPriceListRequest(price_list=prices, idempotency_key=new_id()), metadata=practice.admin
    )
    profile = pb.BillingProfile(
        legal_name="Confide Demo Practice PLLC",
        group_npi="1234567893",
        tax_id="12-3456789",
        address="1 Main St, Denver, CO 80202",
        phone="303-555-0100",
        clinicians=[
            pb.ClinicianBillingFacts(
                clinician_id=practice.clinician_id,
                display_name="Dana Reyes, PsyD",
                npi="1987654321",
                license="PSY 12345 (CO)",
            )
        ],
    )
    await billing.setup.SetBillingProfile(
        pb.SetBillingProfileRequest(profile=profile, idempotency_key=new_id()), metadata=practice.admin
    )
    return practice
