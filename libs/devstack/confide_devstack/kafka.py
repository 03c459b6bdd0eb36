"""A real Apache Kafka broker (KRaft, one combined broker+controller node) for `make run` and tests.

Why the real broker: Kafka-compatible substitutes were tried and fail aiokafka's idempotent
producer (``InitProducerId``) and report wrong end offsets, which is exactly what the outbox
relay and the consumers depend on. The broker comes from the official ``org.apache.kafka``
artifacts on Maven Central, fetched once by Maven into ``.cache/kafka/<version>/libs`` (the
repository's ``.cache`` is git-ignored), and runs with the machine's JDK (17+). No Docker.

Every broker binds 127.0.0.1 only. Ports are free ones unless given, so a test session's broker
can run beside the ``make run`` broker on 9092. The broker runs in its own process group with its
output in ``<run_dir>/kafka.log``; `KafkaBroker.stop` (also called at interpreter exit) sends
SIGTERM, waits for the controlled shutdown, then SIGKILLs. A broker left over from a killed run
in the same run folder is found through its pid file and stopped before a new one starts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.admin import AIOKafkaAdminClient

from confide_devstack._util import (
    LOOPBACK,
    DevstackError,
    StopOnExit,
    file_lock,
    free_port,
    kill_pid,
    pid_alive,
    pid_cmdline,
    port_is_free,
    repo_root,
    run_sync,
    tail,
    terminate_group,
    write_atomic,
)

log = logging.getLogger(__name__)

#: Kafka version of ``deploy/local/kafka/pom.xml`` (its ``<kafka.version>`` wins); keys the cache.
KAFKA_VERSION = "4.1.1"

_COMPLETE_MARKER = ".complete"
_PID_FILE = "kafka.pid"
_MAIN_CLASS = "kafka.Kafka"

# Broker logs go to stdout (captured into kafka.log); request/state-change chatter is muted.
_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
"""


class KafkaError(DevstackError):
    """The broker could not be fetched, formatted, started or reached."""


def default_pom() -> Path:
    """``deploy/local/kafka/pom.xml`` of this repository: what Maven resolves the broker from."""
    return repo_root() / "deploy" / "local" / "kafka" / "pom.xml"


def default_cache_dir() -> Path:
    """``.cache/`` at the repository root (git-ignored, kept between runs and sessions)."""
    return repo_root() / ".cache"


def ensure_kafka_libs(
    cache_dir: Path | None = None,
    *,
    pom: Path | None = None,
    timeout: float = 900.0,
) -> Path:
    """Return ``<cache>/kafka/<version>/libs`` holding the broker's runtime jars, fetching them once.

    Maven (``mvn`` on PATH, default ``~/.m2`` repository) copies the runtime dependencies of
    ``deploy/local/kafka/pom.xml``. A marker holding the pom's hash is written after success, so an
    interrupted download is redone and a changed pom refetches. A file lock makes concurrent
    sessions (``make run`` and pytest on a fresh machine) fetch once, not twice.
    """
    cache_dir = cache_dir or default_cache_dir()
    pom = pom or default_pom()
    if not pom.is_file():
        raise KafkaError(f"Kafka pom not found: {pom}")
    pom_bytes = pom.read_bytes()
    pom_hash = hashlib.sha256(pom_bytes).hexdigest()
    match = re.search(rb"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom_bytes)
    version = match.group(1).decode() if match else KAFKA_VERSION
    version_dir = cache_dir / "kafka" / version
    libs = version_dir / "libs"
    marker = version_dir / _COMPLETE_MARKER
    if _marker_matches(marker, pom_hash):
        return libs
    with file_lock(cache_dir / "kafka" / f"{version}.lock"):
        if _marker_matches(marker, pom_hash):
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaError(
                "Maven (`mvn`) is needed once to fetch the Kafka broker from Maven Central; "
                "install it (Debian: apt-get install maven) and retry"
            )
        marker.unlink(missing_ok=True)
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir(parents=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ]
        log.info("fetching Apache Kafka %s from Maven Central into %s", version, libs)
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                cmd, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaError(f"fetching Kafka jars timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
        jars = sorted(p.name for p in libs.glob("*.jar"))
        if result.returncode != 0 or not any(j.startswith(f"kafka_2.13-{version}") for j in jars):
            raise KafkaError(
                f"fetching Kafka jars failed (exit {result.returncode}): {' '.join(cmd)}\n"
                f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        marker.write_text(pom_hash + "\n", encoding="utf-8")
        log.info("fetched %d jars in %.1fs", len(jars), time.monotonic() - started)
        return libs


def _marker_matches(marker: Path, pom_hash: str) -> bool:
    try:
        return marker.read_text(encoding="utf-8").strip() == pom_hash
    except OSError:
        return False


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH (Kafka 4 needs Java 17+)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaError("no `java` found (set JAVA_HOME or install a JDK 17+, e.g. openjdk-17-jdk-headless)")
    return java


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding, as Kafka writes it."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):  # Kafka rejects ids that look like a command-line option
            return cid


class KafkaBroker:
    """One KRaft node (broker + controller) listening on 127.0.0.1, with its data in `run_dir`.

    Layout of `run_dir`: ``server.properties``, ``log4j2.properties``, ``cluster.id`` (kept, so a
    persistent run folder such as ``.run/local/kafka`` reuses its formatted storage), ``data/``
    (the log dirs), ``kafka.log`` (broker output; the previous run's is ``kafka.log.1``) and
    ``kafka.pid`` while running.

    `start` fetches the jars if needed, formats storage on first use, starts the JVM and returns
    once an admin client can list topics. Use as a context manager, or call `start`/`stop`.
    """

    host = LOOPBACK

    def __init__(
        self,
        run_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        *,
        libs_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 90.0,
        extra_properties: dict[str, str] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.port = port if port is not None else free_port()
        self.controller_port = controller_port if controller_port is not None else free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.libs_dir = libs_dir
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.extra_properties = dict(extra_properties or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    # -- locations ----------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>``: what clients and ``KAFKA_BOOTSTRAP_SERVERS`` take."""
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kafka.log"

    @property
    def properties_file(self) -> Path:
        return self.run_dir / "server.properties"

    @property
    def pid(self) -> int | None:
        """The broker JVM's pid while this object runs it."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def is_running(self) -> bool:
        return self.pid is not None

    def returncode(self) -> int | None:
        """The JVM's exit status once it has exited (None while running or never started)."""
        return None if self._proc is None else self._proc.poll()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the broker and wait until it serves metadata; raise `KafkaError` with the log tail."""
        with self._lock:
            if self.is_running():
                return self
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.stop_leftover(self.run_dir)
            busy = [p for p in (self.port, self.controller_port) if not port_is_free(p)]
            if busy:
                raise KafkaError(
                    f"port(s) {', '.join(map(str, busy))} on {LOOPBACK} already in use "
                    "(another `make run`? set CONFIDE_KAFKA_PORT / CONFIDE_KAFKA_CONTROLLER_PORT)"
                )
            libs = self.libs_dir or ensure_kafka_libs()
            java = find_java()
            self._write_config()
            self._format_storage(java, libs)
            self._launch(java, libs)
            _RUNNING.add(self)
        try:
            run_sync(self._wait_ready())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM (controlled shutdown), then SIGKILL after `timeout` seconds."""
        with self._lock:
            proc, self._proc = self._proc, None
            _RUNNING.discard(self)
            if proc is None:
                return
            terminate_group(proc, timeout)
            (self.run_dir / _PID_FILE).unlink(missing_ok=True)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def stop_leftover(run_dir: Path) -> None:
        """Kill a broker that a killed run left behind in `run_dir` (pid file + command-line check)."""
        pid_file = Path(run_dir) / _PID_FILE
        try:
            pid = int(pid_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return
        cmdline = pid_cmdline(pid)
        if pid_alive(pid) and _MAIN_CLASS in cmdline and str(Path(run_dir).resolve()) in cmdline:
            log.warning("stopping a Kafka broker left over from an earlier run (pid %d)", pid)
            kill_pid(pid, timeout=30)
        elif pid_alive(pid):
            log.info("pid %d of %s is not that run's broker any more; leaving it alone", pid, pid_file)
        pid_file.unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------------------------

    def _properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # Consumers join at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from protos/topics.yaml (or a test's new_topic): a typo must fail, not
            # silently create a topic with default settings.
            "auto.create.topics.enable": "false",
            # Sized for a 2-core laptop or CI runner.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
        props.update(self.extra_properties)
        return props

    def _write_config(self) -> None:
        body = "".join(f"{k}={v}\n" for k, v in self._properties().items())
        header = "# Written by confide_devstack.kafka on every start; edits are overwritten.\n"
        write_atomic(self.properties_file, (header + body).encode())
        write_atomic(self.run_dir / "log4j2.properties", _LOG4J2_PROPERTIES.encode())

    def _jvm(self, java: str, libs: Path) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
            # Marks the process as ours for stop_leftover (the run folder is also in the argv).
            f"-Dconfide.devstack.run_dir={self.run_dir}",
            "-cp",
            f"{libs}/*",
        ]

    def _format_storage(self, java: str, libs: Path) -> None:
        """Format the log dir once; later starts reuse it with the cluster id kept in ``cluster.id``."""
        if (self.data_dir / "meta.properties").is_file():
            return
        id_file = self.run_dir / "cluster.id"
        cluster_id = id_file.read_text(encoding="ascii").strip() if id_file.is_file() else ""
        if not cluster_id:
            cluster_id = new_cluster_id()
            write_atomic(id_file, f"{cluster_id}\n".encode())
        # Static quorum (controller.quorum.voters): no --standalone, it is rejected together.
        cmd = [
            *self._jvm(java, libs),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_file),
        ]
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd, capture_output=True, text=True, timeout=120, check=False, cwd=self.run_dir
        )
        if result.returncode != 0:
            raise KafkaError(
                f"formatting Kafka storage in {self.data_dir} failed (exit {result.returncode}):\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            )

    def _launch(self, java: str, libs: Path) -> None:
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        with self.log_file.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [*self._jvm(java, libs), _MAIN_CLASS, str(self.properties_file)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                start_new_session=True,
            )
        write_atomic(self.run_dir / _PID_FILE, f"{self._proc.pid}\n".encode())

    async def _wait_ready(self) -> None:
        """Poll until the broker answers a metadata request, failing fast if the JVM exits."""
        started = time.monotonic()
        deadline = started + self.startup_timeout
        last_error: BaseException | None = None
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise KafkaError(
                    f"Kafka broker exited during startup (exit {code}); log {self.log_file}:\n"
                    f"{tail(self.log_file)}"
                )
            try:
                # A bare TCP probe first: the JVM takes a few seconds to listen, and the admin
                # client would log every refused connection meanwhile.
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 1.0)
                writer.close()
                await list_topics(self.bootstrap_servers, timeout_s=3.0)
            except Exception as exc:
                last_error = exc
            else:
                log.info("Kafka ready on %s after %.1fs", self.bootstrap_servers, time.monotonic() - started)
                return
            if time.monotonic() > deadline:
                raise KafkaError(
                    f"Kafka broker not ready on {self.bootstrap_servers} after {self.startup_timeout:.0f}s "
                    f"(last error: {last_error!r}); log {self.log_file}:\n{tail(self.log_file)}"
                )
            await asyncio.sleep(0.25)


async def list_topics(bootstrap_servers: str, timeout_s: float = 10.0) -> list[str]:
    """The cluster's topic names; raises if the broker does not answer within `timeout_s` seconds."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="confide-devstack",
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        topics: list[str] = await asyncio.wait_for(admin.list_topics(), timeout_s)
        return topics
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


_RUNNING: StopOnExit[KafkaBroker] = StopOnExit()
