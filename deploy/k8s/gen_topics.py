#!/usr/bin/env python3
"""Write the Strimzi ``KafkaTopic`` and ``KafkaUser`` manifests from the registry (``protos/topics.yaml``).

    python deploy/k8s/gen_topics.py            # (re)write deploy/k8s/base/kafka/{topics,users}.yaml
    python deploy/k8s/gen_topics.py --check    # exit 1 if a committed file is out of date

One KafkaUser per deployable (every folder in base/services/: the chassis gives each a producer),
authenticated with SCRAM-SHA-512, with ACLs derived from the registry: Write on the topics it produces
(its own streams, its DLQ, and ``producer: "*"`` topics such as the audit stream), Read on the topics
it consumes, on its DLQ (inspect and replay) and on identity's users topic (the chassis' revocation
watcher), and Read on its consumer groups (``<service>.`` prefix, the chassis' group ids).
Strimzi puts the password in a Secret named after the user.

The registry is read and rendered by `confide_devstack.topics`, the same code that creates the
topics of the dev stack and the tests, so the cluster and the laptop cannot disagree. Every topic
gets 3 replicas and ``min.insync.replicas: 2`` (acks=all survives one broker down); the local
overlay patches both to 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from confide_devstack.topics import TopicRegistryError, load_topics, render_strimzi_manifests

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "protos" / "topics.yaml"
OUTPUT = ROOT / "deploy" / "k8s" / "base" / "kafka" / "topics.yaml"
SERVICES = ROOT / "deploy" / "k8s" / "base" / "services"
CLUSTER = "confide"
# Every service but its producer reads identity's users topic without a consumer group, to refuse the
# tokens of deactivated users (confide_chassis.revocation.USERS_TOPIC; a test keeps the two equal).
REVOCATION_TOPIC = "confide.identity.users.v1"


def deployables(services: Path = SERVICES) -> list[str]:
    return sorted(p.name for p in services.iterdir() if (p / "kustomization.yaml").exists())


class _IndentedDumper(yaml.SafeDumper):
    """Sequences indented under their key, as yamllint (deploy/k8s/.yamllint.yaml) wants them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _acl(kind: str, name: str, operations: list[str], pattern: str = "literal") -> dict[str, object]:
    return {
        "resource": {"type": kind, "name": name, "patternType": pattern},
        "operations": operations,
        "host": "*",
    }


def render_users(registry: Path = REGISTRY, services: Path = SERVICES) -> str:
    topics = load_topics(registry)
    docs = []
    for service in deployables(services):
        acls = []
        for topic in topics:
            operations = []
            if topic.producer in (service, "*"):
                operations.append("Write")
            reads_revocations = topic.name == REVOCATION_TOPIC and topic.producer != service
            if (
                service in topic.consumers
                or reads_revocations
                or (topic.kind == "dlq" and topic.producer == service)
            ):
                operations.append("Read")
            if operations:
                acls.append(_acl("topic", topic.name, [*operations, "Describe"]))
        acls.append(_acl("group", f"{service}.", ["Read", "Describe"], pattern="prefix"))
        docs.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaUser",
                "metadata": {
                    "name": service,
                    "labels": {
                        "strimzi.io/cluster": CLUSTER,
                        "app.kubernetes.io/name": service,
                        "app.kubernetes.io/part-of": "confide",
                    },
                },
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {"type": "simple", "acls": acls},
                },
            }
        )
    header = (
        "# Generated from protos/topics.yaml and base/services/ by `make k8s-topics`. Do not edit: change\n"
        "# the registry and regenerate (a test fails while this file is stale).\n"
    )
    return header + "".join("---\n" + yaml.dump(d, Dumper=_IndentedDumper, sort_keys=False) for d in docs)


def render(registry: Path = REGISTRY) -> str:
    return render_strimzi_manifests(load_topics(registry), source="protos/topics.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=REGISTRY)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--users-output", type=Path, default=OUTPUT.with_name("users.yaml"))
    parser.add_argument("--check", action="store_true", help="fail if --output is not up to date")
    args = parser.parse_args(argv)
    try:
        outputs = {args.output: render(args.registry), args.users_output: render_users(args.registry)}
    except (OSError, yaml.YAMLError, TopicRegistryError) as exc:
        sys.stderr.write(f"gen_topics: {args.registry}: {exc}\n")
        return 2
    stale = False
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            sys.stderr.write(f"gen_topics: {path} is stale: run python deploy/k8s/gen_topics.py\n")
            stale = True
        else:
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"gen_topics: wrote {path}\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
