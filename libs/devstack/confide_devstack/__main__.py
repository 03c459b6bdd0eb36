"""Command line of the dev stack.

python -m confide_devstack run                 # `make run`: Kafka, PostgreSQL, topics, services
python -m confide_devstack run --prometheus    # `make run PROMETHEUS=1`: and Prometheus scraping them
python -m confide_devstack topics-manifests    # Strimzi KafkaTopic YAML from protos/topics.yaml
python -m confide_devstack fetch-kafka         # download the broker jars now (e.g. to warm a CI cache)
python -m confide_devstack dev-keys [DIR]      # create/print the dev signing key and JWKS
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from confide_devstack._util import DevstackError, repo_root
from confide_devstack.topics import (
    TopicRegistryError,
    default_registry_path,
    load_topics,
    render_strimzi_manifests,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m confide_devstack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the whole local stack in the foreground (Ctrl-C stops it)")
    run.add_argument("--run-dir", type=Path, help="run folder (default: $CONFIDE_RUN_DIR or .run/local)")
    run.add_argument(
        "--prometheus",
        action="store_true",
        help="also start Prometheus scraping every service, with the cluster's rules "
        "(port $CONFIDE_PROMETHEUS_PORT or 9090)",
    )

    manifests = sub.add_parser("topics-manifests", help="print Strimzi KafkaTopic manifests of the registry")
    manifests.add_argument("--registry", type=Path, help="topic registry (default: protos/topics.yaml)")
    manifests.add_argument(
        "--cluster", default="confide", help="Strimzi Kafka cluster (label strimzi.io/cluster)"
    )
    manifests.add_argument("--namespace", help="metadata.namespace (default: none, set by kustomize)")
    manifests.add_argument("--replicas", type=int, default=3)
    manifests.add_argument(
        "--min-insync-replicas", type=int, help="topic min.insync.replicas (default: min(2, replicas))"
    )

    sub.add_parser("fetch-kafka", help="fetch the Kafka broker jars into .cache/ (no-op when present)")

    keys = sub.add_parser("dev-keys", help="create the dev signing key and JWKS (no-op when present)")
    keys.add_argument("directory", nargs="?", type=Path, help="default: .run/local/dev-keys")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s devstack: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    try:
        if args.command == "run":
            from confide_devstack.stack import StackConfig, run_stack

            config = StackConfig.from_env(run_dir=args.run_dir, prometheus=args.prometheus)
            return asyncio.run(run_stack(config))
        if args.command == "topics-manifests":
            registry = args.registry or default_registry_path()
            try:
                source = str(registry.resolve().relative_to(repo_root()))
            except ValueError:
                source = str(registry)
            sys.stdout.write(
                render_strimzi_manifests(
                    load_topics(registry),
                    cluster=args.cluster,
                    namespace=args.namespace,
                    replicas=args.replicas,
                    min_insync_replicas=args.min_insync_replicas or min(2, args.replicas),
                    source=source,
                )
            )
            return 0
        if args.command == "fetch-kafka":
            from confide_devstack.kafka import ensure_kafka_libs

            sys.stdout.write(f"{ensure_kafka_libs()}\n")
            return 0
        if args.command == "dev-keys":
            from confide_devstack.devkeys import ensure_dev_keys

            keys_dir = args.directory or repo_root() / ".run" / "local" / "dev-keys"
            dev = ensure_dev_keys(keys_dir)
            sys.stdout.write(
                f"private key {dev.private_key_path}\njwks        {dev.jwks_path}\nkid         {dev.kid}\n"
            )
            return 0
    except (DevstackError, TopicRegistryError, ValueError) as exc:
        logging.getLogger("confide_devstack").error("%s", exc)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
