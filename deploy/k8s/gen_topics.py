#!/usr/bin/env python3
"""Write the Strimzi ``KafkaTopic`` manifests from the topic registry (``protos/topics.yaml``).

    python deploy/k8s/gen_topics.py            # (re)write deploy/k8s/base/kafka/topics.yaml
    python deploy/k8s/gen_topics.py --check    # exit 1 if the committed file is out of date

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


def render(registry: Path = REGISTRY) -> str:
    return render_strimzi_manifests(load_topics(registry), source="protos/topics.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=REGISTRY)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if --output is not up to date")
    args = parser.parse_args(argv)
    try:
        text = render(args.registry)
    except (OSError, yaml.YAMLError, TopicRegistryError) as exc:
        sys.stderr.write(f"gen_topics: {args.registry}: {exc}\n")
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            sys.stderr.write(f"gen_topics: {args.output} is stale: run python deploy/k8s/gen_topics.py\n")
            return 1
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        sys.stdout.write(f"gen_topics: wrote {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
