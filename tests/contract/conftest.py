"""One in-process platform (the six gRPC services, demo-seeded) for every contract test module: starting
it takes a while, and each module's checks are independent of the data the others leave behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from confide_devstack.devkeys import DevKeys
from confide_devstack.postgres import PostgresCluster

from .services_in_process import Platform, running_platform


@pytest.fixture(scope="package")
async def platform(
    postgres_cluster: PostgresCluster,
    kafka_broker: Any,
    dev_keys: DevKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Platform]:
    async with running_platform(postgres_cluster, kafka_broker, dev_keys, tmp_path_factory) as started:
        yield started
