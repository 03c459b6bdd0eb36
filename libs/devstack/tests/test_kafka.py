"""The real Kafka broker: records round-trip, registry topics match the registry, restart keeps data."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from confide_devstack._util import pid_alive, port_is_free
from confide_devstack.kafka import KafkaBroker
from confide_devstack.pytest_plugin import new_topic
from confide_devstack.topics import TopicSpec, ensure_topics, load_topics

pytestmark = pytest.mark.integration


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    # Idempotent producer with acks=all, as the outbox relay uses it (needs InitProducerId).
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=[("ce_type", b"confide.test.v1.Thing")])
    finally:
        await producer.stop()


async def _consume_one(
    bootstrap: str, topic: str
) -> tuple[bytes | None, bytes | None, dict[str, bytes], int]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
        await consumer.commit()
        tp = TopicPartition(topic, record.partition)
        end = (await consumer.end_offsets([tp]))[tp]
        return record.key, record.value, dict(record.headers), end
    finally:
        await consumer.stop()


async def test_produced_record_is_consumed_back(kafka_broker: KafkaBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = await new_topic(bootstrap, partitions=3)
    await _produce(bootstrap, topic, b"aggregate-1", b"payload")
    key, value, headers, end_offset = await _consume_one(bootstrap, topic)
    assert (key, value) == (b"aggregate-1", b"payload")
    assert headers["ce_type"] == b"confide.test.v1.Thing"
    assert end_offset == 1


async def test_broker_listens_on_loopback_only(kafka_broker: KafkaBroker) -> None:
    assert kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"
    props = kafka_broker.properties_file.read_text(encoding="utf-8")
    assert "auto.create.topics.enable=false" in props
    assert "0.0.0.0" not in props


async def test_registry_topics_have_declared_partitions_and_configs(kafka_broker: KafkaBroker) -> None:
    specs = load_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([s.name for s in specs])
        responses = await admin.describe_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, s.name, {"retention.ms": None, "cleanup.policy": None}
                )
                for s in specs
            ]
        )
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert partitions == {s.name: s.partitions for s in specs}
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            assert resource["error_code"] == 0
            entries = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
            configs[resource["resource_name"]] = entries
    for spec in specs:
        assert configs[spec.name]["retention.ms"] == str(spec.retention_ms), spec.name
        assert configs[spec.name]["cleanup.policy"] == spec.cleanup_policy, spec.name
    assert configs["confide.audit.events.v1"]["retention.ms"] == "-1"


async def test_ensure_topics_is_idempotent_and_grows_partitions(kafka_broker: KafkaBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    spec = TopicSpec(
        name=f"confide.t{uuid.uuid4().hex[:8]}.things.v1",
        producer="test",
        consumers=(),
        partitions=2,
        retention_ms=3_600_000,
        cleanup_policy="delete",
        event_types=("confide.test.v1.Thing",),
    )
    assert (await ensure_topics(bootstrap, [spec])).created == (spec.name,)
    again = await ensure_topics(bootstrap, [spec])
    assert (again.created, again.grown, again.unchanged) == ((), (), (spec.name,))
    grown = await ensure_topics(bootstrap, [dataclasses.replace(spec, partitions=4)])
    assert grown.grown == (spec.name,)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([spec.name])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 4


@pytest.mark.slow
async def test_broker_stops_cleanly_and_restarts_with_its_data(devstack_run_dir: Path) -> None:
    broker = KafkaBroker(devstack_run_dir / "kafka-restart")
    await asyncio.to_thread(broker.start)
    try:
        topic = await new_topic(broker.bootstrap_servers)
        await _produce(broker.bootstrap_servers, topic, b"k", b"kept")
        pid = broker.pid
        assert pid is not None
        cluster_id = (broker.run_dir / "cluster.id").read_text(encoding="ascii")

        await asyncio.to_thread(broker.stop)
        assert not pid_alive(pid)
        assert port_is_free(broker.port)
        assert port_is_free(broker.controller_port)
        assert not broker.is_running()

        await asyncio.to_thread(broker.start)
        assert (broker.run_dir / "cluster.id").read_text(encoding="ascii") == cluster_id
        key, value, _, _ = await _consume_one(broker.bootstrap_servers, topic)
        assert (key, value) == (b"k", b"kept")
    finally:
        await asyncio.to_thread(broker.stop)
    assert broker.pid is None
