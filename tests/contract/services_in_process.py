"""The six gRPC services in-process, as `make run` runs them, for the descriptor-driven contract tests
(`test_wire_boundaries.py`, `test_fuzz_rpcs.py`): real gRPC, PostgreSQL and Kafka, demo-seeded, with
the RPCs each service registered, tokens for a role an RPC admits, and plausible baseline requests
built from request descriptors (demo ids, a time zone, instants a few days ahead)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
import jwt
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from confide.common.v1 import validation_pb2
from confide_billing import testing as billing_testing
from confide_billing.demo import seed_demo as billing_seed_demo
from confide_chassis import migrations
from confide_chassis.auth import Access
from confide_chassis.service import RunningService
from confide_compliance import demo as compliance_demo
from confide_compliance import testing as compliance_testing
from confide_compliance.settings import ComplianceSettings
from confide_compliance.wiring import seed_demo_command as compliance_seed_demo
from confide_devstack.devkeys import DevKeys
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_directory import demo as directory_demo
from confide_directory import testing as directory_testing
from confide_identity import seed as identity_seed
from confide_identity.settings import IdentitySettings
from confide_identity.wiring import COMMANDS as IDENTITY_COMMANDS
from confide_identity.wiring import MIGRATIONS as IDENTITY_MIGRATIONS
from confide_identity.wiring import build as build_identity
from confide_identity.wiring import start_identity
from confide_messaging import testing as messaging_testing
from confide_scheduling import testing as scheduling_testing
from confide_scheduling.demo import seed_demo_command as scheduling_seed_demo
from confide_scheduling.settings import SchedulingSettings

MEGABYTE = 1_000_000

PRACTICE_ID = str(identity_seed.DEMO_PRACTICE_ID)
ALEX_ID = "01930000-0000-7000-8000-0000000000e1"  # demo client (docs/runbooks/demo-data.md)
ADMIN_ID = "01930000-0000-7000-8000-0000000000a1"  # demo practice admin
OPS_ID = "01930000-0000-7000-8000-0000000000a2"  # demo practice admin + platform operator
CLINICIAN_ID = compliance_demo.DEMO_SOCIAL_WORKER_CA  # on alex's care team

# The subject a token of each role speaks for, so baseline requests reach real demo data.
SUBJECT_OF_ROLE = {
    "client": ALEX_ID,
    "clinician": CLINICIAN_ID,
    "practice_admin": ADMIN_ID,
    "platform_operator": OPS_ID,
    "compliance_officer": OPS_ID,
}
# Preferred caller when an RPC admits several roles: the one most likely to get past the domain's
# relationship checks with the demo data.
ROLE_PREFERENCE = ("client", "clinician", "practice_admin", "compliance_officer", "platform_operator")


@dataclass
class Platform:
    services: list[RunningService]
    channels: dict[int, grpc.aio.Channel]
    keys: DevKeys


@contextlib.asynccontextmanager
async def seeded_services(
    postgres_cluster: PostgresCluster,
    kafka_broker: Any,
    dev_keys: DevKeys,
    tmp_path_factory: pytest.TempPathFactory,
    database_prefix: str,
) -> AsyncIterator[dict[str, RunningService]]:
    """The six gRPC services in this process, each migrated and demo-seeded in its own database, by
    name; tokens signed with `dev_keys` verify at every one of them. Stopped on exit."""
    bootstrap = str(kafka_broker.bootstrap_servers)
    identity_url, compliance_url, scheduling_url, billing_url, messaging_url, directory_url = [
        await postgres_cluster.create_database_async(unique_database_name(f"{database_prefix}_{name}"))
        for name in ("identity", "compliance", "scheduling", "billing", "messaging", "directory")
    ]
    identity_settings = IdentitySettings(
        grpc_port=0,
        metrics_port=0,
        database_url=identity_url,
        kafka_bootstrap_servers=bootstrap,
        dev_mode=True,
        dev_mail_dir=str(tmp_path_factory.mktemp(f"{database_prefix}-mail")),
        # The dev key signs, so tokens minted with it here verify at every service.
        signing_key_file=str(dev_keys.private_key_path),
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        readiness_interval_seconds=0.5,
        outbox_poll_interval_seconds=0.2,
        key_refresh_seconds=3600,
    )
    await asyncio.to_thread(migrations.upgrade, IDENTITY_MIGRATIONS, identity_url)
    assert await asyncio.to_thread(IDENTITY_COMMANDS["seed-demo"], identity_settings, []) == 0
    await compliance_testing.migrate(compliance_url)
    compliance_seed = ComplianceSettings(database_url=compliance_url, dev_mode=True)
    assert await asyncio.to_thread(compliance_seed_demo, compliance_seed, []) == 0
    await scheduling_testing.migrate(scheduling_url)
    scheduling_seed = SchedulingSettings(database_url=scheduling_url, dev_mode=True)
    assert await asyncio.to_thread(scheduling_seed_demo, scheduling_seed, []) == 0
    await billing_testing.migrate(billing_url)
    await billing_seed_demo(billing_url)
    await directory_testing.migrate(directory_url)
    await directory_demo.seed_demo_database(directory_url)

    jwks = str(dev_keys.jwks_path)
    async with contextlib.AsyncExitStack() as stack:
        identity = await start_identity(build_identity(identity_settings))
        stack.push_async_callback(identity.stop, 0)
        compliance = await compliance_testing.start_compliance(
            compliance_url, bootstrap, migrate_first=False, jwks_file=jwks
        )
        stack.push_async_callback(compliance.stop, 0)
        scheduling = await scheduling_testing.start_scheduling(
            scheduling_url,
            bootstrap,
            migrate_first=False,
            jwks_file=jwks,
            compliance_target=f"127.0.0.1:{compliance.port}",
            compliance_deadline_seconds=5.0,
        )
        stack.push_async_callback(scheduling.running.stop, 0)
        billing = await billing_testing.start_billing(billing_url, bootstrap, jwks_file=jwks)
        stack.push_async_callback(billing.stop, 0)
        messaging = await messaging_testing.start_messaging(messaging_url, bootstrap, jwks_file=jwks)
        stack.push_async_callback(messaging.running.stop, 0)
        directory = await directory_testing.start_directory(
            directory_url,
            bootstrap,
            migrate_first=False,
            jwks_file=jwks,
            compliance_target=f"127.0.0.1:{compliance.port}",
            compliance_deadline_seconds=5.0,
            scheduling_target=f"127.0.0.1:{scheduling.port}",
        )
        stack.push_async_callback(directory.stop, 0)
        yield {
            "identity": identity,
            "compliance": compliance,
            "scheduling": scheduling.running,
            "billing": billing,
            "messaging": messaging.running,
            "directory": directory,
        }


@contextlib.asynccontextmanager
async def running_platform(
    postgres_cluster: PostgresCluster,
    kafka_broker: Any,
    dev_keys: DevKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Platform]:
    async with (
        seeded_services(postgres_cluster, kafka_broker, dev_keys, tmp_path_factory, "contract") as by_name,
        contextlib.AsyncExitStack() as stack,
    ):
        services = list(by_name.values())
        channels = {}
        for running in services:
            channel = grpc.aio.insecure_channel(
                f"127.0.0.1:{running.port}",
                options=[("grpc.max_send_message_length", 64 * MEGABYTE)],
            )
            stack.push_async_callback(channel.close)
            channels[running.port] = channel
        yield Platform(services, channels, dev_keys)


def token(keys: DevKeys, role: str) -> str:
    now = int(time.time())
    claims = {
        "sub": SUBJECT_OF_ROLE[role],
        "practice": PRACTICE_ID,
        "roles": [role],
        "mfa": True,
        "iat": now,
        "exp": now + 900,  # services refuse tokens that live longer than 15 minutes
        "iss": "confide-identity",
        "aud": "confide",
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, keys.private_key_pem(), algorithm="EdDSA", headers={"kid": keys.kid})


def caller_role(access: Access | None) -> str | None:
    if access is None or access.public:
        return None
    if not access.roles:
        return "client"
    return next((r for r in ROLE_PREFERENCE if r in access.roles), sorted(access.roles)[0])


# --- baseline requests from descriptors ----------------------------------------------------------------


def rules_of(f: FieldDescriptor) -> validation_pb2.FieldRules:
    return f.GetOptions().Extensions[validation_pb2.field]


def _ts(message: Message, moment: datetime) -> None:
    message.FromDatetime(moment)  # type: ignore[attr-defined]


def string_baseline(f: FieldDescriptor) -> str:
    name = f.name
    if rules_of(f).time_zone or name.endswith("time_zone"):
        return "America/Los_Angeles"
    if name in ("client_id", "subject_id"):
        return ALEX_ID
    if name in ("clinician_id", "clinician_ids"):
        return CLINICIAN_ID
    if name == "practice_id":
        return PRACTICE_ID
    if name.endswith(("_id", "_ids")):
        return str(uuid.uuid4())
    if name == "idempotency_key":
        return "wire-boundaries-key"  # replaced per request
    if "email" in name:
        return "wire-boundaries@example.test"
    if "password" in name:
        return "Velvet-Compass-Orchard-77"
    if name.startswith("session_type_code"):
        return "psychotherapy_45"
    if name == "currency":
        return "USD"
    return "x"


def _int_baseline(f: FieldDescriptor) -> int:
    rules = rules_of(f)
    if rules.HasField("min") and rules.min > 0:
        return rules.min
    if rules.HasField("max") and rules.max < 1:
        return rules.max
    return 1


def fill(message: Message, depth: int, now: datetime) -> None:
    descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Timestamp":
        _ts(message, now + timedelta(days=3))
        return
    if descriptor.full_name == "confide.common.v1.TimeRange":
        _ts(message.start, now + timedelta(days=1))  # type: ignore[attr-defined]
        _ts(message.end, now + timedelta(days=8))  # type: ignore[attr-defined]
        return
    if descriptor.full_name == "confide.common.v1.LocalDate":
        day = (now + timedelta(days=30)).date()
        message.year, message.month, message.day = day.year, day.month, day.day  # type: ignore[attr-defined]
        return
    if descriptor.full_name.startswith("google.protobuf."):
        return  # FieldMask, Struct ...: empty is a valid value
    if depth > 4:
        return
    for f in descriptor.fields:
        if f.containing_oneof is not None and f.containing_oneof.fields[0] is not f:
            continue  # one member of each oneof
        value = baseline_value(f, message, depth, now)
        if value is None:
            continue
        if f.is_repeated:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                continue  # maps start empty
            container = getattr(message, f.name)
            if f.message_type is not None:
                fill(container.add(), depth + 1, now)
            else:
                container.append(value)
        elif f.message_type is not None:
            fill(getattr(message, f.name), depth + 1, now)
        else:
            setattr(message, f.name, value)


def baseline_value(f: Any, parent: Message | None, depth: int, now: datetime) -> Any:
    kind = f.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return True
    if kind == FieldDescriptor.TYPE_STRING:
        return string_baseline(f)
    if kind == FieldDescriptor.TYPE_BYTES:
        return b"x"
    if kind == FieldDescriptor.TYPE_BOOL:
        return None
    if kind == FieldDescriptor.TYPE_ENUM:
        assert f.enum_type is not None
        defined = [v.number for v in f.enum_type.values if v.number != 0]
        return defined[0] if defined else None
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return 1.0
    return _int_baseline(f)


def baseline(request_type: Descriptor, now: datetime) -> Message:
    """A plausible request of `request_type`; idempotent ones get a fresh key each time."""
    request = GetMessageClass(request_type)()
    fill(request, 0, now)
    if "idempotency_key" in request_type.fields_by_name:
        setattr(request, "idempotency_key", f"wire-{uuid.uuid4()}")  # noqa: B010
    return request


def methods(platform: Platform) -> Iterator[tuple[RunningService, ServiceDescriptor, MethodDescriptor]]:
    """Every RPC of every service, as the services registered them."""
    pool = descriptor_pool.Default()
    for running in platform.services:
        for name in running.context.service_names:
            service = pool.FindServiceByName(name)
            for method in service.methods:
                yield running, service, method
