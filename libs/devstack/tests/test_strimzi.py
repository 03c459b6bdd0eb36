"""Strimzi KafkaTopic manifests rendered from the registry (what deploy/k8s/base/kafka/topics.yaml holds)."""

from __future__ import annotations

import re

import pytest
import yaml

from confide_devstack.__main__ import main
from confide_devstack.topics import load_topics, render_strimzi_manifests, strimzi_topics

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_every_registry_topic_becomes_a_kafkatopic() -> None:
    specs = load_topics()
    docs = [d for d in yaml.safe_load_all(render_strimzi_manifests(specs)) if d is not None]
    assert [d["spec"]["topicName"] for d in docs] == [s.name for s in specs]
    for doc, spec in zip(docs, specs, strict=True):
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert doc["kind"] == "KafkaTopic"
        meta = doc["metadata"]
        assert meta["name"] == spec.name
        assert DNS_SUBDOMAIN.match(meta["name"])
        assert len(meta["name"]) <= 253
        assert meta["labels"]["strimzi.io/cluster"] == "confide"
        assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in meta["labels"].values())
        assert meta["annotations"]["confide.dev/producer"] == spec.producer
        assert doc["spec"]["partitions"] == spec.partitions
        assert doc["spec"]["replicas"] == 3
        assert doc["spec"]["config"] == {
            "retention.ms": spec.retention_ms,
            "cleanup.policy": spec.cleanup_policy,
            "min.insync.replicas": 2,
        }
        assert "namespace" not in meta


def test_rendering_is_deterministic_and_marked_generated() -> None:
    specs = load_topics()
    first = render_strimzi_manifests(specs)
    assert first == render_strimzi_manifests(specs)
    assert first.startswith("# Generated from protos/topics.yaml")


def test_single_broker_overlay_and_namespace() -> None:
    audit = next(s for s in load_topics() if s.name == "confide.audit.events.v1")
    (doc,) = strimzi_topics([audit], cluster="local", namespace="confide", replicas=1, min_insync_replicas=1)
    assert doc["metadata"]["namespace"] == "confide"
    assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "local"
    assert doc["spec"]["replicas"] == 1
    assert doc["spec"]["partitions"] == 12
    assert doc["spec"]["config"]["retention.ms"] == -1
    assert doc["spec"]["config"]["min.insync.replicas"] == 1


def test_inconsistent_replication_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_insync_replicas"):
        strimzi_topics(load_topics(), replicas=1, min_insync_replicas=2)


def test_cli_prints_the_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics-manifests", "--replicas", "1"]) == 0
    out = capsys.readouterr().out
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    assert len(docs) == len(load_topics())
    assert {d["spec"]["replicas"] for d in docs} == {1}
    assert {d["spec"]["config"]["min.insync.replicas"] for d in docs} == {1}
