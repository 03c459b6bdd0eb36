"""Confide's local stack: real Kafka and PostgreSQL, topic registry, `make run` runner, pytest fixtures.

Used three ways, always with the same code so that what tests exercise is what developers run:

- ``make run`` → ``python -m confide_devstack run`` (`confide_devstack.stack`);
- the pytest session fixtures (`confide_devstack.pytest_plugin`), on free ports beside ``make run``;
- CI on a fresh machine, which only needs Python 3.11, a JDK 17 with Maven and PostgreSQL 15.
"""

from confide_devstack._util import DevstackError
from confide_devstack.devkeys import DevKeys, ensure_dev_keys
from confide_devstack.kafka import KAFKA_VERSION, KafkaBroker, KafkaError, ensure_kafka_libs
from confide_devstack.postgres import PostgresCluster, PostgresError
from confide_devstack.topics import (
    TopicRegistryError,
    TopicSpec,
    create_topic,
    ensure_topics,
    load_topics,
    parse_topics,
    render_strimzi_manifests,
    strimzi_topics,
)

__all__ = [
    "KAFKA_VERSION",
    "DevKeys",
    "DevstackError",
    "KafkaBroker",
    "KafkaError",
    "PostgresCluster",
    "PostgresError",
    "TopicRegistryError",
    "TopicSpec",
    "create_topic",
    "ensure_dev_keys",
    "ensure_kafka_libs",
    "ensure_topics",
    "load_topics",
    "parse_topics",
    "render_strimzi_manifests",
    "strimzi_topics",
]
