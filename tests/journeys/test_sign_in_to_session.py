"""Journey: sign in at identity → book → check in → start → complete at scheduling, authorized by compliance.

All three REAL services run in-process over real gRPC, with their own PostgreSQL databases, sharing the
session's Kafka broker; nothing is mocked and no event is produced by the test. Each service is migrated
and demo-seeded the way `make run` does it (migrate, `seed-demo`, then serve), so every fact crosses a
service boundary the production way:

- identity signs its own access tokens with a key it generated itself (no signing-key file, no JWKS
  file): compliance and scheduling can verify them only with the JWKS they fetch from identity over gRPC
  (`jwks_grpc_target`, chassis `GrpcJwks`);
- identity's seed stages ClientProfileChanged, CareTeamAssigned and ConsentSigned for alex in its
  outbox; its relay publishes them once identity serves, and scheduling's consumer projects them;
- scheduling asks compliance (CheckAuthorization, with alex's token forwarded) at booking and check-in;
- every service's audit events reach compliance's hash-chained trail through Kafka.

Ids, e-mails, the password and the TOTP secret are the documented demo data (docs/runbooks/demo-data.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlparse

import grpc
import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from sqlalchemy import text

from confide.audit.v1 import events_pb2 as audit_events
from confide.common.v1 import jurisdiction_pb2, paging_pb2, time_pb2
from confide.compliance.v1 import audit_pb2, audit_pb2_grpc, authorization_pb2, authorization_pb2_grpc
from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis import migrations
from confide_chassis.auth import GrpcJwks
from confide_chassis.events import event_spec
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.service import RunningService
from confide_chassis.telemetry import configure_tracing
from confide_compliance import demo as compliance_demo
from confide_compliance import testing as compliance_testing
from confide_compliance.settings import ComplianceSettings
from confide_compliance.wiring import seed_demo_command as compliance_seed_demo
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_identity import seed as identity_seed
from confide_identity.adapters.mail.dev import DevFileMailer
from confide_identity.settings import IdentitySettings
from confide_identity.wiring import COMMANDS as IDENTITY_COMMANDS
from confide_identity.wiring import MIGRATIONS as IDENTITY_MIGRATIONS
from confide_identity.wiring import build as build_identity
from confide_identity.wiring import start_identity
from confide_scheduling import testing as scheduling_testing
from confide_scheduling.demo import seed_demo_command as scheduling_seed_demo
from confide_scheduling.settings import SchedulingSettings

pytestmark = pytest.mark.integration

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

PRACTICE_ID = str(identity_seed.DEMO_PRACTICE_ID)
ALEX_EMAIL = "alex@demo-practice.test"
SAM_EMAIL = "sam@demo-practice.test"
RIVERA_EMAIL = "dr.rivera@demo-practice.test"
OPS_EMAIL = "ops@demo-practice.test"
ALEX_ID = "01930000-0000-7000-8000-0000000000e1"
RIVERA_ID = compliance_demo.DEMO_SOCIAL_WORKER_CA  # …c3: the CA social worker, on alex's care team
ADMIN_ID = "01930000-0000-7000-8000-0000000000a1"  # the seed's admin set alex's profile and care team

SESSIONS_TOPIC = "confide.scheduling.sessions.v1"
AUDIT_TOPIC = "confide.audit.events.v1"
SESSION_TYPE = "psychotherapy_45"
# Identity's events reach scheduling asynchronously (outbox relay → Kafka → scheduling's consumer);
# a service also fetches identity's JWKS in the background after it starts. Generous on a loaded
# 2-core machine, bounded all the same.
PROPAGATION_SECONDS = 60.0
# Audit events travel the same way (every service's relay → Kafka → compliance's audit consumer).
AUDIT_SECONDS = 45.0


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Stack:
    identity: RunningService
    compliance: RunningService
    scheduling: scheduling_testing.StartedScheduling
    bootstrap: str
    mailer: DevFileMailer
    started_at: datetime
    identity_channel: grpc.aio.Channel
    compliance_channel: grpc.aio.Channel
    scheduling_channel: grpc.aio.Channel

    @property
    def auth(self) -> identity_pb2_grpc.AuthServiceAsyncStub:
        return identity_pb2_grpc.AuthServiceStub(self.identity_channel)

    @property
    def practices(self) -> identity_pb2_grpc.PracticeServiceAsyncStub:
        return identity_pb2_grpc.PracticeServiceStub(self.identity_channel)

    @property
    def authorization(self) -> authorization_pb2_grpc.AuthorizationServiceAsyncStub:
        return authorization_pb2_grpc.AuthorizationServiceStub(self.compliance_channel)

    @property
    def audit(self) -> audit_pb2_grpc.AuditTrailServiceAsyncStub:
        return audit_pb2_grpc.AuditTrailServiceStub(self.compliance_channel)

    @property
    def availability(self) -> pb_grpc.AvailabilityServiceAsyncStub:
        return pb_grpc.AvailabilityServiceStub(self.scheduling_channel)

    @property
    def appointments(self) -> pb_grpc.AppointmentServiceAsyncStub:
        return pb_grpc.AppointmentServiceStub(self.scheduling_channel)

    @property
    def sessions(self) -> pb_grpc.SessionServiceAsyncStub:
        return pb_grpc.SessionServiceStub(self.scheduling_channel)


@pytest.fixture(scope="module")
async def stack(
    postgres_cluster: PostgresCluster, kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    # As `serve` does: spans exist, so the request's trace context travels into the events' headers.
    configure_tracing("confide-journey")
    started_at = datetime.now(UTC)
    bootstrap = str(kafka_broker.bootstrap_servers)
    identity_url, compliance_url, scheduling_url = [
        await postgres_cluster.create_database_async(unique_database_name(f"journey_sign_in_{name}"))
        for name in ("identity", "compliance", "scheduling")
    ]
    mail_dir = tmp_path_factory.mktemp("identity-dev-mail")
    identity_settings = IdentitySettings(
        grpc_port=0,
        metrics_port=0,
        database_url=identity_url,
        kafka_bootstrap_servers=bootstrap,
        dev_mode=True,  # derived KEK, dev file mailer, seed-demo allowed
        dev_mail_dir=str(mail_dir),
        signing_key_file=None,  # identity generates its own key: only its JWKS can verify its tokens
        jwks_file=None,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        readiness_interval_seconds=0.5,
        outbox_poll_interval_seconds=0.2,
        key_refresh_seconds=3600,
    )

    # `make run`: migrate each database, then each service's `seed-demo` (dev mode), then serve. The
    # seeds write through the use cases, so their events wait in each outbox until the service serves.
    await asyncio.to_thread(migrations.upgrade, IDENTITY_MIGRATIONS, identity_url)
    assert await asyncio.to_thread(IDENTITY_COMMANDS["seed-demo"], identity_settings, []) == 0
    await compliance_testing.migrate(compliance_url)
    compliance_seed_settings = ComplianceSettings(database_url=compliance_url, dev_mode=True)
    assert await asyncio.to_thread(compliance_seed_demo, compliance_seed_settings, []) == 0
    await scheduling_testing.migrate(scheduling_url)
    scheduling_seed_settings = SchedulingSettings(database_url=scheduling_url, dev_mode=True)
    assert await asyncio.to_thread(scheduling_seed_demo, scheduling_seed_settings, []) == 0

    async with contextlib.AsyncExitStack() as running:
        identity = await start_identity(build_identity(identity_settings))
        running.push_async_callback(identity.stop, 0)
        identity_target = f"127.0.0.1:{identity.port}"
        compliance = await compliance_testing.start_compliance(
            compliance_url,
            bootstrap,
            migrate_first=False,
            jwks_grpc_target=identity_target,
            jwks_file=None,
        )
        running.push_async_callback(compliance.stop, 0)
        scheduling = await scheduling_testing.start_scheduling(
            scheduling_url,
            bootstrap,
            migrate_first=False,
            jwks_grpc_target=identity_target,
            jwks_file=None,
            compliance_target=f"127.0.0.1:{compliance.port}",
            # Check-in (and start) open two hours ahead, so the journey runs now rather than at the
            # slot's time; compliance gets more than the production 2 s on a loaded machine.
            check_in_opens_minutes=120,
            compliance_deadline_seconds=5.0,
        )
        running.push_async_callback(scheduling.running.stop, 0)
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            for port in (identity.port, compliance.port, scheduling.port)
        ]
        for channel in channels:
            running.push_async_callback(channel.close)
        yield Stack(
            identity,
            compliance,
            scheduling,
            bootstrap,
            DevFileMailer(mail_dir),
            started_at,
            *channels,
        )


# --- helpers ---------------------------------------------------------------------------------------------


def rule_ids(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    details = details_of(status) if status is not None else []
    return [
        v.type for d in details if isinstance(d, error_details_pb2.PreconditionFailure) for v in d.violations
    ]


def error_info(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = status_from_error(error)
    for detail in details_of(status) if status is not None else []:
        if isinstance(detail, error_details_pb2.ErrorInfo):
            return dict(detail.metadata)
    return {}


def describe(error: grpc.aio.AioRpcError) -> str:
    return f"{error.code().name} {error.details()!r} {rule_ids(error)}"


def refused_with(code: grpc.StatusCode, *rules: str) -> Callable[[grpc.aio.AioRpcError], bool]:
    """A refusal that only lasts until the facts propagate: `code`, and (when given) one of `rules`."""

    def matches(error: grpc.aio.AioRpcError) -> bool:
        return error.code() is code and (not rules or bool(set(rules) & set(rule_ids(error))))

    return matches


async def retry_while(
    call: Callable[[], Awaitable[T]],
    transient: Sequence[Callable[[grpc.aio.AioRpcError], bool]],
    *,
    deadline: float,
    what: str,
) -> T:
    """`call()` until it stops failing with a transient refusal; other errors fail at once. Waiting is
    bounded by `deadline` (time.monotonic()); the error says what never arrived."""
    delay = 0.05
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if not any(check(error) for check in transient):
                raise
            if time.monotonic() + delay > deadline:
                raise AssertionError(f"{what}: still refused after the wait ({describe(error)})") from error
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def eventually(check: Callable[[], Awaitable[T | None]], *, seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    delay = 0.1
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() + delay > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def sign_in(
    auth: identity_pb2_grpc.AuthServiceAsyncStub,
    email: str,
    *,
    practice_id: str = PRACTICE_ID,
    password: str = identity_seed.DEMO_PASSWORD,
    totp_secret: str | None = None,
) -> identity_pb2.Session:
    """Password sign-in over identity's gRPC; with `totp_secret`, the MFA step too (staff)."""
    step = await auth.SignIn(
        identity_pb2.SignInRequest(practice_id=practice_id, email=email, password=password)
    )
    if totp_secret is None:
        assert step.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE, email
        return step.session
    assert step.next_step == identity_pb2.SIGN_IN_STEP_MFA_REQUIRED, email
    verified = await auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(
            mfa_challenge_token=step.mfa_challenge_token, totp_code=pyotp.TOTP(totp_secret).now()
        )
    )
    assert verified.session.mfa
    return verified.session


def claims_of(session: identity_pb2.Session) -> dict[str, Any]:
    """The access token's claims, read as a frontend may (not verified here: the services verify)."""
    claims: dict[str, Any] = jwt.decode(session.access_token, options={"verify_signature": False})
    return claims


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def search_request(client_id: str, start_in: timedelta, end_in: timedelta) -> pb.SearchSlotsRequest:
    now = datetime.now(UTC)
    return pb.SearchSlotsRequest(
        client_id=client_id,
        session_type_code=SESSION_TYPE,
        modality=pb.MODALITY_VIDEO,
        clinician_ids=[RIVERA_ID],
        window=time_pb2.TimeRange(start=ts(now + start_in), end=ts(now + end_in)),
        max_results=20,
    )


def book_request(start: Timestamp) -> pb.BookAppointmentRequest:
    return pb.BookAppointmentRequest(
        client_id=ALEX_ID,
        clinician_id=RIVERA_ID,
        session_type_code=SESSION_TYPE,
        modality=pb.MODALITY_VIDEO,
        start_time=start,
        idempotency_key=str(uuid.uuid4()),
    )


def check_in(appointment_id: str, state: jurisdiction_pb2.Jurisdiction.ValueType) -> pb.CheckInRequest:
    return pb.CheckInRequest(
        appointment_id=appointment_id,
        location=pb.ClientLocation(state=state, at_home=True),
        identity_confirmed=True,
        idempotency_key=str(uuid.uuid4()),
    )


def forged_token(kid: str) -> str:
    """alex's claims, identity's key id, signed with a key identity never had."""
    now = int(time.time())
    claims = {
        "iss": "confide-identity",
        "aud": "confide",
        "sub": ALEX_ID,
        "practice": PRACTICE_ID,
        "roles": ["client"],
        "mfa": False,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    return jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"}
    )


async def other_practice_admin(s: Stack, ops: Metadata) -> identity_pb2.Session:
    """A user of another practice, made the real way: the platform operator creates a practice; its
    admin sets a password from the invitation e-mail (dev mailer) and enrols TOTP (staff must)."""
    slug = f"journey-{uuid.uuid4().hex[:10]}"
    email = f"admin@{slug}.test"
    created = await s.practices.CreatePractice(
        identity_pb2.CreatePracticeRequest(
            display_name="Elsewhere Counseling", slug=slug, admin_email=email, admin_display_name="Kim Other"
        ),
        metadata=ops,
    )
    practice_id = created.practice.practice_id
    assert practice_id != PRACTICE_ID

    async def invitation() -> str | None:
        for mail in await asyncio.to_thread(s.mailer.read_all):
            if mail["to"] == email and mail["link"]:
                return mail["link"]
        return None

    link = await eventually(invitation, seconds=10, what="the invitation e-mail")
    token = parse_qs(urlparse(link).query)["token"][0]
    password = "Quartz-Meadow-Falcon-93"
    await s.auth.ResetPassword(identity_pb2.ResetPasswordRequest(token=token, new_password=password))
    step = await s.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=practice_id, email=email, password=password)
    )
    assert step.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROLMENT_REQUIRED
    restricted = bearer(step.session.access_token)
    enrolment = await s.auth.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(), metadata=restricted)
    confirmed = await s.auth.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(totp_code=pyotp.TOTP(enrolment.secret).now()),
        metadata=restricted,
    )
    assert confirmed.session.mfa
    assert confirmed.session.practice_id == practice_id
    return confirmed.session


# --- the journey -----------------------------------------------------------------------------------------


async def test_sign_in_book_check_in_complete_across_identity_compliance_scheduling(stack: Stack) -> None:
    s = stack
    # The point of this journey: the other services verify identity's tokens with the JWKS they fetch
    # from identity over gRPC (identity signs with a key it generated; no JWKS file is configured).
    for service in (s.compliance, s.scheduling.running):
        assert isinstance(service.context.interceptor.verifier.source, GrpcJwks)

    # --- 2. Sign in over identity's gRPC: alex (a client: password only), dr.rivera (password + TOTP).
    alex = await sign_in(s.auth, ALEX_EMAIL)
    assert alex.user_id == ALEX_ID
    assert list(alex.roles) == [identity_pb2.ROLE_CLIENT]
    assert claims_of(alex)["practice"] == PRACTICE_ID
    assert claims_of(alex)["mfa"] is False
    rivera = await sign_in(s.auth, RIVERA_EMAIL, totp_secret=identity_seed.DEMO_TOTP_SECRET)
    assert rivera.user_id == RIVERA_ID
    assert claims_of(rivera)["roles"] == ["clinician"]
    as_alex, as_rivera = bearer(alex.access_token), bearer(rivera.access_token)

    deadline = time.monotonic() + PROPAGATION_SECONDS
    # Compliance and scheduling fetch identity's JWKS in the background once started (GrpcJwks retries
    # every 2 s until identity answers): until then a genuine token is UNAUTHENTICATED.
    not_yet_verifiable = [refused_with(grpc.StatusCode.UNAUTHENTICATED)]
    await retry_while(
        lambda: s.availability.ListSessionTypes(pb.ListSessionTypesRequest(), metadata=as_alex),
        not_yet_verifiable,
        deadline=deadline,
        what="scheduling verifying identity's tokens",
    )
    found = await retry_while(
        lambda: s.authorization.FindAuthorizedClinicians(
            authorization_pb2.FindAuthorizedCliniciansRequest(
                client_jurisdiction=jurisdiction_pb2.JURISDICTION_CA,
                session_start=ts(datetime.now(UTC) + timedelta(hours=1)),
                client_time_zone="America/Los_Angeles",
                modality=authorization_pb2.MODALITY_VIDEO,
            ),
            metadata=as_alex,
        ),
        not_yet_verifiable,
        deadline=deadline,
        what="compliance verifying identity's tokens",
    )
    assert RIVERA_ID in {c.clinician_id for c in found.clinicians}  # compliance's seed: CA license

    # The demo schedule is Monday-Friday 09:00-17:00 Los Angeles time; dr.rivera opens every day, all
    # day (same location, CA), so that the journey does not depend on when it runs.
    await s.availability.SetWeeklySchedule(
        pb.SetWeeklyScheduleRequest(
            clinician_id=RIVERA_ID,
            time_zone="America/Los_Angeles",
            location=jurisdiction_pb2.JURISDICTION_CA,
            modalities=[pb.MODALITY_VIDEO, pb.MODALITY_AUDIO_ONLY],
            weekly_rules=[
                pb.WeeklyRule(
                    weekday=cast(pb.Weekday.ValueType, day),
                    start=pb.TimeOfDay(hours=0),
                    end=pb.TimeOfDay(hours=0),
                )
                for day in range(pb.WEEKDAY_MONDAY, pb.WEEKDAY_SUNDAY + 1)
            ],
            idempotency_key=str(uuid.uuid4()),
        ),
        metadata=as_rivera,
    )

    # --- 3. Eventual consistency between services: identity's seed staged ClientProfileChanged,
    # CareTeamAssigned and ConsentSigned for alex in its outbox; they reach scheduling's projections
    # only after identity's relay publishes them and scheduling's consumer applies them (each on its own
    # topic, in no guaranteed order). Until then scheduling refuses with the rule that names the missing
    # fact: SCHED-08 (profile), PERMISSION_DENIED for a clinician (care team), SAFE-10 (consent).
    profile_missing = refused_with(grpc.StatusCode.FAILED_PRECONDITION, "SCHED-08")
    care_team_missing = refused_with(grpc.StatusCode.PERMISSION_DENIED)
    search = search_request(ALEX_ID, timedelta(minutes=5), timedelta(minutes=110))
    slots = (
        await retry_while(
            lambda: s.availability.SearchSlots(search, metadata=as_alex),
            [profile_missing],
            deadline=deadline,
            what="alex's profile (ClientProfileChanged) reaching scheduling",
        )
    ).slots
    await retry_while(
        lambda: s.availability.SearchSlots(search, metadata=as_rivera),
        [profile_missing, care_team_missing],
        deadline=deadline,
        what="alex's care team (CareTeamAssigned) reaching scheduling",
    )

    # --- 4. alex searched (only clinicians compliance authorizes for CA are offered) and books the first
    # video slot. The booking is retried with the SAME idempotency key while the consent has not arrived
    # (SAFE-10): a refused attempt stores nothing, the successful one books once.
    assert slots, "no video slot with dr.rivera in the next two hours"
    assert {slot.clinician_id for slot in slots} == {RIVERA_ID}
    assert all(pb.MODALITY_VIDEO in slot.modalities for slot in slots)
    book = book_request(slots[0].time.start)
    booked = (
        await retry_while(
            lambda: s.appointments.BookAppointment(book, metadata=as_alex),
            [refused_with(grpc.StatusCode.FAILED_PRECONDITION, "SAFE-10")],
            deadline=deadline,
            what="alex's consent (ConsentSigned) reaching scheduling",
        )
    ).appointment
    aid = booked.appointment_id
    decision_id = booked.authorization_decision_id
    assert decision_id, "the booking must keep compliance's decision id"
    again = await s.appointments.BookAppointment(book, metadata=as_alex)  # a retry after success
    assert again.appointment.appointment_id == aid
    stored = (
        await s.appointments.GetAppointment(pb.GetAppointmentRequest(appointment_id=aid), metadata=as_alex)
    ).appointment
    assert stored.authorization_decision_id == decision_id
    assert (stored.client_id, stored.clinician_id) == (ALEX_ID, RIVERA_ID)

    # The decision is compliance's, made for this appointment with alex's forwarded token.
    ops = await sign_in(s.auth, OPS_EMAIL, totp_secret=identity_seed.DEMO_TOTP_SECRET)
    as_ops = bearer(ops.access_token)  # practice_admin + platform_operator, MFA
    decision = (
        await s.authorization.GetDecision(
            authorization_pb2.GetDecisionRequest(decision_id=decision_id), metadata=as_ops
        )
    ).decision
    assert decision.allowed
    assert decision.authority.credential_id == compliance_demo.CA_LCSW_LICENSE
    assert decision.request.clinician_id == RIVERA_ID
    assert decision.request.client_jurisdiction == jurisdiction_pb2.JURISDICTION_CA
    assert (decision.request.purpose, decision.request.appointment_id) == ("booking", aid)
    engine = s.compliance.context.engine
    assert engine is not None
    async with engine.connect() as conn:
        requested_by = (
            await conn.execute(
                text("SELECT requested_by FROM decisions WHERE decision_id = CAST(:d AS uuid)"),
                {"d": decision_id},
            )
        ).scalar_one()
    assert requested_by == ALEX_ID

    # --- 5. Check-in from home in California: covered by the CA license.
    checked = await s.sessions.CheckIn(check_in(aid, jurisdiction_pb2.JURISDICTION_CA), metadata=as_alex)
    assert checked.appointment.status == pb.APPOINTMENT_STATUS_CHECKED_IN

    # --- 6. dr.rivera starts and completes the session.
    await s.sessions.StartSession(
        pb.StartSessionRequest(appointment_id=aid, idempotency_key=str(uuid.uuid4())), metadata=as_rivera
    )
    completed = await s.sessions.CompleteSession(
        pb.CompleteSessionRequest(appointment_id=aid, actual_minutes=45, idempotency_key=str(uuid.uuid4())),
        metadata=as_rivera,
    )
    assert completed.appointment.status == pb.APPOINTMENT_STATUS_COMPLETED

    # 5 (second half). Another appointment; this time alex checks in from Nevada, where dr.rivera holds
    # no authority: refused, LIC-01 first (the session happens where the client is), then LIC-03.
    later = await s.availability.SearchSlots(
        search_request(ALEX_ID, timedelta(minutes=5), timedelta(minutes=110)), metadata=as_alex
    )
    free = [slot.time.start for slot in later.slots if slot.time.start != book.start_time]
    assert free, "no second video slot with dr.rivera in the next two hours"
    second_start = free[0]
    second = (await s.appointments.BookAppointment(book_request(second_start), metadata=as_alex)).appointment
    assert second.authorization_decision_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await s.sessions.CheckIn(
            check_in(second.appointment_id, jurisdiction_pb2.JURISDICTION_NV), metadata=as_alex
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    ids = rule_ids(refused.value)
    assert ids[0] == "LIC-01"
    assert "LIC-03" in ids
    assert {"LIC-01", "LIC-03"} <= set(error_info(refused.value).get("rule_ids", "").split(","))
    flagged = await s.appointments.GetAppointment(
        pb.GetAppointmentRequest(appointment_id=second.appointment_id), metadata=as_alex
    )
    assert flagged.appointment.status == pb.APPOINTMENT_STATUS_FLAGGED_AUTHORIZATION

    # --- 6 (events). Read back from Kafka: SessionCompleted, and the audit events about alex.
    session_spec = event_spec(scheduling_events.SessionCompleted)
    assert session_spec.topic == SESSIONS_TOPIC

    def session_completed(records: list[scheduling_testing.Record]) -> bool:
        return any(r.header("ce_type") == "confide.scheduling.v1.SessionCompleted" for r in records)

    def audit_of(records: list[scheduling_testing.Record]) -> list[audit_events.AuditEvent]:
        events = [audit_events.AuditEvent.FromString(r.value) for r in records]
        return [e for e in events if e.occurred_at.ToDatetime(tzinfo=UTC) >= s.started_at]

    def audited_by_both(records: list[scheduling_testing.Record]) -> bool:
        events = audit_of(records)
        return any(e.service == "identity" for e in events) and any(
            e.service == "scheduling" and e.resource.id == aid and e.actor.subject_id == RIVERA_ID
            for e in events
        )

    async def access_report() -> audit_pb2.GetAccessReportResponse | None:
        # alex asks compliance "who accessed my record" (others' actions, since this journey began).
        report = await s.audit.GetAccessReport(
            audit_pb2.GetAccessReportRequest(
                time_range=time_pb2.TimeRange(start=ts(s.started_at)),
                page=paging_pb2.PageRequest(page_size=500),
            ),
            metadata=as_alex,
        )
        by_identity = any(e.service == "identity" and e.actor_id == ADMIN_ID for e in report.entries)
        by_scheduling = any(
            e.service == "scheduling" and e.actor_id == RIVERA_ID and e.resource_id == aid
            for e in report.entries
        )
        return report if by_identity and by_scheduling else None

    session_records, audit_records, report = await asyncio.gather(
        scheduling_testing.read_records(
            s.bootstrap, [SESSIONS_TOPIC], keys=[aid], until=session_completed, wait_seconds=AUDIT_SECONDS
        ),
        scheduling_testing.read_records(
            s.bootstrap, [AUDIT_TOPIC], keys=[ALEX_ID], until=audited_by_both, wait_seconds=AUDIT_SECONDS
        ),
        eventually(
            access_report,
            seconds=AUDIT_SECONDS,
            what="compliance's audit trail listing identity's and scheduling's accesses to alex's record",
        ),
    )

    record = next(
        r for r in session_records if r.header("ce_type") == "confide.scheduling.v1.SessionCompleted"
    )
    facts = scheduling_events.SessionCompleted.FromString(record.value)
    assert record.topic == SESSIONS_TOPIC
    assert record.key == getattr(facts, session_spec.aggregate_field) == aid
    assert (facts.client_id, facts.clinician_id, facts.practice_id) == (ALEX_ID, RIVERA_ID, PRACTICE_ID)
    assert facts.modality == pb.MODALITY_VIDEO
    assert facts.client_state == jurisdiction_pb2.JURISDICTION_CA
    assert facts.at_home
    assert (facts.place_of_service, facts.modifier) == ("10", "95")
    assert facts.duration_minutes == 45
    assert record.header("ce_specversion") == "1.0"
    assert record.header("ce_source") == "//confide/scheduling"
    assert record.header("content-type") == "application/protobuf"
    assert uuid.UUID(record.header("ce_id") or "")
    assert (record.header("ce_time") or "").endswith("Z")
    assert record.header("traceparent")

    audited = audit_of(audit_records)
    assert {e.subject_person_id for e in audited} == {ALEX_ID}
    assert {"identity", "scheduling"} <= {e.service for e in audited}
    sources = {r.header("ce_source") for r in audit_records}
    assert {"//confide/identity", "//confide/scheduling"} <= sources
    assert report.subject_id == ALEX_ID
    assert all(entry.sequence > 0 for entry in report.entries)  # chained by compliance's audit consumer
    assert all(entry.actor_id != ALEX_ID for entry in report.entries)  # others' actions only

    # --- 7. Tokens scheduling must refuse.
    jwks = json.loads((await s.auth.GetJwks(identity_pb2.GetJwksRequest())).jwks_json)
    kid = str(jwt.get_unverified_header(alex.access_token)["kid"])
    assert kid in {key["kid"] for key in jwks["keys"]}
    # A forged token (alex's claims and identity's key id, another key's signature), and no token.
    for metadata in (bearer(forged_token(kid)), ()):
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await s.availability.SearchSlots(search, metadata=metadata)
        assert forged.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # Another client of the same practice may not act for alex.
    sam = await sign_in(s.auth, SAM_EMAIL)
    for attempt in (
        lambda: s.availability.SearchSlots(search, metadata=bearer(sam.access_token)),
        lambda: s.appointments.BookAppointment(book_request(second_start), metadata=bearer(sam.access_token)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await attempt()
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # A genuine admin (MFA) of another practice: alex and alex's appointments do not exist for them
    # (docs/api/scheduling.md: "another practice's appointments do not exist for you (NOT_FOUND)").
    outsider = bearer((await other_practice_admin(s, as_ops)).access_token)
    for lookup in (
        lambda: s.appointments.GetAppointment(
            pb.GetAppointmentRequest(appointment_id=aid), metadata=outsider
        ),
        lambda: s.availability.SearchSlots(search, metadata=outsider),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await lookup()
        assert hidden.value.code() is grpc.StatusCode.NOT_FOUND
    listed = await s.appointments.ListAppointments(pb.ListAppointmentsRequest(), metadata=outsider)
    assert not listed.appointments
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await s.authorization.GetDecision(
            authorization_pb2.GetDecisionRequest(decision_id=decision_id), metadata=outsider
        )
    assert elsewhere.value.code() is grpc.StatusCode.NOT_FOUND


def test_demo_ids_match_the_seeds() -> None:
    """The fixed ids this journey relies on are the ones each service's seed uses."""
    users = {u.email: str(u.user_id) for u in (*identity_seed.CLINICIANS, *identity_seed.CLIENTS)}
    assert users[ALEX_EMAIL] == ALEX_ID
    assert users[RIVERA_EMAIL] == RIVERA_ID
    assert str(identity_seed.ADMIN.user_id) == ADMIN_ID
    assert compliance_demo.DEMO_PRACTICE_ID == PRACTICE_ID
    assert identity_seed.CARE_TEAMS["client_alex"] == "clinician_rivera"
