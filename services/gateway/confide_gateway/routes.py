"""Which RPCs the gateway serves, read from the protos: every method whose access rule says
`gateway: true` (protos/confide/common/v1/access.proto). A new public RPC needs no gateway code."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.descriptor import FileDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import confide
from confide_chassis.auth import Access


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # "/confide.billing.v1.AccountService/GetAccount"
    service: str  # "confide.billing.v1.AccountService"
    method: str  # "GetAccount"
    upstream: str  # the owning service: "billing" (from the package confide.<area>.v1)
    input: type[Message]
    output: type[Message]
    server_streaming: bool
    access: Access


def confide_files() -> Iterator[FileDescriptor]:
    """Every generated `confide.*` module's file descriptor. The generated tree is a namespace
    package (no __init__ files), so it is walked on disk rather than with pkgutil."""
    for root in confide.__path__:
        for path in sorted(Path(root).rglob("*_pb2.py")):
            relative = path.relative_to(Path(root).parent).with_suffix("")
            yield importlib.import_module(".".join(relative.parts)).DESCRIPTOR


def _route(method: MethodDescriptor) -> Route | None:
    access = Access.of_method(method)
    if access is None or not access.gateway or method.client_streaming:
        return None
    service = method.containing_service
    area = service.full_name.split(".")[1]
    return Route(
        path=f"/{service.full_name}/{method.name}",
        service=service.full_name,
        method=method.name,
        upstream=area,
        input=GetMessageClass(method.input_type),
        output=GetMessageClass(method.output_type),
        server_streaming=method.server_streaming,
        access=access,
    )


def gateway_routes(areas: Iterable[str], files: Iterable[FileDescriptor] | None = None) -> dict[str, Route]:
    """The routes of the services in `areas` (the ones this gateway forwards to)."""
    served = frozenset(areas)
    routes: dict[str, Route] = {}
    for file in files if files is not None else confide_files():
        for service in file.services_by_name.values():
            for method in service.methods:
                route = _route(method)
                if route is not None and route.upstream in served:
                    routes[route.path] = route
    return routes
