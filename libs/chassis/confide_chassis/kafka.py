"""Kafka client security from the settings: the keyword arguments every aiokafka client gets.

The chassis creates its producer (outbox relay, DLQ, readiness check) and consumers with these, so a
service never builds a Kafka client of its own. PLAINTEXT (the default) adds nothing; SSL verifies the
brokers against ``KAFKA_SSL_CAFILE`` (or the system CAs); SASL_* authenticate with a username and
password (Strimzi KafkaUser with SCRAM-SHA-512 in staging and production).
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from confide_chassis.settings import ConfigurationError, ServiceSettings


def kafka_security_options(settings: ServiceSettings) -> dict[str, Any]:
    """``security_protocol`` and, as the protocol needs them, ``ssl_context`` and SASL credentials."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        try:
            options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
        except OSError as exc:
            raise ConfigurationError(
                f"KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile!r} cannot be read as a PEM CA bundle: {exc}"
            ) from exc
    elif settings.kafka_ssl_cafile:
        raise ConfigurationError(
            f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS"
        )
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        if not settings.kafka_sasl_username or not password:
            raise ConfigurationError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = password
    return options
