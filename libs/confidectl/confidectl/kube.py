"""The few Kubernetes API operations confidectl needs, on the official client's dynamic API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from confidectl.manifests import Manifest, RolloutError

FIELD_MANAGER = "confidectl"


def connect(kubeconfig: str | None = None, context: str | None = None) -> DynamicClient:
    api_client = config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
    return DynamicClient(api_client)  # type: ignore[no-untyped-call]


def connect_with_token(host: str, token: str, ca_file: str | None = None) -> DynamicClient:
    configuration = client.Configuration()
    configuration.host = host
    configuration.api_key = {"authorization": f"Bearer {token}"}
    if ca_file:
        configuration.ssl_ca_cert = ca_file
    else:
        configuration.verify_ssl = False
    return DynamicClient(client.ApiClient(configuration))  # type: ignore[no-untyped-call]


class Cluster:
    def __init__(self, dyn: DynamicClient, *, poll_seconds: float = 1.0) -> None:
        self.dyn = dyn
        self.poll_seconds = poll_seconds

    def served(self, api_version: str, kind: str) -> bool:
        try:
            self.dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return False
        return True

    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dyn.resources.get(api_version=api_version, kind=kind)

    def apply(self, doc: Manifest) -> dict[str, Any]:
        """Server-side apply as field manager ``confidectl`` (conflicts forced: git is the truth)."""
        resource = self._resource(doc["apiVersion"], doc["kind"])
        result = resource.server_side_apply(
            body=doc,
            name=doc["metadata"]["name"],
            namespace=doc["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        applied: dict[str, Any] = result.to_dict()
        return applied

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        try:
            found = self._resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        obj: dict[str, Any] = found.to_dict()
        return obj

    def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        items = self._resource(api_version, kind).get(namespace=namespace).to_dict()["items"]
        return list(items)

    def wait(self, what: str, probe: Callable[[], bool | str], timeout: float) -> None:
        """Poll ``probe`` until True; a string is a definite failure; a timeout is one too."""
        deadline = time.monotonic() + timeout
        while True:
            outcome = probe()
            if outcome is True:
                return
            if isinstance(outcome, str):
                raise RolloutError(f"{what}: {outcome}")
            if time.monotonic() >= deadline:
                raise RolloutError(f"{what}: not done after {timeout:.0f} s")
            time.sleep(self.poll_seconds)
