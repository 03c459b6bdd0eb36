"""The pytest plugin's housekeeping: leftovers of a killed session are stopped and removed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from confide_devstack._util import DirLock, pid_alive, pid_cmdline
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import sweep_stale_runs, unique_database_name


def test_unique_database_names_are_valid_identifiers() -> None:
    names = {unique_database_name("test_Something[with-params 1]" * 5) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name), name


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


@pytest.mark.integration
def test_sweep_stops_servers_of_a_killed_session_and_removes_its_folder(devstack_run_dir: Path) -> None:
    run_root = devstack_run_dir / "sweep"
    dead = run_root / "pytest-1"
    # A PostgreSQL cluster and a "broker" (a process with the broker's command line) whose session died.
    cluster = PostgresCluster(dead / "postgres").start()
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    (dead / "kafka").mkdir(parents=True)
    fake_broker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "kafka.Kafka", str((dead / "kafka").resolve())]
    )
    (dead / "kafka" / "kafka.pid").write_text(f"{fake_broker.pid}\n")
    # The sweep recognises a broker by its command line: make sure the child shows it already.
    deadline = time.monotonic() + 30
    while "kafka.Kafka" not in pid_cmdline(fake_broker.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    live = run_root / "pytest-2"
    lock = DirLock(live)
    assert lock.try_acquire()
    try:
        young = run_root / "pytest-3"
        young.mkdir()
        _age(dead, 3600)
        _age(live, 3600)

        removed = sweep_stale_runs(run_root)

        assert removed == [dead]
        assert fake_broker.wait(timeout=30) is not None, pid_cmdline(fake_broker.pid)
        assert not pid_alive(postmaster)
        assert not dead.exists()
        assert not cluster.data_dir.exists()  # also when it lived outside the folder (root)
        assert live.exists()  # its session holds the lock
        assert young.exists()  # too young to judge
    finally:
        lock.release()
        if fake_broker.poll() is None:
            fake_broker.kill()
        cluster.stop()


CHILD_TEST = """
import time
from pathlib import Path


def test_hold(postgres_cluster, request):
    Path("started").write_text(f"{postgres_cluster.data_dir}\\n{postgres_cluster.run_dir}")
    time.sleep(120)
"""


@pytest.mark.integration
def test_sigterm_to_a_session_still_stops_its_servers(tmp_path: Path) -> None:
    """CI cancelling a job sends SIGTERM: the session's servers must not outlive it."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_child.py").write_text(CHILD_TEST, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "confide_devstack.pytest_plugin", "test_child.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    started = tmp_path / "started"
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), child.communicate()[0].decode()
        data_dir, run_dir = map(Path, started.read_text().splitlines())
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
        child.terminate()
        output = child.communicate(timeout=60)[0].decode()
    finally:
        if child.poll() is None:
            child.kill()
    assert not pid_alive(postmaster), output
    assert not run_dir.parent.exists(), output  # .run/pytest-<child pid>/ removed
    assert not data_dir.exists(), output  # and the data, wherever it was
