"""The whole platform for end-to-end tests, started the way `make run` starts it.

`python -m confide_devstack run` runs every service as its own process (migrate, seed-demo, serve)
with the gateway in front and the reference web client at its root. The session's Kafka broker and
PostgreSQL cluster are reused (one database per service), and every port is a free one, so the
tests run beside a developer's `make run`. Journeys talk to the platform through the gateway's HTTP
origin, as a browser or a frontend would; observability and security tests also read what the
platform emits: the spans every service exports (to an OTLP receiver in the test), the e-mails
messaging sends (to an SMTP server in the test), each service's log and its /metrics.

One platform per package: every module in tests/e2e shares it (starting it takes about a minute).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pyotp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_devstack.stack import READY_BANNER, discover_services

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 240.0
# What `make run` seeds (docs/runbooks/demo-data.md).
DEMO_PRACTICE = "01930000-0000-7000-8000-000000000001"
DEMO_PASSWORD = "Tulip-Harbor-Lantern-42"
DEMO_TOTP = pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
# Access tokens live 15 minutes; a cached one is reused while it has plenty of life left.
TOKEN_REUSE_SECONDS = 8 * 60
# A cheap signed-in call per service: each fetches identity's signing keys in the background after
# it starts and refuses a genuine token until it has them.
KEY_PROBES = (
    "confide.scheduling.v1.AvailabilityService/ListSessionTypes",
    "confide.billing.v1.BillingSetupService/GetPriceList",
    "confide.messaging.v1.MessagingService/ListThreads",
    "confide.directory.v1.DirectoryService/ListVocabulary",
)
# Services export spans in batches; a short delay keeps trace tests quick.
SPAN_EXPORT_DELAY_MS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as a service exported it over OTLP, with the exporting service's name."""

    service: str
    span: trace_pb2.Span

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()

    @property
    def parent_span_id(self) -> str:
        return self.span.parent_span_id.hex()

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def kind(self) -> int:
        return int(self.span.kind)

    def attribute(self, key: str) -> str | int | bool | float | None:
        for kv in self.span.attributes:
            if kv.key == key:
                value = kv.value
                which = value.WhichOneof("value")
                return None if which is None else getattr(value, which)
        return None


class SpanReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace endpoint that keeps every span it receives, in arrival order."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            attributes = resource_spans.resource.attributes
            service = next((kv.value.string_value for kv in attributes if kv.key == "service.name"), "")
            for scope_spans in resource_spans.scope_spans:
                received.extend(ReceivedSpan(service, span) for span in scope_spans.spans)
        with self._lock:
            self._spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)


class MailCatcher:
    """An SMTP server that keeps every message delivered to it (messaging's e-mail notifications)."""

    def __init__(self) -> None:
        self._messages: list[tuple[Envelope, Message]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            self._messages.append((envelope, message_from_bytes(content)))
        return "250 OK"

    def messages(self) -> list[tuple[Envelope, Message]]:
        with self._lock:
            return list(self._messages)


@dataclass
class ServicePorts:
    grpc: int
    metrics: int


@dataclass
class Platform:
    gateway: str  # http://127.0.0.1:<port>
    info: dict[str, Any]
    output: list[str]
    run_dir: Path
    ports: dict[str, ServicePorts]  # by service name (the gateway's "grpc" port is its HTTP port)
    database_urls: dict[str, str]  # by service name, for services with a database
    spans: SpanReceiver
    mail: MailCatcher
    bootstrap_servers: str
    env: dict[str, str] = field(default_factory=dict)
    _tokens: dict[str, tuple[float, str]] = field(default_factory=dict)
    _keys_known: bool = False

    async def sign_in(self, email: str, *, mfa: bool = False, fresh: bool = False) -> str:
        """A demo user's access token (password, and TOTP for staff who must use MFA).

        Every module of the package signs the same demo staff in, and identity refuses a TOTP step
        that was already used (replay protection): tokens are cached for the package, and a refused
        step waits for the next one.
        """
        cached = self._tokens.get(email)
        if cached and not fresh and time.monotonic() - cached[0] < TOKEN_REUSE_SECONDS:
            return cached[1]
        token = await self._sign_in(email, mfa=mfa)
        self._tokens[email] = (time.monotonic(), token)
        if not self._keys_known:
            await self._until_services_know_identitys_keys(token)
            self._keys_known = True
        return token

    async def _sign_in(self, email: str, *, mfa: bool) -> str:
        deadline = time.monotonic() + 120
        reply: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, reply = await self.call(
                "confide.identity.v1.AuthService/SignIn",
                {"practiceId": DEMO_PRACTICE, "email": email, "password": DEMO_PASSWORD},
                expect_ok=False,
            )
            if status != 200:  # the demo seed may still be landing
                await asyncio.sleep(0.5)
                continue
            if "session" in reply:
                return str(reply["session"]["accessToken"])
            assert mfa, f"{email} must pass MFA: sign in with mfa=True"
            status, reply = await self.call(
                "confide.identity.v1.AuthService/VerifyMfa",
                {"mfaChallengeToken": reply["mfaChallengeToken"], "totpCode": DEMO_TOTP.now()},
                expect_ok=False,
            )
            if status == 200:
                return str(reply["session"]["accessToken"])
            await asyncio.sleep(DEMO_TOTP.interval - time.time() % DEMO_TOTP.interval + 0.5)
        raise AssertionError(f"{email} could not sign in: {json.dumps(reply)[:400]}")

    async def _until_services_know_identitys_keys(self, token: str) -> None:
        for path in KEY_PROBES:
            deadline = time.monotonic() + 90
            while (await self.call(path, {}, token, expect_ok=False))[0] == 401:
                assert time.monotonic() < deadline, f"{path} never accepted identity's tokens"
                await asyncio.sleep(0.5)

    async def call(
        self, path: str, body: dict[str, Any], token: str | None = None, *, expect_ok: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """A Connect JSON call through the gateway; returns (HTTP status, JSON body)."""
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.gateway}/{path}", data=json.dumps(body), headers=headers) as reply,
        ):
            payload = await reply.json(content_type=None)
            if expect_ok and reply.status != 200:
                raise AssertionError(f"{path} answered {reply.status}: {json.dumps(payload)[:600]}")
            return reply.status, payload

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service].grpc}"

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service].metrics}/metrics"

    def log_files(self) -> dict[str, Path]:
        """Every log file the stack wrote (services, their migrate/seed runs), by file name."""
        return {path.name: path for path in sorted((self.run_dir / "logs").glob("*.log"))}

    def all_logs(self) -> str:
        """Everything the services and the stack runner printed."""
        parts = [path.read_text(encoding="utf-8", errors="replace") for path in self.log_files().values()]
        return "\n".join([*parts, "".join(self.output)])


# The demo clinicians on a client's care team.
CARE_TEAM_CLINICIANS = ("dr.rivera@demo-practice.test", "dr.chen@demo-practice.test")


async def reachable_for_crisis_alerts(platform: Platform, clinicians: tuple[str, ...]) -> None:
    """Give each care-team clinician an e-mail channel, as a practice must before it takes clients.

    A crisis alert that reaches no clinician is an incident and pages; the demo seed has no
    notification addresses, so without this a high-risk screening in one test would leave the alert
    firing for the others (the real-Prometheus test expects a quiet platform).
    """
    for email in clinicians:
        token = await platform.sign_in(email, mfa=True)
        await platform.call(
            "confide.messaging.v1.NotificationService/SetNotificationPreferences",
            {"preferences": {"emailEnabled": True, "emailAddress": email}},
            token,
        )


@pytest.fixture(scope="package")
def span_receiver() -> Iterator[tuple[SpanReceiver, int]]:
    receiver = SpanReceiver()
    port = _free_port()
    ready = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    # Its own thread and loop: the services' exporters must reach it whatever the tests' loop is doing.
    def serve() -> None:
        async def main() -> None:
            server = grpc.aio.server()
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            stopping = asyncio.Event()
            running.append((asyncio.get_running_loop(), stopping))
            ready.set()
            await stopping.wait()
            await server.stop(1)

        asyncio.run(main())

    thread = threading.Thread(target=serve, name="otlp-receiver", daemon=True)
    thread.start()
    assert ready.wait(30), "the OTLP receiver did not start"
    yield receiver, port
    loop, stopping = running[0]
    loop.call_soon_threadsafe(stopping.set)
    thread.join(10)


@pytest.fixture(scope="package")
def mail_catcher() -> Iterator[tuple[MailCatcher, int]]:
    catcher = MailCatcher()
    port = _free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, port
    finally:
        controller.stop()


# Package scope: the platform's services join the same consumer groups as the in-process services
# of test modules elsewhere on the shared broker, so it must be gone before they run; every module
# of this package shares it.
@pytest.fixture(scope="package")
async def platform(
    postgres_cluster: PostgresCluster,
    kafka_broker: Any,
    devstack_run_dir: Path,
    span_receiver: tuple[SpanReceiver, int],
    mail_catcher: tuple[MailCatcher, int],
) -> AsyncIterator[Platform]:
    run_dir = devstack_run_dir / "e2e-stack"
    env: dict[str, str] = {
        "CONFIDE_RUN_DIR": str(run_dir),
        "KAFKA_BOOTSTRAP_SERVERS": str(kafka_broker.bootstrap_servers),  # ours: the stack starts none
        "CONFIDE_PG_PORT": str(_free_port()),
        "GATEWAY_CORS_ORIGINS": "http://127.0.0.1",
        "GATEWAY_RATE_PER_SECOND": "200",
        "GATEWAY_RATE_BURST": "400",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{span_receiver[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": str(SPAN_EXPORT_DELAY_MS),
        "MESSAGING_SMTP_HOST": "127.0.0.1",
        "MESSAGING_SMTP_PORT": str(mail_catcher[1]),
        "MESSAGING_SMTP_STARTTLS": "false",
    }
    ports: dict[str, ServicePorts] = {}
    database_urls: dict[str, str] = {}
    for spec in discover_services(ROOT / "services", {}):
        prefix = spec.name.upper().replace("-", "_")
        ports[spec.name] = ServicePorts(grpc=_free_port(), metrics=_free_port())
        env[f"{prefix}_GRPC_PORT"] = str(ports[spec.name].grpc)
        env[f"{prefix}_METRICS_PORT"] = str(ports[spec.name].metrics)
        if spec.needs_database:
            database_urls[spec.name] = await postgres_cluster.create_database_async(
                unique_database_name(f"e2e_{spec.name}")
            )
            env[f"{prefix}_DATABASE_URL"] = database_urls[spec.name]
    log_path = devstack_run_dir / "e2e-stack.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "confide_devstack",
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=log_path.open("wb"),
        env={**os.environ, **env},
        cwd=ROOT,
    )
    output: list[str] = []
    ready = asyncio.Event()

    async def drain() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            output.append(line.decode(errors="replace"))
            if READY_BANNER in output[-1]:
                ready.set()

    drainer = asyncio.create_task(drain())
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait(
            {waiter, asyncio.create_task(proc.wait())},
            timeout=START_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not ready.is_set():
            raise AssertionError("the platform did not start:\n" + "".join(output[-80:]))
        info = json.loads((run_dir / "stack.json").read_text(encoding="utf-8"))
        platform = Platform(
            gateway=f"http://127.0.0.1:{env['GATEWAY_GRPC_PORT']}",
            info=info,
            output=output,
            run_dir=run_dir,
            ports=ports,
            database_urls=database_urls,
            spans=span_receiver[0],
            mail=mail_catcher[0],
            bootstrap_servers=str(kafka_broker.bootstrap_servers),
            env=env,
        )
        await reachable_for_crisis_alerts(platform, CARE_TEAM_CLINICIANS)
        yield platform
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        drainer.cancel()
