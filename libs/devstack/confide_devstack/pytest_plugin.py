"""pytest fixtures for tests that need the real Kafka broker, PostgreSQL or dev signing keys.

Loaded by the repository's root ``conftest.py`` (``pytest_plugins = ["confide_devstack.pytest_plugin"]``).

Fixtures (servers start lazily: only when a test of the session asks for them):

- ``kafka_broker`` (session) — a started `KafkaBroker` with every registry topic created;
  ``kafka_broker.bootstrap_servers`` is what clients take.
- ``postgres_cluster`` (session) — a started `PostgresCluster` (fsync off: fast, throw-away).
- ``database_url`` (function) — a fresh, uniquely named database per test; its SQLAlchemy URL
  (``postgresql+asyncpg://...``). Databases are not dropped after the test (the whole cluster is
  removed at session end), so a failing test's leftovers never break the next one.
- ``dev_keys`` (session) — `DevKeys` (private key PEM path + JWKS path + ``kid``) to sign and verify
  access tokens; point ``JWKS_FILE`` at ``dev_keys.jwks_path``.
- `new_topic` — ``await new_topic(bootstrap, partitions=1)`` creates a uniquely named topic for a
  test that must not share the registry topics.

Everything binds 127.0.0.1 on free ports and lives in ``.run/pytest-<pid>/``, so tests run beside a
running ``make run`` (9092/5432) and beside other test sessions. The servers are stopped and the
folder removed at session end, also when tests fail or the session is interrupted (Ctrl-C, or
SIGTERM from CI, which is turned into an interrupt while servers run). Folders left by a session
that was killed outright are cleaned up, servers included, by the next session. Set
``CONFIDE_DEVSTACK_KEEP=1`` to keep the folder (logs, data) for a post-mortem.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

import pytest

from confide_devstack._util import DirLock, repo_root, run_sync
from confide_devstack.devkeys import DevKeys, ensure_dev_keys
from confide_devstack.kafka import KafkaBroker
from confide_devstack.postgres import PostgresCluster, remove_orphaned_server_dirs
from confide_devstack.topics import create_topic, ensure_topics, load_topics

log = logging.getLogger(__name__)

KEEP_ENV = "CONFIDE_DEVSTACK_KEEP"
# A run folder younger than this is never swept: its owner may be between mkdir and flock.
_SWEEP_MIN_AGE_S = 60.0

__all__ = ["database_url", "dev_keys", "devstack_run_dir", "kafka_broker", "new_topic", "postgres_cluster"]


def sweep_stale_runs(run_root: Path) -> list[Path]:
    """Remove ``pytest-*`` run folders whose session is gone, stopping servers they left running."""
    removed: list[Path] = []
    if not run_root.is_dir():
        return removed
    now = time.time()
    for folder in sorted(run_root.glob("pytest-*")):
        try:
            if now - folder.stat().st_mtime < _SWEEP_MIN_AGE_S:
                continue
        except OSError:
            continue
        lock = DirLock(folder)
        if not lock.try_acquire():
            continue  # a live session owns it
        try:
            KafkaBroker.stop_leftover(folder / "kafka")
            PostgresCluster.stop_leftover(folder / "postgres", remove_data=True)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            lock.release()
    return removed


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While servers run, let SIGTERM (CI cancelling a job) unwind like Ctrl-C so teardown runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def devstack_run_dir() -> Iterator[Path]:
    """``.run/pytest-<pid>/``: this session's servers, logs and keys; removed at the end."""
    run_root = repo_root() / ".run"
    sweep_stale_runs(run_root)
    path = run_root / f"pytest-{os.getpid()}"
    lock = DirLock(path)
    if not lock.try_acquire():  # pid reused while an old session still runs: impossible in practice
        path = run_root / f"pytest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        lock = DirLock(path)
        lock.try_acquire()
    try:
        with _sigterm_as_interrupt():
            yield path
    finally:
        if os.environ.get(KEEP_ENV):
            log.warning("keeping %s (%s is set)", path, KEEP_ENV)
        else:
            shutil.rmtree(path, ignore_errors=True)
            # Clusters a test started here (e.g. a `make run` stack) may keep data outside the folder.
            remove_orphaned_server_dirs()
        lock.release()


@pytest.fixture(scope="session")
def kafka_broker(devstack_run_dir: Path) -> Iterator[KafkaBroker]:
    """A real Kafka broker for the session, every topic of ``protos/topics.yaml`` created."""
    broker = KafkaBroker(devstack_run_dir / "kafka")
    try:
        broker.start()
        run_sync(ensure_topics(broker.bootstrap_servers, load_topics()))
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_cluster(devstack_run_dir: Path) -> Iterator[PostgresCluster]:
    """A private PostgreSQL 15 cluster for the session (fsync off)."""
    cluster = PostgresCluster(devstack_run_dir / "postgres", durable=False, keep_data=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def database_url(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> str:
    """A new empty database for this test; returns ``postgresql+asyncpg://...@127.0.0.1:<port>/<name>``."""
    return postgres_cluster.create_database(unique_database_name(request.node.name))


@pytest.fixture(scope="session")
def dev_keys(devstack_run_dir: Path) -> DevKeys:
    """The session's dev Ed25519 signing key and JWKS (see `confide_devstack.devkeys`)."""
    return ensure_dev_keys(devstack_run_dir / "dev-keys")


def unique_database_name(hint: str) -> str:
    """``t_<readable part of hint>_<random>``, a valid lowercase PostgreSQL identifier (<= 63 chars)."""
    readable = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:40]
    return f"t_{readable}_{uuid.uuid4().hex[:10]}".replace("__", "_")


async def new_topic(
    bootstrap_servers: str,
    partitions: int = 1,
    *,
    configs: Mapping[str, str] | None = None,
    prefix: str = "test",
) -> str:
    """Create a uniquely named topic (``test.<random>``) and return its name, once it has leaders."""
    name = f"{prefix}.{uuid.uuid4().hex[:16]}"
    return await create_topic(bootstrap_servers, name, partitions, configs=configs)
