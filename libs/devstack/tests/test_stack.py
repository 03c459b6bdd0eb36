"""`make run` (python -m confide_devstack run): starts, reports, stops cleanly; a dying service stops it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from confide_devstack._util import free_port, pid_alive, port_is_free
from confide_devstack.kafka import KafkaBroker, list_topics
from confide_devstack.stack import READY_BANNER, LocalStack, StackConfig, discover_services

pytestmark = pytest.mark.integration

FAKE_MAIN = textwrap.dedent(
    '''
    """A stand-in service: `migrate` writes to its database, `serve` answers grpc.health.v1."""
    import asyncio
    import os
    import signal
    import subprocess
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
        if os.environ.get("FAKE_LONG_LINES"):
            # Before SERVING: a runner that stopped copying output would block us right here.
            print("x" * 1_000_000, flush=True)
            print("after the long line", flush=True)
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        print("fake serving", flush=True)
        stop = asyncio.Event()
        if os.environ.get("FAKE_IGNORE_SIGTERM"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            # A grandchild in its own session keeps our output pipe open after we are killed.
            holder = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
            )
            with open(os.environ["FAKE_GRANDCHILD_PID_FILE"], "w") as fh:
                fh.write(str(holder.pid))
        else:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        if os.environ.get("FAKE_LONG_LINES"):
            tick = 0
            while not stop.is_set():
                tick += 1
                print("y" * 200_000, flush=True)
                print(f"tick {tick}", flush=True)
                await asyncio.sleep(0.05)
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
        pg_pid = int((Path(info["postgres"]["data_dir"]) / "postmaster.pid").read_text().split()[0])
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
        pg_pid = int((Path(info["postgres"]["data_dir"]) / "postmaster.pid").read_text().split()[0])
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
    # -SIGINT: the signal came while Python was still importing (a loaded machine), before any start.
    assert code in (0, 1, -signal.SIGINT), (tmp_path / "stack.log").read_text()
    assert _processes_mentioning(run_dir) == [], (tmp_path / "stack.log").read_text()


def _fake_stack_env(run_dir: Path, services_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **_ports_env(),
        "CONFIDE_RUN_DIR": str(run_dir),
        "CONFIDE_SERVICES_DIR": str(services_dir),
        "FAKE_GRPC_PORT": str(free_port()),
        "FAKE_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(services_dir / "fake"),
        **extra,
    }


async def _health(port: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        return int(reply.status)


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_service_writing_megabyte_lines_keeps_running_and_its_output_keeps_flowing(
    devstack_run_dir: Path, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    services_dir = tmp_path / "services"
    _make_fake_service(services_dir)
    run_dir = devstack_run_dir / "stack-long-lines"
    env = _fake_stack_env(
        run_dir,
        services_dir,
        KAFKA_BOOTSTRAP_SERVERS=kafka_broker.bootstrap_servers,
        FAKE_LONG_LINES="1",
    )
    # Coming up at all proves the 1 MB line was copied: the fake writes it before it reports SERVING.
    proc, lines = await _start_stack(env, tmp_path / "stack.log")
    try:
        # Each tick follows a 200 kB line: far more than a pipe holds, so the copy must keep going.
        await _until(lambda: any(line.endswith("| tick 30\n") for line in lines), 60, "tick 30")
        assert await _health(env["FAKE_GRPC_PORT"]) == health_pb2.HealthCheckResponse.SERVING
        assert any(line.rstrip().endswith("| after the long line") for line in lines)
        cut = [line for line in lines if "more bytes cut" in line]
        assert cut, "long lines reach the console cut, with a marker"
        assert max(len(line) for line in lines) < 9 * 1024
        assert "x" * 1_000_000 + "\n" in (run_dir / "logs" / "fake.log").read_text()  # log keeps all
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, _read(tmp_path / "stack.log")
    await asyncio.sleep(0.1)  # let the drain task read the last lines
    assert any("fake stopped" in line for line in lines)


@pytest.mark.slow
async def test_shutdown_finishes_in_bounded_time_when_a_service_ignores_sigterm(
    devstack_run_dir: Path, tmp_path: Path
) -> None:
    services_dir = tmp_path / "services"
    _make_fake_service(services_dir)
    run_dir = devstack_run_dir / "stack-stubborn"
    holder_pid_file = tmp_path / "grandchild.pid"
    env = _fake_stack_env(
        run_dir,
        services_dir,
        CONFIDE_STOP_TIMEOUT="2",
        FAKE_IGNORE_SIGTERM="1",
        FAKE_GRANDCHILD_PID_FILE=str(holder_pid_file),
    )
    # Empty = start the stack's own Kafka (it must be stopped too).
    proc, _ = await _start_stack({**env, "KAFKA_BOOTSTRAP_SERVERS": ""}, tmp_path / "stack.log")
    holder_pid = 0
    try:
        info = json.loads((run_dir / "stack.json").read_text(encoding="utf-8"))
        assert info["kafka"]["managed"] is True
        service_pid = info["services"]["fake"]["pid"]
        kafka_pid = int((run_dir / "kafka" / "kafka.pid").read_text())
        pg_data = Path(info["postgres"]["data_dir"])
        pg_pid = int((pg_data / "postmaster.pid").read_text().split()[0])
        await _until(holder_pid_file.exists, 10, "the grandchild's pid")
        holder_pid = int(holder_pid_file.read_text())
        assert all(pid_alive(pid) for pid in (service_pid, kafka_pid, pg_pid, holder_pid))

        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 90)
        took = time.monotonic() - asked
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if holder_pid:
            os.kill(holder_pid, signal.SIGKILL)
    log_text = _read(tmp_path / "stack.log")
    assert code == 0, log_text
    # 2 s grace + 5 s after SIGKILL + 5 s of output drain + Kafka and PostgreSQL's own stop.
    assert took < 45, log_text
    assert "fake did not stop within 2s: killing it" in log_text
    assert not pid_alive(service_pid)
    assert not pid_alive(kafka_pid)
    assert not pid_alive(pg_pid)
    assert _processes_mentioning(run_dir) == []
    assert _processes_mentioning(pg_data) == []


async def test_a_killed_service_is_gone_and_restarts_on_its_ports(
    devstack_run_dir: Path, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    services_dir = tmp_path / "services"
    _make_fake_service(services_dir)
    grpc_port = free_port()
    env = {
        **os.environ,
        **_ports_env(),
        "CONFIDE_SERVICES_DIR": str(services_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "FAKE_GRPC_PORT": str(grpc_port),
        "FAKE_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(services_dir / "fake"),
    }
    config = StackConfig.from_env(env, run_dir=devstack_run_dir / "stack-restart")
    await _kill_and_restart(LocalStack(config, out=io.StringIO()), grpc_port)
    assert _processes_mentioning(devstack_run_dir / "stack-restart") == []
    assert port_is_free(grpc_port)


async def _kill_and_restart(stack: LocalStack, grpc_port: int) -> None:
    try:
        await stack.start()
        first = stack.services["fake"].process
        assert first is not None

        assert await stack.kill_service("fake") == -signal.SIGKILL
        assert not pid_alive(first.pid)
        assert port_is_free(grpc_port)  # nobody answers until it is restarted: no self-healing here

        took = await stack.restart_service("fake")
        second = stack.services["fake"].process
        assert second is not None
        assert second.pid != first.pid
        assert took > 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        log = (stack.config.run_dir / "logs" / "fake.log").read_text(encoding="utf-8")
        assert log.count("fake serving") == 2  # one log across restarts, as a pod's
    finally:
        await stack.shutdown()
