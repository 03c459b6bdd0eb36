"""`make run` (python -m confide_devstack run): starts, reports, stops cleanly; a dying service stops it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import pytest

from confide_devstack._util import free_port, pid_alive, port_is_free
from confide_devstack.kafka import KafkaBroker, list_topics
from confide_devstack.stack import READY_BANNER, StackConfig, discover_services

pytestmark = pytest.mark.integration

FAKE_MAIN = textwrap.dedent(
    '''
    """A stand-in service: `migrate` writes to its database, `serve` answers grpc.health.v1."""
    import asyncio
    import os
    import signal
    import sys

    import asyncpg
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc


    def dsn() -> str:
        return os.environ["FAKE_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")


    async def migrate() -> None:
        conn = await asyncpg.connect(dsn())
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS migrated (id int)")
        finally:
            await conn.close()


    async def serve() -> None:
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "FAKE_METRICS_PORT", "FAKE_GRPC_HOST"):
            assert os.environ[key], key
        assert os.path.isfile(os.environ["JWKS_FILE"])
        conn = await asyncpg.connect(dsn())
        await conn.close()
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        server.add_insecure_port(f"127.0.0.1:{os.environ['FAKE_GRPC_PORT']}")
        await server.start()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        print("fake serving", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(1)
        print("fake stopped", flush=True)


    if sys.argv[1] == "--help":
        print("usage: python -m confide_fake {serve,migrate,seed-demo}")
    elif sys.argv[1] == "seed-demo":
        print("fake seeded", flush=True)
    else:
        asyncio.run(migrate() if sys.argv[1] == "migrate" else serve())
    '''
)


def _make_fake_service(services_dir: Path) -> Path:
    root = services_dir / "fake"
    (root / "confide_fake" / "migrations").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "confide-fake"\nversion = "0"\n', encoding="utf-8"
    )
    (root / "confide_fake" / "__init__.py").write_text("", encoding="utf-8")
    (root / "confide_fake" / "__main__.py").write_text(FAKE_MAIN, encoding="utf-8")
    return root


async def _start_stack(
    env: Mapping[str, str], log_path: Path
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Start `python -m confide_devstack run`; return once its table is printed (or fail with its output).

    Its stdout keeps being drained into the returned list, so service output never fills the pipe.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "confide_devstack",
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=log_path.open("wb"),
        env={**os.environ, **env},
    )
    lines: list[str] = []
    table_printed = asyncio.Event()

    async def drain() -> None:
        assert proc.stdout is not None
        in_table = False
        while line := await proc.stdout.readline():
            lines.append(line.decode())
            if READY_BANNER in lines[-1]:
                in_table = True
            elif in_table and not lines[-1].strip() and lines[-2].strip():
                table_printed.set()

    drainer = asyncio.create_task(drain())
    _BACKGROUND.add(drainer)
    drainer.add_done_callback(_BACKGROUND.discard)
    waiter = asyncio.create_task(table_printed.wait())
    done, _ = await asyncio.wait({drainer, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        raise AssertionError("stack did not come up:\n" + "".join(lines) + _read(log_path))
    return proc, lines


_BACKGROUND: set[asyncio.Task[None]] = set()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _ports_env() -> dict[str, str]:
    return {
        "CONFIDE_KAFKA_PORT": str(free_port()),
        "CONFIDE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CONFIDE_PG_PORT": str(free_port()),
    }


def test_discovery_uses_conventions_ports_and_env_overrides(tmp_path: Path) -> None:
    _make_fake_service(tmp_path)
    (tmp_path / "identity" / "confide_identity").mkdir(parents=True)
    (tmp_path / "identity" / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "identity" / "confide_identity" / "__main__.py").write_text("", encoding="utf-8")
    (tmp_path / "not-a-service").mkdir()
    (tmp_path / "domain-only" / "confide_domain_only").mkdir(parents=True)  # no process yet
    (tmp_path / "domain-only" / "pyproject.toml").write_text("", encoding="utf-8")
    specs = discover_services(
        tmp_path, {"FAKE_GRPC_PORT": "6000", "FAKE_DATABASE_URL": "postgresql+asyncpg://x/y"}
    )
    assert [s.name for s in specs] == ["identity", "fake"]
    identity, fake = specs
    assert (identity.grpc_port, identity.metrics_port, identity.needs_database) == (50051, 9101, False)
    assert (fake.grpc_port, fake.needs_database, fake.database_url) == (
        6000,
        True,
        "postgresql+asyncpg://x/y",
    )
    assert fake.module == "confide_fake"
    config = StackConfig.from_env({"CONFIDE_SERVICES_DIR": str(tmp_path)}, run_dir=tmp_path / "run")
    assert (config.kafka_port, config.kafka_controller_port, config.pg_port) == (9092, 9093, 5432)
    assert config.start_postgres


async def test_port_conflict_fails_fast_with_a_clear_message(devstack_run_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **_ports_env(),
            "CONFIDE_PG_PORT": str(taken.getsockname()[1]),
            "CONFIDE_RUN_DIR": str(devstack_run_dir / "stack-conflict"),
            "CONFIDE_SERVICES_DIR": str(tmp_path),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "confide_devstack",
            "run",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "CONFIDE_PG_PORT" in err.decode()
    assert "in use" in err.decode()


@pytest.mark.slow
async def test_stack_without_services_starts_prints_and_stops_cleanly(
    devstack_run_dir: Path, tmp_path: Path
) -> None:
    run_dir = devstack_run_dir / "stack-empty"
    env = {**_ports_env(), "CONFIDE_RUN_DIR": str(run_dir), "CONFIDE_SERVICES_DIR": str(tmp_path)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    proc, lines = await _start_stack(env, tmp_path / "stack.log")
    try:
        info = json.loads((run_dir / "stack.json").read_text(encoding="utf-8"))
        assert info["kafka"]["bootstrap_servers"] == f"127.0.0.1:{env['CONFIDE_KAFKA_PORT']}"
        assert "confide.audit.events.v1" in await list_topics(info["kafka"]["bootstrap_servers"])
        conn = await asyncpg.connect(info["postgres"]["admin_dsn"])
        assert await conn.fetchval("SHOW fsync") == "on"  # make run is durable
        await conn.close()
        assert _read(Path(info["jwks_file"])).startswith("{")
        kafka_pid = int((run_dir / "kafka" / "kafka.pid").read_text())
        pg_pid = int((run_dir / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
        assert any("127.0.0.1:" + env["CONFIDE_KAFKA_PORT"] in line for line in lines)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0
    assert not pid_alive(kafka_pid)
    assert not pid_alive(pg_pid)
    assert port_is_free(int(env["CONFIDE_KAFKA_PORT"]))
    assert port_is_free(int(env["CONFIDE_PG_PORT"]))
    assert not (run_dir / "stack.json").exists()
    assert (run_dir / "kafka" / "cluster.id").is_file()  # kept for the next run


async def test_stack_runs_a_service_and_stops_everything_when_it_dies(
    devstack_run_dir: Path, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    services_dir = tmp_path / "services"
    _make_fake_service(services_dir)
    run_dir = devstack_run_dir / "stack-fake"
    env = {
        **_ports_env(),
        "CONFIDE_RUN_DIR": str(run_dir),
        "CONFIDE_SERVICES_DIR": str(services_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,  # external Kafka: not started
        "FAKE_GRPC_PORT": str(free_port()),
        "FAKE_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(services_dir / "fake"),
    }
    proc, lines = await _start_stack(env, tmp_path / "stack.log")
    try:
        info = json.loads((run_dir / "stack.json").read_text(encoding="utf-8"))
        fake = info["services"]["fake"]
        assert fake["grpc"] == f"127.0.0.1:{env['FAKE_GRPC_PORT']}"
        assert fake["database_url"].endswith("/fake")
        assert info["kafka"]["managed"] is False
        conn = await asyncpg.connect(fake["database_url"].replace("+asyncpg", ""))
        assert await conn.fetchval("SELECT to_regclass('migrated')::text") == "migrated"  # migrate ran
        await conn.close()
        assert any("fake serving" in line for line in lines)
        assert any("fake seeded" in line for line in lines)  # it offers seed-demo, so the stack seeded it
        pg_pid = int((run_dir / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(fake["pid"], signal.SIGKILL)  # the service dies
        code = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    assert code == 1
    assert "service fake exited" in (tmp_path / "stack.log").read_text()
    assert not pid_alive(pg_pid)
    assert kafka_broker.is_running()  # an external Kafka is not ours to stop


def _processes_mentioning(path: Path) -> list[str]:
    """Command lines of live processes that reference `path` (a leftover java or postgres would)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline and pid_alive(int(entry.name)):
            found.append(cmdline)
    return found


async def test_stack_stops_services_gracefully_on_sigterm(
    devstack_run_dir: Path, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    services_dir = tmp_path / "services"
    _make_fake_service(services_dir)
    run_dir = devstack_run_dir / "stack-graceful"
    env = {
        **_ports_env(),
        "CONFIDE_RUN_DIR": str(run_dir),
        "CONFIDE_SERVICES_DIR": str(services_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "FAKE_GRPC_PORT": str(free_port()),
        "FAKE_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(services_dir / "fake"),
    }
    proc, lines = await _start_stack(env, tmp_path / "stack.log")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    await asyncio.sleep(0.1)  # let the drain task read the last lines
    assert any("fake stopped" in line for line in lines)  # it got SIGTERM and drained, not SIGKILL
    assert _processes_mentioning(run_dir) == []
    assert port_is_free(int(env["FAKE_GRPC_PORT"]))


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 3.0])
async def test_ctrl_c_during_startup_leaves_nothing_running(
    devstack_run_dir: Path, tmp_path: Path, delay: float
) -> None:
    run_dir = devstack_run_dir / f"stack-interrupted-{delay}"
    env = {
        **os.environ,
        **_ports_env(),
        "CONFIDE_RUN_DIR": str(run_dir),
        "CONFIDE_SERVICES_DIR": str(tmp_path),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "confide_devstack",
        "run",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(tmp_path / "stack.log").open("wb"),
        env=env,
    )
    await asyncio.sleep(delay)
    proc.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(proc.wait(), 90)
    assert code in (0, 1), (tmp_path / "stack.log").read_text()
    assert _processes_mentioning(run_dir) == [], (tmp_path / "stack.log").read_text()
