"""``python -m confide_chassis.probe``: exit 0 when this container's service is ready, 1 otherwise.

The image's HEALTHCHECK (deploy/docker/Dockerfile) for Docker and Compose; Kubernetes uses its own
gRPC probes. Asks grpc.health.v1 for service ``""`` (ready: database and Kafka reachable) on
127.0.0.1 at the service's gRPC port: ``<NAME>_GRPC_PORT`` if set, else the default of the
service's settings class (``confide_<name>.settings``). The service is ``CONFIDE_SERVICE`` (set
by the image) or the first argument.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Mapping, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from confide_chassis.settings import ServiceSettings

TIMEOUT_S = 2.0


def grpc_port(service: str, environ: Mapping[str, str]) -> int:
    """The port the service listens on, as its settings would read it."""
    prefix = service.upper().replace("-", "_")
    explicit = environ.get(f"{prefix}_GRPC_PORT")
    if explicit:
        return int(explicit)
    module = importlib.import_module(f"confide_{service.replace('-', '_')}.settings")
    for _, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, ServiceSettings) and value is not ServiceSettings:
            default = value.model_fields["grpc_port"].default
            if isinstance(default, int) and default > 0:
                return default
    raise LookupError(f"no gRPC port for {service}: set {prefix}_GRPC_PORT")


async def check(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_S
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    service = args[0] if args else env.get("CONFIDE_SERVICE", "")
    if not service:
        sys.stderr.write("usage: python -m confide_chassis.probe <service> (or set CONFIDE_SERVICE)\n")
        return 2
    try:
        port = grpc_port(service, env)
    except (LookupError, ImportError, ValueError) as exc:
        sys.stderr.write(f"probe: {exc}\n")
        return 2
    ready = asyncio.run(check(port))
    sys.stdout.write(f"{service} on 127.0.0.1:{port}: {'SERVING' if ready else 'not ready'}\n")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
