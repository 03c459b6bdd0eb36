"""The gateway exposes exactly the RPCs declared `gateway: true`, asked over real HTTP of the running
platform: every other RPC of every service (service-to-service questions, key rotation, audit chain
checks) answers 404 there, whoever asks; every exposed one is routed, and without a token only the public
ones get past the gateway's own check (generated from the declarations: a new RPC is covered at once).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from confide_chassis.auth import Access
from confide_gateway.routes import confide_files

from .conftest import Platform

pytestmark = pytest.mark.integration

AREAS = frozenset({"identity", "scheduling", "messaging", "billing", "compliance", "directory"})


def declared() -> dict[str, tuple[Access | None, bool]]:
    """Every RPC of the six services: its declared access, and whether it streams its answer."""
    rpcs: dict[str, tuple[Access | None, bool]] = {}
    for file in confide_files():
        for service in file.services_by_name.values():
            if service.full_name.split(".")[1] in AREAS:
                for method in service.methods:
                    path = f"/{service.full_name}/{method.name}"
                    rpcs[path] = (Access.of_method(method), method.server_streaming)
    return rpcs


async def test_only_rpcs_declared_for_the_gateway_are_reachable_through_it(platform: Platform) -> None:
    rpcs = declared()
    assert len(rpcs) > 100
    wrong: list[str] = []
    # A token proves nothing here: the gateway must not even know the internal RPCs' paths.
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession() as session:
        for path, (access, streaming) in sorted(rpcs.items()):
            async with session.post(
                f"{platform.gateway}{path}", data=json.dumps({}), headers=headers
            ) as reply:
                status = reply.status
                body: Any = await reply.read()
            if access is None or not access.gateway:
                if status != 404:
                    wrong.append(f"{path}: internal, yet answered {status}")
            elif status == 404 and b"no such RPC" in body:
                wrong.append(f"{path}: declared for the gateway, yet not routed")
            elif streaming:
                pass  # routed; a stream speaks the enveloped Connect protocol, not a unary JSON POST
            elif not access.public and status != 401:
                wrong.append(f"{path}: needs a token, yet answered {status} without one")
            elif access.public and status == 401:
                wrong.append(f"{path}: public, yet refused without a token")
    assert not wrong, "\n".join(wrong)
