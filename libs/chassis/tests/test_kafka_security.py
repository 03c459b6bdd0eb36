"""Kafka security settings reach every Kafka client the chassis builds (producer and consumers)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.ext.asyncio import async_sessionmaker

from confide_chassis.consumer import IdempotentConsumer
from confide_chassis.kafka import kafka_security_options
from confide_chassis.outbox import new_producer
from confide_chassis.revocation import Revocations, RevocationWatcher
from confide_chassis.settings import ConfigurationError, ServiceSettings

KAFKA_VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> ServiceSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings()


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    """A PEM CA certificate like the one Strimzi publishes in <cluster>-cluster-ca-cert."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster-ca confide")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.stop()


def client_security(client: AIOKafkaProducer | AIOKafkaConsumer) -> dict[str, Any]:
    # The producer's inner client is `client`, the consumer's `_client` (aiokafka internals).
    inner = client.client if isinstance(client, AIOKafkaProducer) else client._client
    return {
        "protocol": inner._security_protocol,
        "mechanism": inner._sasl_mechanism,
        "username": inner._sasl_plain_username,
        "password": inner._sasl_plain_password,
        "ssl_context": inner._ssl_context,
    }


async def build_clients(
    options: dict[str, Any], made: list[Any]
) -> list[AIOKafkaProducer | AIOKafkaConsumer]:
    producer = new_producer("kafka:9093", client_id="test-producer", security=options)
    consumer = IdempotentConsumer(
        name="projector",
        service="test",
        topics=["confide.test.events.v1"],
        handler=lambda event, session: None,  # type: ignore[arg-type,return-value]
        sessions=async_sessionmaker(),
        bootstrap_servers="kafka:9093",
        dlq_topic="confide.test.dlq.v1",
        dlq_producer=producer,
        security=options,
    )
    made.extend([producer, consumer._consumer])
    # The revocation watcher (every service but identity) reads identity's users topic.
    watcher = RevocationWatcher(
        Revocations(max_token_lifetime=datetime.timedelta(minutes=15), leeway=datetime.timedelta(seconds=30)),
        bootstrap_servers="kafka:9093",
        client_id="test-revocations",
        security=options,
    )
    revocations = watcher._new_consumer()
    made.append(revocations)
    return [producer, consumer._consumer, revocations]


async def test_defaults_stay_plaintext(monkeypatch: pytest.MonkeyPatch, clients: list[Any]) -> None:
    options = kafka_security_options(settings_from(monkeypatch))
    assert options == {"security_protocol": "PLAINTEXT"}
    for client in await build_clients(options, clients):
        security = client_security(client)
        assert security["protocol"] == "PLAINTEXT"
        assert security["ssl_context"] is None


async def test_scram_over_tls_reaches_producer_and_consumer(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path, clients: list[Any]
) -> None:
    settings = settings_from(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="scheduling",
        KAFKA_SASL_PASSWORD="s3cret-from-strimzi",
        KAFKA_SSL_CAFILE=str(ca_file),
    )
    options = kafka_security_options(settings)
    for client in await build_clients(options, clients):
        security = client_security(client)
        assert security["protocol"] == "SASL_SSL"
        assert security["mechanism"] == "SCRAM-SHA-512"
        assert (security["username"], security["password"]) == ("scheduling", "s3cret-from-strimzi")
        # The brokers are verified against the cluster CA, with their host names.
        context = security["ssl_context"]
        assert context.check_hostname
        subjects = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
        assert {"commonName": "cluster-ca confide"} in subjects


def test_the_password_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, KAFKA_SASL_PASSWORD="s3cret-from-strimzi")
    assert "s3cret-from-strimzi" not in repr(settings)


def test_tls_without_sasl_uses_the_ca_only(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    options = kafka_security_options(
        settings_from(monkeypatch, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(ca_file))
    )
    assert set(options) == {"security_protocol", "ssl_context"}


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_sasl_without_credentials_refuses_to_start(monkeypatch: pytest.MonkeyPatch, protocol: str) -> None:
    settings = settings_from(monkeypatch, KAFKA_SECURITY_PROTOCOL=protocol, KAFKA_SASL_USERNAME="billing")
    with pytest.raises(ConfigurationError, match="KAFKA_SASL_PASSWORD"):
        kafka_security_options(settings)


def test_an_unreadable_ca_file_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = settings_from(
        monkeypatch, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(tmp_path / "missing.crt")
    )
    with pytest.raises(ConfigurationError, match="KAFKA_SSL_CAFILE"):
        kafka_security_options(settings)


def test_a_ca_file_with_a_plaintext_protocol_is_a_mistake(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    settings = settings_from(monkeypatch, KAFKA_SSL_CAFILE=str(ca_file))
    with pytest.raises(ConfigurationError, match="does not use TLS"):
        kafka_security_options(settings)


def test_unknown_protocols_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"(?i)kafka_security_protocol"):
        settings_from(monkeypatch, KAFKA_SECURITY_PROTOCOL="TLS")
