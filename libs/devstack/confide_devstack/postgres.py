"""A private PostgreSQL cluster from the machine's PostgreSQL 15 binaries, for `make run` and tests.

Why a private cluster: the system PostgreSQL (if any) belongs to the machine, not to us; tests
must be able to create and throw away databases freely, and run beside a running ``make run``.
So each stack gets its own cluster (``initdb`` + ``pg_ctl``) in a run folder under ``.run/``
(git-ignored), listening on 127.0.0.1 only with unix sockets in the run folder, and trust
authentication (acceptable for a loopback-only developer cluster, never for deployment).

``initdb`` refuses to run as root. When we are root (containers, CI) the server runs as the
``postgres`` system user that the PostgreSQL package creates (or a ``confide-pg`` system user we
create when that is missing), through ``runuser``. That user often cannot reach the clone (``/root``
is mode 700), so as root the server's folder (data, socket, log) moves to a private folder of its
own, ``/var/tmp/confide-devstack/pg-<hash of the run folder>`` (mode 700, owned by that user;
the parent is root's, mode 711), linked from ``<run folder>/server``. `stop` removes it unless
``keep_data`` (what ``make run`` wants: its databases survive restarts); a folder whose run folder
is gone (a killed session, ``make clean``) is removed by the next start. Non-root users keep
everything in the run folder, as before.

``durable=False`` (tests) turns off fsync, synchronous commit and full-page writes: much faster,
but a machine crash can corrupt the cluster — fine for throw-away data. ``make run`` keeps the
defaults. The locale is ``C`` with UTF8 encoding, as CloudNativePG creates databases in production.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncpg

from confide_devstack._util import (
    LOOPBACK,
    DevstackError,
    StopOnExit,
    free_port,
    kill_pid,
    pid_alive,
    pid_cmdline,
    port_is_free,
    run_sync,
    tail,
    write_atomic,
)

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
PREFERRED_MAJOR = "15"
FALLBACK_OS_USER = "confide-pg"
_CONF_NAME = "confide_devstack.conf"
_DB_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PROTECTED = frozenset({"postgres", "template0", "template1"})
# Longest unix socket path the kernel accepts (sun_path is 108 bytes with the terminating NUL).
_MAX_SOCKET_PATH = 107
#: Where a root-run cluster keeps its server folder (reachable by the server's OS user).
PRIVATE_ROOT = Path("/var/tmp/confide-devstack")  # noqa: S108 - checked: root-owned, not writable by others
_ORIGIN_FILE = "origin"  # in a private server folder: the run folder it belongs to


class PostgresError(DevstackError):
    """The cluster could not be initialised, started, stopped or administered."""


def find_bindir() -> Path:
    """Where ``initdb``/``pg_ctl``/``postgres`` live.

    ``CONFIDE_PG_BINDIR``, then ``pg_config --bindir``, then ``/usr/lib/postgresql/15/bin`` (Debian's
    layout; the newest other version if 15 is absent), then PATH.
    """
    candidates: list[Path] = []
    explicit = os.environ.get("CONFIDE_PG_BINDIR")
    if explicit:
        candidates.append(Path(explicit))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: (Path(p).parent.name != PREFERRED_MAJOR, -_major(Path(p).parent.name)),
    )
    candidates.extend(Path(p) for p in debian)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install PostgreSQL 15 "
        "(Debian: apt-get install postgresql-15) or set CONFIDE_PG_BINDIR"
    )


def _major(text: str) -> int:
    try:
        return int(text.split(".")[0])
    except ValueError:
        return 0


def server_os_user() -> str | None:
    """The OS user the server runs as: None (ourselves) unless we are root, who may not run it."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, FALLBACK_OS_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    log.info("creating system user %s to run PostgreSQL (initdb refuses root)", FALLBACK_OS_USER)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", FALLBACK_OS_USER],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode not in (0, 9):  # 9: created meanwhile by someone else
        raise PostgresError(f"useradd {FALLBACK_OS_USER} failed: {result.stderr.strip()}")
    return FALLBACK_OS_USER


def private_server_dir(run_dir: Path) -> Path:
    """The server folder of a root-run cluster whose run folder is `run_dir` (see the module doc)."""
    digest = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return PRIVATE_ROOT / f"pg-{digest}"


class PostgresCluster:
    """A PostgreSQL cluster in `run_dir` on 127.0.0.1:`port` (a free port when None).

    Layout of the server folder (`server_dir`: `run_dir` itself, or a private folder when we are
    root, see the module doc): ``data/`` (PGDATA), ``postgres.log`` (server log, appended),
    ``sock/`` (unix socket). With ``keep_data`` (the default) a persistent run folder reuses its
    databases; without it `stop` removes the data. The cluster's superuser is ``postgres`` with
    trust authentication. Use as a context manager, or `start`/`stop`.
    """

    host = LOOPBACK
    superuser = SUPERUSER

    def __init__(
        self,
        run_dir: Path,
        port: int | None = None,
        durable: bool = False,
        *,
        bindir: Path | None = None,
        startup_timeout: float = 60.0,
        settings: Mapping[str, str] | None = None,
        keep_data: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.keep_data = keep_data
        self.port = port if port is not None else free_port()
        self.durable = durable
        self.bindir = bindir
        self.startup_timeout = startup_timeout
        self.settings = dict(settings or {})
        self._os_user: str | None = None
        self._owned = False  # started by this object (a server found running at start is stale)
        self._lock = threading.Lock()

    # -- locations and URLs -------------------------------------------------------------------

    @property
    def relocated(self) -> bool:
        """True when the server folder is a private folder outside `run_dir` (we are root)."""
        return os.geteuid() == 0

    @property
    def server_dir(self) -> Path:
        """Where data, socket and log live: `run_dir`, or the private folder when we are root."""
        return private_server_dir(self.run_dir) if self.relocated else self.run_dir

    @property
    def data_dir(self) -> Path:
        return self.server_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.server_dir / "postgres.log"

    @property
    def socket_dir(self) -> Path | None:
        """Where the unix socket goes; None when the path would be too long (TCP only then)."""
        sock = self.server_dir / "sock"
        return sock if len(f"{sock}/.s.PGSQL.{self.port}") <= _MAX_SOCKET_PATH else None

    def dsn(self, database: str = "postgres") -> str:
        """libpq/asyncpg connection string for `database`."""
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{database}"

    @property
    def admin_dsn(self) -> str:
        """DSN of the ``postgres`` maintenance database, as the superuser."""
        return self.dsn("postgres")

    def url(self, database: str) -> str:
        """SQLAlchemy URL (asyncpg driver) for `database` — what ``<NAME>_DATABASE_URL`` takes."""
        return f"postgresql+asyncpg://{self.superuser}@{self.host}:{self.port}/{database}"

    # -- lifecycle ----------------------------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` (the server of this data directory, or a stale file)."""
        return _postmaster_pid(self.data_dir)

    def is_running(self) -> bool:
        """True while a postmaster serves this data directory (read from ``postmaster.pid``)."""
        pid = _postmaster_pid(self.data_dir)
        return pid is not None and pid_alive(pid)

    def start(self) -> Self:
        """Initialise the cluster on first use, (re)write our settings and start it; idempotent."""
        with self._lock:
            if self._owned and self.is_running():
                return self
            bindir = self.bindir = self.bindir or find_bindir()
            self._os_user = server_os_user()
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.relocated:
                remove_orphaned_server_dirs()
                self._prepare_private_dir()
            self._prepare_ownership()
            if not (self.data_dir / "PG_VERSION").is_file():
                self._initdb(bindir)
            if self.is_running():
                log.warning("stopping a PostgreSQL server left over from an earlier run in %s", self.data_dir)
                self._pg_ctl_stop(bindir, mode="fast", timeout=30)
            if not port_is_free(self.port):
                raise PostgresError(
                    f"port {self.port} on {LOOPBACK} already in use (another `make run` or a system "
                    "PostgreSQL? set CONFIDE_PG_PORT)"
                )
            self._write_settings()
            result = self._run(
                [str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                 "-t", str(int(self.startup_timeout)), "-s", "start"],
                timeout=self.startup_timeout + 15,
                new_session=True,
            )  # fmt: skip
            if result.returncode != 0:
                raise PostgresError(
                    f"PostgreSQL did not start on {self.host}:{self.port} (pg_ctl exit {result.returncode}): "
                    f"{result.stdout}{result.stderr}\nlog {self.log_file}:\n{tail(self.log_file)}"
                )
            self._owned = True
            _RUNNING.add(self)
            log.info("PostgreSQL ready on %s:%d (data %s)", self.host, self.port, self.data_dir)
            return self

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (clients disconnected, no data lost); immediate, then SIGKILL, as fallbacks.

        Without ``keep_data`` the data goes too (the private server folder, when we are root).
        """
        self._stop(timeout, discard=not self.keep_data)

    def restart(self) -> Self:
        """Stop and start again, keeping the data (also without ``keep_data``)."""
        self._stop(30.0, discard=False)
        return self.start()

    def _stop(self, timeout: float, *, discard: bool) -> None:
        with self._lock:
            _RUNNING.discard(self)
            self._owned = False
            try:
                if self.is_running():
                    bindir = self.bindir or find_bindir()
                    if self._os_user is None:
                        self._os_user = server_os_user()
                    self._pg_ctl_stop(bindir, mode="fast", timeout=timeout)
            finally:
                if discard and not self.is_running():
                    _remove_server_dir(self.run_dir)

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
    def stop_leftover(run_dir: Path, *, remove_data: bool = False) -> None:
        """Stop a postmaster that a killed run left behind in `run_dir` (no binaries needed).

        With `remove_data`, its data goes too (the private server folder, when we are root).
        """
        run_dir = Path(run_dir).resolve()
        for server_dir in {run_dir, private_server_dir(run_dir)}:
            data_dir = server_dir / "data"
            pid = _postmaster_pid(data_dir)
            if pid is not None and pid_alive(pid) and str(data_dir) in pid_cmdline(pid):
                log.warning("stopping a PostgreSQL server left over from an earlier run (pid %d)", pid)
                kill_pid(pid, timeout=30, sig=signal.SIGINT)  # SIGINT = fast shutdown
        if remove_data:
            _remove_server_dir(run_dir)

    # -- databases ----------------------------------------------------------------------------

    async def create_database_async(self, name: str) -> str:
        """Create `name` unless it exists; return its SQLAlchemy asyncpg URL."""
        _check_db_name(name)
        conn = await self._connect()
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    async def drop_database_async(self, name: str) -> None:
        """Drop `name` if it exists, disconnecting its sessions (``WITH (FORCE)``)."""
        _check_db_name(name)
        if name in _PROTECTED:
            raise PostgresError(f"refusing to drop the system database {name!r}")
        conn = await self._connect()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def create_database(self, name: str) -> str:
        """Synchronous `create_database_async` (works inside a running event loop too)."""
        return run_sync(self.create_database_async(name))

    def drop_database(self, name: str) -> None:
        run_sync(self.drop_database_async(name))

    async def _connect(self, database: str = "postgres") -> asyncpg.Connection:
        try:
            return await asyncpg.connect(
                host=self.host, port=self.port, user=self.superuser, database=database, timeout=10
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise PostgresError(f"cannot connect to PostgreSQL at {self.dsn(database)}: {exc}") from exc

    # -- internals ----------------------------------------------------------------------------

    def _run(
        self, args: list[str], *, timeout: float, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the server's OS user, with no PG* variables leaking in."""
        cmd = ["runuser", "-u", self._os_user, "--", *args] if self._os_user else args
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            return subprocess.run(  # noqa: S603 - fixed argv, no shell
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=self.server_dir,  # the server's user may not be able to enter run_dir
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=new_session,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc

    def _prepare_private_dir(self) -> None:
        """Create the private server folder: ours (root, 711) parent, the server user's 700 folder.

        /var/tmp is writable by everyone, so nothing found there is trusted: the parent must be
        root's and not writable by others, and the folder a real directory of the server's user.
        """
        assert self._os_user is not None
        entry = pwd.getpwnam(self._os_user)
        with contextlib.suppress(FileExistsError):
            PRIVATE_ROOT.mkdir(mode=0o711, parents=True)
        root_stat = PRIVATE_ROOT.lstat()
        if not stat.S_ISDIR(root_stat.st_mode) or root_stat.st_uid != 0 or root_stat.st_mode & 0o022:
            raise PostgresError(
                f"{PRIVATE_ROOT} must be a directory owned by root and writable by root only; "
                "remove it and start again"
            )
        os.chmod(PRIVATE_ROOT, 0o711)  # noqa: S103 - others (the server user) may traverse, not list
        server_dir = self.server_dir
        with contextlib.suppress(FileExistsError):
            server_dir.mkdir(mode=0o700)
            os.chown(server_dir, entry.pw_uid, entry.pw_gid)
        dir_stat = server_dir.lstat()
        if not stat.S_ISDIR(dir_stat.st_mode) or dir_stat.st_uid != entry.pw_uid:
            raise PostgresError(f"{server_dir} is not a directory of user {self._os_user!r}; remove it")
        os.chmod(server_dir, 0o700)
        write_atomic(server_dir / _ORIGIN_FILE, f"{self.run_dir}\n".encode(), mode=0o600)
        link = self.run_dir / "server"
        if not (link.is_symlink() and Path(os.readlink(link)) == server_dir):
            link.unlink(missing_ok=True)
            link.symlink_to(server_dir, target_is_directory=True)

    def _prepare_ownership(self) -> None:
        """Hand the server folder to the server's OS user and check it can reach it."""
        if self._os_user is None:
            return
        entry = pwd.getpwnam(self._os_user)
        for path in (self.server_dir, self.socket_dir, self.log_file):
            if path is None:
                continue
            if path == self.socket_dir:
                path.mkdir(mode=0o700, exist_ok=True)
            if path.exists():
                os.chown(path, entry.pw_uid, entry.pw_gid)
        server_dir = str(self.server_dir)
        probe = self._run(["test", "-w", server_dir, "-a", "-x", server_dir], timeout=10)
        if probe.returncode != 0:
            raise PostgresError(
                f"the {self._os_user!r} user cannot reach {server_dir} (a parent folder is not "
                "traversable by other users)"
            )

    def _initdb(self, bindir: Path) -> None:
        args = [
            str(bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]  # fmt: skip
        if not self.durable:
            args.append("--no-sync")
        result = self._run(args, timeout=120)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}")
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# Settings of the Confide dev stack, rewritten on every start.\n")
            fh.write(f"include_if_exists = '{_CONF_NAME}'\n")

    def _write_settings(self) -> None:
        sock = self.socket_dir
        if sock is not None:
            sock.mkdir(mode=0o700, exist_ok=True)
            if self._os_user:
                entry = pwd.getpwnam(self._os_user)
                os.chown(sock, entry.pw_uid, entry.pw_gid)
        settings: dict[str, str] = {
            "listen_addresses": _quote(LOOPBACK),
            "port": str(self.port),
            "unix_socket_directories": _quote(str(sock) if sock else ""),
            "unix_socket_permissions": "0700",
            "max_connections": "200",
            "timezone": _quote("UTC"),
            "log_timezone": _quote("UTC"),
            "logging_collector": "off",
            "log_line_prefix": _quote("%m [%p] %q%u@%d "),
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.settings)
        body = "# Written by confide_devstack.postgres on every start; edits are overwritten.\n" + "".join(
            f"{k} = {v}\n" for k, v in settings.items()
        )
        path = self.data_dir / _CONF_NAME
        write_atomic(path, body.encode())
        if self._os_user:
            entry = pwd.getpwnam(self._os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_ctl_stop(self, bindir: Path, *, mode: str, timeout: float) -> None:
        pg_ctl = str(bindir / "pg_ctl")
        for attempt_mode in (mode, "immediate"):
            result = self._run(
                [
                    pg_ctl,
                    "-D",
                    str(self.data_dir),
                    "-m",
                    attempt_mode,
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-s",
                    "stop",
                ],
                timeout=timeout + 15,
            )
            if result.returncode == 0 or not self.is_running():
                return
            log.warning("pg_ctl stop -m %s failed: %s", attempt_mode, (result.stdout + result.stderr).strip())
        pid = _postmaster_pid(self.data_dir)
        if pid is not None:
            kill_pid(pid, timeout=5, sig=signal.SIGQUIT)


def _remove_server_dir(run_dir: Path) -> None:
    """Remove the data of the cluster of `run_dir` (its private server folder when we are root)."""
    if os.geteuid() == 0:
        shutil.rmtree(private_server_dir(run_dir), ignore_errors=True)
        (run_dir / "server").unlink(missing_ok=True)
    else:
        shutil.rmtree(run_dir / "data", ignore_errors=True)


def remove_orphaned_server_dirs() -> list[Path]:
    """Remove private server folders whose run folder is gone and whose server is not running.

    They are what a killed session or ``make clean`` leaves in /var/tmp; we are root here.
    """
    removed: list[Path] = []
    if os.geteuid() != 0 or not PRIVATE_ROOT.is_dir():
        return removed
    for server_dir in PRIVATE_ROOT.glob("pg-*"):
        try:
            origin = Path((server_dir / _ORIGIN_FILE).read_text(encoding="utf-8").strip())
        except OSError:
            continue  # being created right now, or not ours
        if not origin.is_absolute() or origin.exists():
            continue
        pid = _postmaster_pid(server_dir / "data")
        if pid is not None and pid_alive(pid):
            continue
        shutil.rmtree(server_dir, ignore_errors=True)
        removed.append(server_dir)
    return removed


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text(encoding="ascii", errors="replace").split("\n", 1)[0]
        return int(first.strip())
    except (OSError, ValueError):
        return None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_db_name(name: str) -> None:
    if not _DB_NAME_RE.match(name):
        raise PostgresError(f"database name {name!r} must match {_DB_NAME_RE.pattern}")


_RUNNING: StopOnExit[PostgresCluster] = StopOnExit()
