"""python -m confidectl rollout --overlay deploy/k8s/overlays/<env> | status [--namespace confide]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from confidectl.kube import Cluster, connect
from confidectl.manifests import RolloutError, placeholder_values, plan, render
from confidectl.rollout import rollout
from confidectl.status import status


def refuse_placeholders(overlay: Path, *, allow: bool) -> None:
    """Staging and production must not go out with the committed ``*.example`` names."""
    placeholders = placeholder_values(overlay)
    if placeholders and overlay.name != "local" and not allow:
        raise RolloutError(
            f"{overlay / 'site.yaml'} still holds placeholder names ({', '.join(placeholders)}): "
            "set the environment's real hostnames first"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="confidectl", description="Deploy Confide and check its health.")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    commands = parser.add_subparsers(dest="command", required=True)
    roll = commands.add_parser(
        "rollout", help="render an overlay, apply it, migrate, wait, roll back on failure"
    )
    roll.add_argument("--overlay", type=Path, required=True, help="e.g. deploy/k8s/overlays/production")
    roll.add_argument("--migration-timeout", type=float, default=1200, help="seconds per migration Job")
    roll.add_argument(
        "--timeout", type=float, default=600, help="seconds for each Deployment to become available"
    )
    roll.add_argument(
        "--allow-placeholders",
        action="store_true",
        help="deploy although site.yaml still has *.example names (only sensible for the local overlay)",
    )
    check = commands.add_parser("status", help="health of Deployments, KafkaTopics and CNPG Clusters")
    check.add_argument("--namespace", default="confide")
    args = parser.parse_args(argv)
    try:
        if args.command == "rollout":
            refuse_placeholders(args.overlay, allow=args.allow_placeholders)
        cluster = Cluster(connect(args.kubeconfig, args.context))
        if args.command == "status":
            report = status(cluster, args.namespace)
            sys.stdout.write("".join(health.line() + "\n" for health in report))
            return 0 if all(h.healthy for h in report) else 1
        outcome = rollout(
            cluster,
            plan(render(args.overlay)),
            migration_timeout=args.migration_timeout,
            deployment_timeout=args.timeout,
            say=lambda line: sys.stdout.write(line + "\n"),
        )
        sys.stdout.write(f"rolled out: {len(outcome.applied)} objects, {len(outcome.migrated)} migrations\n")
        return 0
    except RolloutError as exc:
        sys.stderr.write(f"confidectl: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
