"""`make run`: the whole local stack in the foreground — Kafka, PostgreSQL, topics, every service.

Order of start: dev keys; Kafka and PostgreSQL (in parallel); the registry's topics; per service
its database, ``python -m confide_<name> migrate``, then ``python -m confide_<name> serve``; wait
until each reports SERVING on ``grpc.health.v1``; print where everything listens (also written to
``<run dir>/stack.json`` for tools). With ``--prometheus`` (``make run PROMETHEUS=1``) a real
Prometheus then scrapes every service with the cluster's rules loaded (`confide_devstack.prometheus`).
Then it waits. Ctrl-C or SIGTERM stops the services, then
Kafka, then PostgreSQL, each step bounded in time (a service that ignores SIGTERM is killed after
``CONFIDE_STOP_TIMEOUT``); if any of them dies, that is reported and everything else is stopped
with a non-zero exit. Every child runs in its own process group, so Ctrl-C reaches only this runner,
which stops them in order and leaves no java or postgres process behind.

Configuration (environment; defaults are the ports of ``docs/conventions.md``):

| variable | meaning | default |
|---|---|---|
| ``CONFIDE_RUN_DIR`` | run folder (data kept between runs) | ``.run/local`` |
| ``CONFIDE_KAFKA_PORT`` / ``CONFIDE_KAFKA_CONTROLLER_PORT`` | our broker's ports | 9092 / 9093 |
| ``KAFKA_BOOTSTRAP_SERVERS`` | use this Kafka instead of starting one (topics still ensured) | unset |
| ``CONFIDE_PG_PORT`` | our PostgreSQL's port | 5432 |
| ``<NAME>_DATABASE_URL`` | use this database; PostgreSQL is not started when every service has one | unset |
| ``<NAME>_GRPC_PORT`` / ``<NAME>_METRICS_PORT`` | a service's ports | table below |
| ``CONFIDE_SERVICES_DIR`` | where services are discovered (``<dir>/*/pyproject.toml``) | ``services`` |
| ``CONFIDE_STOP_TIMEOUT`` | seconds a service gets to drain after SIGTERM before SIGKILL | 20 |
| ``CONFIDE_PROMETHEUS_PORT`` | Prometheus's port (with ``--prometheus``) | 9090 |
| ``PROMETHEUS_BIN`` | the Prometheus binary (default: Debian's, ``scripts/ensure_prometheus.sh``) | unset |

A service is any ``services/<name>/pyproject.toml``; it needs a database (and gets ``migrate``)
when it has migrations (``confide_<name>/migrations/``, ``migrations/`` or ``alembic.ini``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from confide_devstack._util import (
    LOOPBACK,
    DevstackError,
    DirLock,
    kill_pid,
    port_is_free,
    repo_root,
    tail,
)
from confide_devstack.devkeys import DevKeys, ensure_dev_keys
from confide_devstack.kafka import KafkaBroker
from confide_devstack.postgres import PostgresCluster
from confide_devstack.prometheus import Prometheus, ScrapeTarget, ensure_prometheus
from confide_devstack.topics import ensure_topics, load_topics

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Local ports per service (gRPC, metrics) from docs/conventions.md; the gateway's is HTTP.
DEFAULT_PORTS: dict[str, tuple[int, int]] = {
    "identity": (50051, 9101),
    "scheduling": (50052, 9102),
    "messaging": (50053, 9103),
    "billing": (50054, 9104),
    "compliance": (50055, 9105),
    "gateway": (8080, 9106),
    "directory": (50056, 9107),
}
# Ports for a service that is not in the table yet (so a new service runs before the docs catch up).
_EXTRA_GRPC_BASE, _EXTRA_METRICS_BASE = 50060, 9120
READY_BANNER = "Confide local stack is up"


class StackError(DevstackError):
    """The stack could not start, or a part of it died."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service found under ``services/``, with its ports and database decision."""

    name: str
    path: Path
    grpc_port: int
    metrics_port: int
    needs_database: bool
    database_url: str | None = None  # given through <NAME>_DATABASE_URL: not ours to create

    @property
    def env_prefix(self) -> str:
        return self.name.upper().replace("-", "_")

    @property
    def module(self) -> str:
        return "confide_" + self.name.replace("-", "_")


def discover_services(services_dir: Path, environ: Mapping[str, str]) -> list[ServiceSpec]:
    """Every runnable service, in the conventions' table order, then by name.

    Runnable = ``<services_dir>/<name>/pyproject.toml`` and a ``confide_<name>/__main__.py``; a service
    whose domain exists but whose process does not yet is skipped, so `make run` keeps working.
    """
    if not services_dir.is_dir():
        return []
    names = sorted(
        p.parent.name
        for p in services_dir.glob("*/pyproject.toml")
        if (p.parent / ("confide_" + p.parent.name.replace("-", "_")) / "__main__.py").is_file()
    )
    order = list(DEFAULT_PORTS)
    names.sort(key=lambda n: (order.index(n) if n in order else len(order), n))
    specs: list[ServiceSpec] = []
    extra = 0
    for name in names:
        path = services_dir / name
        prefix = name.upper().replace("-", "_")
        if name in DEFAULT_PORTS:
            grpc_default, metrics_default = DEFAULT_PORTS[name]
        else:
            grpc_default, metrics_default = _EXTRA_GRPC_BASE + extra, _EXTRA_METRICS_BASE + extra
            extra += 1
        package = "confide_" + name.replace("-", "_")
        needs_db = (
            (path / package / "migrations").is_dir()
            or (path / "migrations").is_dir()
            or (path / "alembic.ini").is_file()
        )
        specs.append(
            ServiceSpec(
                name=name,
                path=path,
                grpc_port=_port(environ, f"{prefix}_GRPC_PORT", grpc_default),
                metrics_port=_port(environ, f"{prefix}_METRICS_PORT", metrics_default),
                needs_database=needs_db,
                database_url=environ.get(f"{prefix}_DATABASE_URL") or None,
            )
        )
    return specs


def _port(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"{key}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise StackError(f"{key}={raw!r} is not a port number")
    return port


def _seconds(environ: Mapping[str, str], key: str, default: float) -> float:
    raw = environ.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StackError(f"{key}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise StackError(f"{key}={raw!r} must be between 0 and 3600 seconds")
    return value


@dataclass(frozen=True, slots=True)
class StackConfig:
    """Everything `run_stack` needs; `from_env` reads it the way `make run` is documented."""

    root: Path
    run_dir: Path
    services: tuple[ServiceSpec, ...]
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    external_kafka: str | None = None
    pg_port: int = 5432
    pg_durable: bool = True
    python: str = sys.executable
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    service_timeout: float = 120.0
    stop_timeout: float = 20.0
    prometheus: bool = False  # --prometheus: scrape the stack with a real Prometheus
    prometheus_port: int = 9090
    prometheus_interval: float = 5.0  # scrape and rule evaluation, seconds

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        root: Path | None = None,
        run_dir: Path | None = None,
        prometheus: bool = False,
    ) -> StackConfig:
        env = dict(os.environ if environ is None else environ)
        root = root or repo_root()
        run_dir = run_dir or Path(env.get("CONFIDE_RUN_DIR") or root / ".run" / "local")
        services_dir = Path(env.get("CONFIDE_SERVICES_DIR") or root / "services")
        return cls(
            root=root,
            run_dir=run_dir.resolve(),
            services=tuple(discover_services(services_dir, env)),
            kafka_port=_port(env, "CONFIDE_KAFKA_PORT", 9092),
            kafka_controller_port=_port(env, "CONFIDE_KAFKA_CONTROLLER_PORT", 9093),
            external_kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            pg_port=_port(env, "CONFIDE_PG_PORT", 5432),
            environ=env,
            stop_timeout=_seconds(env, "CONFIDE_STOP_TIMEOUT", 20.0),
            prometheus=prometheus,
            prometheus_port=_port(env, "CONFIDE_PROMETHEUS_PORT", 9090),
        )

    @property
    def database_services(self) -> tuple[ServiceSpec, ...]:
        return tuple(s for s in self.services if s.needs_database)

    @property
    def start_postgres(self) -> bool:
        """Skip our PostgreSQL only when there are databases to serve and all were given as URLs."""
        db = self.database_services
        return not db or any(s.database_url is None for s in db)


#: Longest line copied to the console; longer ones are cut with a marker. The log file gets everything.
CONSOLE_LINE_LIMIT = 8 * 1024
_READ_CHUNK = 64 * 1024
#: After SIGKILL, how long we wait for the kernel to report the exit before giving up on a process.
_KILL_WAIT_S = 5.0
#: How long the output copy may run on after the process is gone (a grandchild may hold the pipe).
_OUTPUT_DRAIN_S = 5.0


class _LineCutter:
    """Bytes in, console lines out; a line longer than `limit` bytes is cut, with a marker saying so.

    Memory stays bounded whatever a child writes: at most `limit` bytes of one line are held.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._line = bytearray()
        self._cut = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            piece = data[start:] if newline < 0 else data[start:newline]
            room = max(self._limit - len(self._line), 0)
            self._line += piece[:room]
            self._cut += max(len(piece) - room, 0)
            if newline < 0:
                return lines
            lines.append(self._take())
            start = newline + 1

    def flush(self) -> list[bytes]:
        """The unterminated last line, if any (at end of output)."""
        return [self._take()] if self._line or self._cut else []

    def _take(self) -> bytes:
        line = bytes(self._line)
        if self._cut:
            line += f" [... {self._cut} more bytes cut; the log file has the whole line]".encode()
        self._line.clear()
        self._cut = 0
        return line


class _Proc:
    """A child process: own process group, output to a log file and prefixed to the console.

    The output goes through a pipe we own and read in chunks (never by line: one huge line must
    not stop the copy, or the pipe fills and the child blocks on its next write). Waiting for the
    process does not depend on that pipe either, so a grandchild that keeps it open cannot make
    `stop` hang.
    """

    def __init__(self, name: str, log_path: Path, out: IO[str]) -> None:
        self.name = name
        self.log_path = log_path
        self.out = out
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    async def spawn(self, argv: list[str], env: Mapping[str, str], cwd: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        read_fd, write_fd = os.pipe()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child has its copy; EOF comes when every holder is gone
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        self._pump = asyncio.create_task(self._copy_output(reader, transport))

    async def _copy_output(self, reader: asyncio.StreamReader, transport: asyncio.ReadTransport) -> None:
        cutter = _LineCutter(CONSOLE_LINE_LIMIT)
        try:
            with self.log_path.open("ab") as log_file:
                while chunk := await reader.read(_READ_CHUNK):
                    # Keep reading whatever happens to the copies: a full disk must not block the child.
                    with contextlib.suppress(OSError, ValueError):
                        log_file.write(chunk)
                        log_file.flush()
                    for line in cutter.feed(chunk):
                        self._echo(line)
                for line in cutter.flush():
                    self._echo(line)
        finally:
            transport.close()

    def _echo(self, line: bytes) -> None:
        # The console may be gone (`make run | head`); the log file still gets everything.
        with contextlib.suppress(OSError, ValueError):
            self.out.write(f"{self.name:<11}| {line.decode('utf-8', errors='replace').rstrip()}\n")
            self.out.flush()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        await self._finish_output(_OUTPUT_DRAIN_S)
        return code

    async def stop(self, grace_s: float) -> None:
        """SIGTERM the group (the chassis drains on SIGTERM), SIGKILL after `grace_s` seconds.

        Returns within about `grace_s` + 10 seconds whatever the child does.
        """
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            if not await _exited(process, grace_s):
                log.warning("%s did not stop within %.0fs: killing it", self.name, grace_s)
                _signal_group(process.pid, signal.SIGKILL)
                if not await _exited(process, _KILL_WAIT_S):
                    log.error("%s (pid %d) survived SIGKILL; giving up on it", self.name, process.pid)
        _signal_group(process.pid, signal.SIGKILL)  # stragglers of the group
        await self._finish_output(_OUTPUT_DRAIN_S)

    async def _finish_output(self, within_s: float) -> None:
        """Let the copy reach end of output; past `within_s` (someone else holds the pipe) drop it."""
        pump = self._pump
        if pump is None:
            return
        done, _ = await asyncio.wait({pump}, timeout=within_s)
        if not done:
            pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)


async def _exited(process: asyncio.subprocess.Process, within_s: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), within_s)
    return process.returncode is not None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _in_background_thread(fn: Callable[[], object], within_s: float) -> bool:
    """Run blocking `fn` in a daemon thread; False when it raised or is still running after `within_s`.

    A daemon thread, not the loop's executor: `asyncio.run` waits for executor threads at exit, so
    a stop call stuck in a thread would hang the runner after all.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[bool] = loop.create_future()

    def settle(ok: bool) -> None:
        if not finished.done():
            finished.set_result(ok)

    def target() -> None:
        ok = False
        try:
            fn()
            ok = True
        except Exception:
            log.exception("%s failed", getattr(fn, "__qualname__", fn))
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, ok)

    threading.Thread(target=target, name="devstack-stop", daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(finished), within_s)
    except TimeoutError:
        return False


async def _in_thread(fn: Callable[[], T]) -> T:
    """Run blocking `fn` in a thread; if we are cancelled, still wait for it (no half-started servers)."""
    future = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await future
        raise


class LocalStack:
    """The running parts of one `make run`; `start`, `watch`, `shutdown` (always, even after failure)."""

    def __init__(self, config: StackConfig, out: IO[str] | None = None) -> None:
        self.config = config
        self.out = out or sys.stdout
        self.kafka: KafkaBroker | None = None
        self.postgres: PostgresCluster | None = None
        self.bootstrap_servers = config.external_kafka or f"{LOOPBACK}:{config.kafka_port}"
        self.keys: DevKeys | None = None
        self.database_urls: dict[str, str] = {}
        self.services: dict[str, _Proc] = {}
        self._children: list[_Proc] = []
        self.prometheus: Prometheus | None = None
        self._prometheus_binary: Path | None = None
        self.started_in: float | None = None

    # -- start --------------------------------------------------------------------------------

    async def start(self) -> None:
        started = time.monotonic()
        cfg = self.config
        self._check_ports()
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        self.keys = ensure_dev_keys(cfg.run_dir / "dev-keys")

        results = await asyncio.gather(
            self._start_kafka(), self._start_postgres(), self._find_prometheus(), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

        for spec in cfg.database_services:
            if spec.database_url:
                self.database_urls[spec.name] = spec.database_url
            else:
                assert self.postgres is not None
                database = spec.name.replace("-", "_")
                self.database_urls[spec.name] = await self.postgres.create_database_async(database)

        await self._gather_all([self._migrate(spec) for spec in cfg.database_services])
        for spec in cfg.services:
            proc = _Proc(spec.name, cfg.run_dir / "logs" / f"{spec.name}.log", self.out)
            self._children.append(proc)
            self.services[spec.name] = proc
            await proc.spawn([cfg.python, "-m", spec.module, "serve"], self._service_env(spec), cfg.root)
        await self._first_failure([self._wait_serving(spec) for spec in cfg.services])
        await self._start_prometheus()
        self.started_in = time.monotonic() - started

    def _check_ports(self) -> None:
        cfg = self.config
        wanted: list[tuple[str, int]] = []
        if cfg.external_kafka is None:
            wanted += [("Kafka (CONFIDE_KAFKA_PORT)", cfg.kafka_port)]
            wanted += [("Kafka controller (CONFIDE_KAFKA_CONTROLLER_PORT)", cfg.kafka_controller_port)]
        if cfg.start_postgres:
            wanted.append(("PostgreSQL (CONFIDE_PG_PORT)", cfg.pg_port))
        for spec in cfg.services:
            wanted.append((f"{spec.name} gRPC ({spec.env_prefix}_GRPC_PORT)", spec.grpc_port))
            wanted.append((f"{spec.name} metrics ({spec.env_prefix}_METRICS_PORT)", spec.metrics_port))
        if cfg.prometheus:
            wanted.append(("Prometheus (CONFIDE_PROMETHEUS_PORT)", cfg.prometheus_port))
        seen: dict[int, str] = {}
        problems: list[str] = []
        for what, port in wanted:
            if port in seen:
                problems.append(f"{what} and {seen[port]} both want port {port}")
            seen[port] = what
            if not port_is_free(port):
                problems.append(f"{what}: port {port} on {LOOPBACK} is in use")
        if problems:
            raise StackError(
                "cannot start the stack:\n  " + "\n  ".join(problems)
                + "\n(another `make run`? stop it, or override the ports with the variables shown)"
            )  # fmt: skip

    async def _start_kafka(self) -> None:
        cfg = self.config
        if cfg.external_kafka is None:
            self.kafka = KafkaBroker(cfg.run_dir / "kafka", cfg.kafka_port, cfg.kafka_controller_port)
            await _in_thread(self.kafka.start)
        else:
            log.info("using Kafka at %s (KAFKA_BOOTSTRAP_SERVERS)", cfg.external_kafka)
        result = await ensure_topics(self.bootstrap_servers, load_topics(cfg.root / "protos" / "topics.yaml"))
        log.info(
            "topics: %d created, %d grown, %d already there",
            len(result.created),
            len(result.grown),
            len(result.unchanged),
        )

    async def _find_prometheus(self) -> None:
        # Beside Kafka and PostgreSQL: the first run extracts the binary (apt), which takes a while.
        if self.config.prometheus:
            self._prometheus_binary = await _in_thread(
                lambda: ensure_prometheus(self.config.root, self.config.environ)
            )

    async def _start_prometheus(self) -> None:
        cfg = self.config
        if self._prometheus_binary is None:
            return
        self.prometheus = Prometheus(
            self._prometheus_binary,
            cfg.run_dir / "prometheus",
            [ScrapeTarget(s.name, f"{LOOPBACK}:{s.metrics_port}") for s in cfg.services],
            port=cfg.prometheus_port,
            interval_seconds=cfg.prometheus_interval,
        )
        await self.prometheus.start()

    async def _start_postgres(self) -> None:
        cfg = self.config
        if not cfg.start_postgres:
            log.info("every service has a <NAME>_DATABASE_URL: not starting PostgreSQL")
            return
        self.postgres = PostgresCluster(cfg.run_dir / "postgres", cfg.pg_port, durable=cfg.pg_durable)
        await _in_thread(self.postgres.start)

    def _service_env(self, spec: ServiceSpec) -> dict[str, str]:
        cfg = self.config
        assert self.keys is not None
        env = dict(cfg.environ)
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap_servers
        env["JWKS_FILE"] = str(self.keys.jwks_path)
        # Dev-only: lets identity sign tokens that the JWKS above verifies.
        env["CONFIDE_DEV_SIGNING_KEY_FILE"] = str(self.keys.private_key_path)
        env.setdefault("LOG_FORMAT", "console")
        env["PYTHONUNBUFFERED"] = "1"
        # Every service learns every other's address (scheduling calls compliance).
        for other in cfg.services:
            env.setdefault(f"{other.env_prefix}_GRPC_HOST", LOOPBACK)
            env[f"{other.env_prefix}_GRPC_PORT"] = str(other.grpc_port)
            if other.name == "identity":
                # The real flow: verify tokens with the keys identity publishes (AuthService/GetJwks);
                # JWKS_FILE above stays as the fallback for a stack without identity.
                env.setdefault("JWKS_GRPC_TARGET", f"{LOOPBACK}:{other.grpc_port}")
        env[f"{spec.env_prefix}_METRICS_PORT"] = str(spec.metrics_port)
        # `make run` is a developer's stack: dev-only conveniences (derived encryption keys, mail
        # written to files, demo seeding) are allowed here and nowhere else.
        env.setdefault(f"{spec.env_prefix}_DEV_MODE", "true")
        env.setdefault(f"{spec.env_prefix}_DEV_MAIL_DIR", str(cfg.run_dir / "mail" / spec.name))
        if spec.name == "gateway":  # the reference web client, built by `make web`
            env.setdefault("GATEWAY_WEB_ROOT", str(cfg.root / "web" / "dist"))
        if spec.name in self.database_urls:
            env[f"{spec.env_prefix}_DATABASE_URL"] = self.database_urls[spec.name]
        return env

    async def _migrate(self, spec: ServiceSpec) -> None:
        await self._run_command(spec, "migrate")
        if await self._offers(spec, "seed-demo"):
            await self._run_command(spec, "seed-demo")

    async def _offers(self, spec: ServiceSpec, command: str) -> bool:
        """Whether `python -m confide_<name>` lists `command` among its commands (argparse usage)."""
        cfg = self.config
        proc = await asyncio.create_subprocess_exec(
            cfg.python, "-m", spec.module, "--help",
            env=self._service_env(spec), cwd=cfg.root,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            # Generous: importing a service takes seconds, and much longer on a loaded 2-core machine.
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=cfg.service_timeout)
        except TimeoutError:  # not an argparse program: it offers nothing we can see
            proc.kill()
            await proc.wait()
            return False
        usage = out.decode(errors="replace")
        return proc.returncode == 0 and re.search(rf"[{{,]{re.escape(command)}[,}}]", usage) is not None

    async def _run_command(self, spec: ServiceSpec, command: str) -> None:
        cfg = self.config
        proc = _Proc(f"{spec.name}:{command}", cfg.run_dir / "logs" / f"{spec.name}.{command}.log", self.out)
        self._children.append(proc)
        await proc.spawn([cfg.python, "-m", spec.module, command], self._service_env(spec), cfg.root)
        code = await proc.wait()
        if code != 0:
            raise StackError(
                f"`python -m {spec.module} {command}` failed (exit {code}); log {proc.log_path}:\n"
                f"{tail(proc.log_path, 30)}"
            )

    async def _wait_serving(self, spec: ServiceSpec) -> None:
        proc = self.services[spec.name]
        deadline = time.monotonic() + self.config.service_timeout
        target = f"{LOOPBACK}:{spec.grpc_port}"
        async with grpc.aio.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if proc.returncode is not None:
                    raise StackError(
                        f"{spec.name} exited during startup (exit {proc.returncode}); log {proc.log_path}:\n"
                        f"{tail(proc.log_path, 30)}"
                    )
                with contextlib.suppress(grpc.RpcError, TimeoutError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        log.info("%s is SERVING on %s", spec.name, target)
                        return
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{spec.name} did not report SERVING on {target} (grpc.health.v1) within "
                        f"{self.config.service_timeout:.0f}s; log {proc.log_path}"
                    )
                await asyncio.sleep(0.25)

    # -- faults (what a kubelet does to a crashed pod: fault tests drive these) -----------------

    async def kill_service(self, name: str) -> int:
        """SIGKILL `name`'s process group (no drain, no flush: a crash) and wait for it to be gone.

        Returns the exit status (-9). The stack does not restart it by itself; `restart_service` does.
        """
        proc = self.services[name]
        process = proc.process
        if process is None or process.returncode is not None:
            raise StackError(f"{name} is not running")
        _signal_group(process.pid, signal.SIGKILL)
        if not await _exited(process, _KILL_WAIT_S):
            raise StackError(f"{name} (pid {process.pid}) survived SIGKILL")
        await proc._finish_output(_OUTPUT_DRAIN_S)
        return process.returncode if process.returncode is not None else -9

    async def restart_service(self, name: str) -> float:
        """Start `name` again (``serve``, same ports and environment) and wait for SERVING.

        A service still running is killed first. Returns the seconds until it reported SERVING.
        """
        spec = next((s for s in self.config.services if s.name == name), None)
        if spec is None:
            raise StackError(f"no service {name!r} in this stack")
        old = self.services[name]
        if old.returncode is None and old.process is not None:
            await self.kill_service(name)
        started = time.monotonic()
        proc = _Proc(spec.name, old.log_path, self.out)
        self._children.append(proc)
        self.services[name] = proc
        cfg = self.config
        await proc.spawn([cfg.python, "-m", spec.module, "serve"], self._service_env(spec), cfg.root)
        await self._wait_serving(spec)
        return time.monotonic() - started

    @staticmethod
    async def _gather_all(jobs: list[Awaitable[None]]) -> None:
        """Run `jobs` concurrently; when one fails, let the others finish, then raise the first error."""
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    @staticmethod
    async def _first_failure(jobs: list[Coroutine[Any, Any, None]]) -> None:
        """Run `jobs` concurrently; on the first failure cancel the rest (no waiting out timeouts)."""
        tasks = [asyncio.create_task(job) for job in jobs]
        if not tasks:
            return
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- run ----------------------------------------------------------------------------------

    async def watch(self, stop: asyncio.Event) -> str | None:
        """Wait for `stop` (returns None) or for a part of the stack to die (returns what died)."""
        waiters: dict[asyncio.Task[Any], str] = {asyncio.create_task(stop.wait()): ""}
        for name, proc in self.services.items():
            waiters[asyncio.create_task(proc.wait())] = name
        waiters[asyncio.create_task(self._watch_infra())] = "infra"
        if self.prometheus is not None:
            waiters[asyncio.create_task(self.prometheus.wait())] = "prometheus"
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
        if stop.is_set():
            return None
        task = next(iter(done))
        what = waiters[task]
        if what == "infra":
            return str(task.result())
        if what == "prometheus" and self.prometheus is not None:
            code, log_path = self.prometheus.returncode, self.prometheus.log_path
            return f"prometheus exited (code {code}); log {log_path}:\n{tail(log_path, 20)}"
        proc = self.services[what]
        return (
            f"service {what} exited (code {proc.returncode}); log {proc.log_path}:\n{tail(proc.log_path, 20)}"
        )

    async def _watch_infra(self) -> str:
        while True:
            await asyncio.sleep(1.0)
            if self.kafka is not None and self.kafka.returncode() is not None:
                return (
                    f"the Kafka broker exited (code {self.kafka.returncode()}); log {self.kafka.log_file}:\n"
                    f"{tail(self.kafka.log_file, 20)}"
                )
            if self.postgres is not None and not self.postgres.is_running():
                return (
                    f"PostgreSQL stopped; log {self.postgres.log_file}:\n{tail(self.postgres.log_file, 20)}"
                )

    # -- stop ---------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Services first (they flush outboxes and commit offsets), then Kafka, then PostgreSQL.

        Finishes in bounded time whatever a child does (ignores SIGTERM, hangs, keeps its output
        pipe open), and Kafka and PostgreSQL are stopped even when an earlier step failed.
        """
        timeout = self.config.stop_timeout
        try:
            if self.prometheus is not None:  # first: it would only log the services going away
                log.info("stopping Prometheus")
                await self.prometheus.stop(timeout)
            live = [p for p in self._children if p.process is not None]
            if live:
                log.info("stopping %d service process(es)", len(live))
                results = await asyncio.gather(*(p.stop(timeout) for p in live), return_exceptions=True)
                for proc, result in zip(live, results, strict=True):
                    if isinstance(result, BaseException):
                        log.error("stopping %s failed: %r", proc.name, result)
        finally:
            try:
                if self.kafka is not None:
                    await self._stop_kafka(self.kafka, timeout)
            finally:
                try:
                    if self.postgres is not None:
                        await self._stop_postgres(self.postgres, timeout)
                finally:
                    (self.config.run_dir / "stack.json").unlink(missing_ok=True)

    @staticmethod
    async def _stop_kafka(kafka: KafkaBroker, grace_s: float) -> None:
        log.info("stopping Kafka")
        pid = kafka.pid
        # KafkaBroker.stop: SIGTERM, `grace_s` for a controlled shutdown, SIGKILL, 10 s to exit.
        if await _in_background_thread(lambda: kafka.stop(grace_s), grace_s + 20):
            return
        if pid is not None:
            log.error("Kafka did not stop cleanly: killing its process group (pid %d)", pid)
            _signal_group(pid, signal.SIGKILL)

    @staticmethod
    async def _stop_postgres(postgres: PostgresCluster, grace_s: float) -> None:
        log.info("stopping PostgreSQL")
        pid = postgres.postmaster_pid()
        # pg_ctl stop -m fast, then -m immediate, each bounded by `grace_s` (+ slack for pg_ctl).
        if await _in_background_thread(lambda: postgres.stop(grace_s), 2 * grace_s + 40):
            return
        if pid is not None:
            log.error("PostgreSQL did not stop cleanly: killing the postmaster (pid %d)", pid)
            await _in_background_thread(lambda: kill_pid(pid, timeout=5, sig=signal.SIGQUIT), 15)

    # -- report -------------------------------------------------------------------------------

    def endpoints(self) -> dict[str, object]:
        """Where everything listens, as written to ``stack.json``."""
        cfg = self.config
        services: dict[str, dict[str, object]] = {}
        for spec in cfg.services:
            proc = self.services.get(spec.name)
            entry: dict[str, object] = {
                "pid": proc.process.pid if proc and proc.process else None,
                "grpc": f"{LOOPBACK}:{spec.grpc_port}",
                "metrics": f"http://{LOOPBACK}:{spec.metrics_port}/metrics",
                "log": str(self.services[spec.name].log_path) if spec.name in self.services else "",
            }
            if spec.name in self.database_urls:
                entry["database_url"] = self.database_urls[spec.name]
            services[spec.name] = entry
        prometheus: dict[str, object] = {}
        if self.prometheus is not None:
            prometheus = {
                "url": self.prometheus.url,
                "config": str(self.prometheus.config_path),
                "log": str(self.prometheus.log_path),
            }
        return {
            "pid": os.getpid(),
            "prometheus": prometheus,
            "kafka": {
                "bootstrap_servers": self.bootstrap_servers,
                "managed": self.kafka is not None,
                "log": str(self.kafka.log_file) if self.kafka else "",
            },
            "postgres": {
                "admin_dsn": self.postgres.admin_dsn if self.postgres else "",
                "data_dir": str(self.postgres.data_dir) if self.postgres else "",
                "log": str(self.postgres.log_file) if self.postgres else "",
            },
            "jwks_file": str(self.keys.jwks_path) if self.keys else "",
            "dev_signing_key_file": str(self.keys.private_key_path) if self.keys else "",
            "services": services,
        }

    def write_endpoints(self) -> Path:
        path = self.config.run_dir / "stack.json"
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n", encoding="utf-8")
        return path

    def table(self) -> str:
        """The human summary printed once everything is up."""
        rows: list[tuple[str, str, str]] = []
        if self.kafka is not None:
            rows.append(
                ("kafka", self.bootstrap_servers, f"controller {LOOPBACK}:{self.kafka.controller_port}")
            )
            rows.append(("", "", f"log {_rel(self.kafka.log_file)}"))
        else:
            rows.append(("kafka", self.bootstrap_servers, "external (KAFKA_BOOTSTRAP_SERVERS)"))
        if self.postgres is not None:
            rows.append(("postgresql", self.postgres.admin_dsn, f"log {_rel(self.postgres.log_file)}"))
        if self.keys is not None:
            rows.append(
                ("jwks", _rel(self.keys.jwks_path), f"dev signing key {_rel(self.keys.private_key_path)}")
            )
        for spec in self.config.services:
            rows.append(
                (
                    spec.name,
                    f"grpc {LOOPBACK}:{spec.grpc_port}",
                    f"metrics http://{LOOPBACK}:{spec.metrics_port}/metrics",
                )
            )
            if spec.name in self.database_urls:
                rows.append(("", "", f"db {self.database_urls[spec.name]}"))
            rows.append(("", "", f"log {_rel(self.services[spec.name].log_path)}"))
        if self.prometheus is not None:
            url = self.prometheus.url
            rows.append(("prometheus", url, f"targets {url}/targets, alerts {url}/alerts"))
            rows.append(("", "", f"log {_rel(self.prometheus.log_path)}"))
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        lines = [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
        if not self.config.services:
            lines.append("  (no runnable services yet: one starts once it has confide_<name>/__main__.py)")
        took = f" in {self.started_in:.1f}s" if self.started_in is not None else ""
        return f"\n{READY_BANNER}{took}. Ctrl-C stops everything.\n\n" + "\n".join(lines) + "\n\n"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


async def run_stack(config: StackConfig, out: IO[str] | None = None) -> int:
    """Start the stack, run until Ctrl-C/SIGTERM or until a part dies, stop everything. Exit code."""
    out = out or sys.stdout
    lock = DirLock(config.run_dir)
    if not lock.try_acquire():
        log.error(
            "%s is in use by another `make run` (pid %s); stop it first or set CONFIDE_RUN_DIR",
            config.run_dir,
            lock.holder(),
        )
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(name: str) -> None:
        if stop.is_set():
            log.warning("%s: already stopping, please wait", name)
        else:
            log.info("%s: stopping the stack", name)
            stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    stack = LocalStack(config, out)
    code = 0
    stopping = asyncio.create_task(stop.wait())
    try:
        starting = asyncio.create_task(stack.start())
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            stack.write_endpoints()
            out.write(stack.table())
            out.flush()
            failure = await stack.watch(stop)
            if failure:
                log.error("%s", failure)
                code = 1
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
    except DevstackError as exc:
        log.error("%s", exc)
        code = 1
    except Exception:
        log.exception("the stack failed")
        code = 1
    finally:
        stopping.cancel()
        await stack.shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        lock.release()
    log.info("stack stopped")
    return code
