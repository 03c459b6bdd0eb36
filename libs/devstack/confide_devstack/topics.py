"""The topic registry (``protos/topics.yaml``): parsed, validated, created in Kafka, rendered for Strimzi.

The registry is the single source for topic creation in the dev stack, in tests and for the
Kubernetes ``KafkaTopic`` manifests, so a mistake in it must fail loudly and early, naming the
topic: `load_topics` validates names (``confide.<service>.<stream>.v1``), partitions, retention,
cleanup policy, kinds, producers and that every consuming service has its dead-letter topic.

`ensure_topics` is idempotent: missing topics are created with their partitions and configs,
existing ones are left alone except that partitions are added when the registry grew (Kafka
cannot remove partitions, and changing retention of a live topic is an operator's decision).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from confide_devstack._util import repo_root

log = logging.getLogger(__name__)

TOPIC_NAME_RE = re.compile(r"^confide\.(?P<service>[a-z][a-z0-9-]*)\.(?P<stream>[a-z][a-z0-9-]*)\.v1$")
SERVICE_RE = re.compile(r"^[a-z][a-z0-9-]*$")
EVENT_TYPE_RE = re.compile(r"^confide\.[a-z][a-z0-9_]*\.v[0-9]+\.[A-Z][A-Za-z0-9]*$")
CLEANUP_POLICIES = frozenset({"delete", "compact", "compact,delete", "delete,compact"})
KINDS = frozenset({"events", "dlq"})
ANY_PRODUCER = "*"

_DEFAULT_KEYS = frozenset({"partitions", "retention_ms", "cleanup_policy"})
_TOPIC_KEYS = frozenset(
    {"name", "producer", "consumers", "partitions", "retention_ms", "cleanup_policy", "event_types", "kind"}
)


class TopicRegistryError(ValueError):
    """The registry is malformed; the message names the file and the topic."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic of the registry, with defaults applied."""

    name: str
    producer: str
    consumers: tuple[str, ...]
    partitions: int
    retention_ms: int
    cleanup_policy: str
    event_types: tuple[str, ...] = ()
    kind: str = "events"

    @property
    def service(self) -> str:
        """The owning segment of the name (``identity`` in ``confide.identity.users.v1``)."""
        match = TOPIC_NAME_RE.match(self.name)
        assert match is not None  # validated on construction by load_topics
        return match["service"]

    @property
    def stream(self) -> str:
        match = TOPIC_NAME_RE.match(self.name)
        assert match is not None
        return match["stream"]

    def configs(self) -> dict[str, str]:
        """Kafka topic configs derived from the registry entry."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


@dataclass(frozen=True, slots=True)
class TopicDefaults:
    partitions: int = 6
    retention_ms: int = 604_800_000
    cleanup_policy: str = "delete"


@dataclass(frozen=True, slots=True)
class EnsureResult:
    """What `ensure_topics` did: topics created, topics whose partitions were increased."""

    created: tuple[str, ...] = ()
    grown: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


def default_registry_path() -> Path:
    return repo_root() / "protos" / "topics.yaml"


def load_topics(path: Path | None = None) -> tuple[TopicSpec, ...]:
    """Read and validate the registry (default ``protos/topics.yaml``)."""
    path = path or default_registry_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopicRegistryError(f"{path}: cannot read the topic registry: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TopicRegistryError(f"{path}: not valid YAML: {exc}") from exc
    return parse_topics(data, source=str(path))


def parse_topics(data: Any, *, source: str = "topics.yaml") -> tuple[TopicSpec, ...]:
    """Validate an already-parsed registry document and return its topics in file order."""
    if not isinstance(data, Mapping):
        raise TopicRegistryError(f"{source}: expected a mapping with `defaults` and `topics`")
    unknown = set(data) - {"defaults", "topics"}
    if unknown:
        raise TopicRegistryError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
    defaults = _parse_defaults(data.get("defaults") or {}, source)
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise TopicRegistryError(f"{source}: `topics` must be a non-empty list")

    specs: list[TopicSpec] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_topics, start=1):
        spec = _parse_topic(raw, index, defaults, source)
        if spec.name in seen:
            raise TopicRegistryError(
                f"{source}: topic {spec.name!r} (#{index}) is declared twice (first as #{seen[spec.name]})"
            )
        seen[spec.name] = index
        specs.append(spec)

    # Every consuming service needs its dead-letter topic for poison events.
    dlqs = {s.service for s in specs if s.kind == "dlq"}
    for spec in specs:
        for consumer in spec.consumers:
            if consumer not in dlqs:
                raise TopicRegistryError(
                    f"{source}: topic {spec.name!r}: consumer {consumer!r} has no dead-letter topic "
                    f"'confide.{consumer}.dlq.v1' (kind: dlq) in the registry"
                )
    return tuple(specs)


def _parse_defaults(raw: Any, source: str) -> TopicDefaults:
    if not isinstance(raw, Mapping):
        raise TopicRegistryError(f"{source}: `defaults` must be a mapping")
    unknown = set(raw) - _DEFAULT_KEYS
    if unknown:
        raise TopicRegistryError(f"{source}: unknown key(s) in `defaults`: {sorted(unknown)}")
    where = f"{source}: defaults"
    base = TopicDefaults()
    return TopicDefaults(
        partitions=_partitions(raw.get("partitions", base.partitions), where),
        retention_ms=_retention(raw.get("retention_ms", base.retention_ms), where),
        cleanup_policy=_cleanup(raw.get("cleanup_policy", base.cleanup_policy), where),
    )


def _parse_topic(raw: Any, index: int, defaults: TopicDefaults, source: str) -> TopicSpec:
    if not isinstance(raw, Mapping):
        raise TopicRegistryError(f"{source}: topic #{index} must be a mapping")
    name = raw.get("name")
    where = f"{source}: topic {name!r} (#{index})" if isinstance(name, str) else f"{source}: topic #{index}"
    if not isinstance(name, str):
        raise TopicRegistryError(f"{where}: `name` is required")
    unknown = set(raw) - _TOPIC_KEYS
    if unknown:
        raise TopicRegistryError(f"{where}: unknown key(s) {sorted(unknown)}")
    match = TOPIC_NAME_RE.match(name)
    if match is None:
        raise TopicRegistryError(
            f"{where}: name must be confide.<service>.<stream>.v1 (lowercase letters, digits, '-')"
        )

    kind = raw.get("kind", "events")
    if kind not in KINDS:
        raise TopicRegistryError(f"{where}: kind must be one of {sorted(KINDS)}, got {kind!r}")

    producer = raw.get("producer")
    if not isinstance(producer, str) or not (producer == ANY_PRODUCER or SERVICE_RE.match(producer)):
        raise TopicRegistryError(f"{where}: `producer` must be a service name or '*', got {producer!r}")
    if producer != ANY_PRODUCER and producer != match["service"]:
        raise TopicRegistryError(
            f"{where}: a topic is named after its producer; expected confide.{producer}.<stream>.v1"
        )

    consumers = _names(raw.get("consumers", []), where, "consumers", SERVICE_RE)
    event_types = _names(raw.get("event_types", []), where, "event_types", EVENT_TYPE_RE)
    if kind == "dlq":
        if match["stream"] != "dlq" or producer == ANY_PRODUCER:
            raise TopicRegistryError(
                f"{where}: a dead-letter topic is named confide.<consumer>.dlq.v1 after its one consumer"
            )
    else:
        if match["stream"] == "dlq":
            raise TopicRegistryError(f"{where}: the 'dlq' stream is reserved for kind: dlq")
        if not event_types:
            raise TopicRegistryError(f"{where}: `event_types` must list the event messages on this topic")

    return TopicSpec(
        name=name,
        producer=producer,
        consumers=consumers,
        partitions=_partitions(raw.get("partitions", defaults.partitions), where),
        retention_ms=_retention(raw.get("retention_ms", defaults.retention_ms), where),
        cleanup_policy=_cleanup(raw.get("cleanup_policy", defaults.cleanup_policy), where),
        event_types=event_types,
        kind=kind,
    )


def _partitions(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TopicRegistryError(f"{where}: partitions must be an integer >= 1, got {value!r}")
    return value


def _retention(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (value == -1 or value > 0):
        raise TopicRegistryError(f"{where}: retention_ms must be -1 (forever) or > 0, got {value!r}")
    return value


def _cleanup(value: Any, where: str) -> str:
    if value not in CLEANUP_POLICIES:
        raise TopicRegistryError(
            f"{where}: cleanup_policy must be one of {sorted(CLEANUP_POLICIES)}, got {value!r}"
        )
    return str(value)


def _names(value: Any, where: str, key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TopicRegistryError(f"{where}: `{key}` must be a list of strings")
    bad = [v for v in value if not pattern.match(v)]
    if bad:
        raise TopicRegistryError(f"{where}: invalid `{key}` entries {bad}")
    if len(set(value)) != len(value):
        raise TopicRegistryError(f"{where}: `{key}` has duplicates")
    return tuple(value)


# -- Kafka ----------------------------------------------------------------------------------------


async def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> EnsureResult:
    """Create missing topics, grow partitions of existing ones if the registry asks for more.

    Existing topics keep their configs (retention and cleanup are changed by operators, not by a
    developer's `make run`). Safe to call concurrently: a topic created meanwhile is left alone.
    """
    wanted = {s.name: s for s in specs}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="confide-devstack",
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [s for name, s in wanted.items() if name not in existing]
        created: list[str] = []
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=s.name,
                        num_partitions=s.partitions,
                        replication_factor=replication_factor,
                        topic_configs=s.configs(),
                    )
                    for s in missing
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            for topic, code, message in _topic_errors(response):
                if code == 0:
                    created.append(topic)
                elif for_code(code) is TopicAlreadyExistsError:
                    continue
                else:
                    raise for_code(code)(f"creating topic {topic!r} failed: {message}")

        if created:
            await _wait_for_leaders(admin, created, timeout_s)
        present = [name for name in wanted if name not in created]
        grown: list[str] = []
        if present:
            counts = _partition_counts(await admin.describe_topics(present))
            grow = {
                name: NewPartitions(total_count=wanted[name].partitions)
                for name in present
                if counts.get(name, 0) and counts[name] < wanted[name].partitions
            }
            if grow:
                await admin.create_partitions(grow, timeout_ms=int(timeout_s * 1000))
                grown = sorted(grow)
        if created or grown:
            log.debug("topics: %d created, %d grown", len(created), len(grown))
        unchanged = tuple(n for n in wanted if n not in created and n not in grown)
        return EnsureResult(created=tuple(created), grown=tuple(grown), unchanged=unchanged)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 1,
    *,
    configs: Mapping[str, str] | None = None,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> str:
    """Create one topic (error if it exists) and wait until every partition has a leader."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="confide-devstack",
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor, topic_configs=dict(configs or {}))],
            timeout_ms=int(timeout_s * 1000),
        )
        for topic, code, message in _topic_errors(response):
            if code != 0:
                raise for_code(code)(f"creating topic {topic!r} failed: {message}")
        await _wait_for_leaders(admin, [name], timeout_s)
        return name
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def _wait_for_leaders(admin: Any, names: Sequence[str], timeout_s: float) -> None:
    """Block until the new topics' partitions all have a leader, so a first produce succeeds at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(list(names))
        if len(described) == len(names) and all(
            t.get("error_code", 0) == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics {list(names)} have no partition leaders after {timeout_s:.0f}s")
        await asyncio.sleep(0.1)


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) from any CreateTopicsResponse version."""
    out: list[tuple[str, int, str | None]] = []
    for entry in response.topic_errors:
        topic, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 and isinstance(entry[2], str | None) else None
        out.append((topic, code, message))
    return out


def _partition_counts(described: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return {t["topic"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}


# -- Strimzi --------------------------------------------------------------------------------------

STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"
LABEL_PREFIX = "confide.dev"


def strimzi_topics(
    specs: Iterable[TopicSpec],
    *,
    cluster: str = "confide",
    namespace: str | None = None,
    replicas: int = 3,
    min_insync_replicas: int | None = 2,
) -> list[dict[str, Any]]:
    """One Strimzi ``KafkaTopic`` resource (as a dict) per registry topic.

    Production defaults: 3 replicas and ``min.insync.replicas=2`` so an idempotent producer with
    acks=all survives one broker down; overlays with one broker pass ``replicas=1``. Producer,
    consumers and event types go to annotations (label values cannot hold '*' or lists).
    """
    if replicas < 1:
        raise ValueError("replicas must be >= 1")
    if min_insync_replicas is not None and not 1 <= min_insync_replicas <= replicas:
        raise ValueError("min_insync_replicas must be between 1 and replicas")
    resources: list[dict[str, Any]] = []
    for spec in specs:
        config: dict[str, Any] = {"retention.ms": spec.retention_ms, "cleanup.policy": spec.cleanup_policy}
        if min_insync_replicas is not None:
            config["min.insync.replicas"] = min_insync_replicas
        metadata: dict[str, Any] = {"name": spec.name}
        if namespace:
            metadata["namespace"] = namespace
        metadata["labels"] = {
            "strimzi.io/cluster": cluster,
            "app.kubernetes.io/part-of": "confide",
            f"{LABEL_PREFIX}/owner": spec.service,
            f"{LABEL_PREFIX}/topic-kind": spec.kind,
        }
        annotations = {
            f"{LABEL_PREFIX}/producer": spec.producer,
            f"{LABEL_PREFIX}/consumers": ",".join(spec.consumers),
        }
        if spec.event_types:
            annotations[f"{LABEL_PREFIX}/event-types"] = ",".join(spec.event_types)
        metadata["annotations"] = annotations
        resources.append(
            {
                "apiVersion": STRIMZI_API_VERSION,
                "kind": "KafkaTopic",
                "metadata": metadata,
                "spec": {
                    "topicName": spec.name,
                    "partitions": spec.partitions,
                    "replicas": replicas,
                    "config": config,
                },
            }
        )
    return resources


def render_strimzi_manifests(
    specs: Iterable[TopicSpec],
    *,
    cluster: str = "confide",
    namespace: str | None = None,
    replicas: int = 3,
    min_insync_replicas: int | None = 2,
    source: str = "protos/topics.yaml",
) -> str:
    """The registry as a multi-document YAML of ``KafkaTopic`` resources (stable output, diffable)."""
    resources = strimzi_topics(
        specs,
        cluster=cluster,
        namespace=namespace,
        replicas=replicas,
        min_insync_replicas=min_insync_replicas,
    )
    header = (
        f"# Generated from {source} by `make k8s-topics`. Do not edit: change the registry and\n"
        "# regenerate (a test fails while this file is stale).\n"
    )
    docs = [
        yaml.dump(r, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False, width=1000)
        for r in resources
    ]
    return header + "".join(f"---\n{doc}" for doc in docs)


class _IndentedDumper(yaml.SafeDumper):
    """Block style with sequences indented under their key (yamllint's default `indentation`)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)
