"""Small process, port and path helpers shared by the Kafka, PostgreSQL and stack modules.

Everything here exists so the servers we start never outlive their owner and never collide with
another stack on the same machine (a `make run` beside a pytest session beside CI).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


class DevstackError(RuntimeError):
    """A local server could not be prepared, started or reached; the message says what to do."""


def repo_root() -> Path:
    """The repository root: the folder that holds ``protos/topics.yaml``.

    ``CONFIDE_REPO_ROOT`` wins; otherwise we walk up from this file (the package is installed in
    editable mode, so it lives inside the repository) and then from the working directory.
    """
    explicit = os.environ.get("CONFIDE_REPO_ROOT")
    if explicit:
        return Path(explicit).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "protos" / "topics.yaml").is_file():
                return candidate
    raise DevstackError(
        "cannot find the repository root (a folder with protos/topics.yaml); set CONFIDE_REPO_ROOT"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it; tiny race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the servers use, so a port in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, for error messages (empty if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on a private loop in a worker thread.

    The servers' lifecycle is synchronous (subprocesses), but their readiness probes and admin
    calls use asyncio clients. A worker thread keeps this safe both inside a running loop (an
    async test calling a sync helper) and outside one: `asyncio.run` in the caller's thread would
    reset that thread's current event loop, which pytest-asyncio's session loop relies on.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack") as pool:
        return pool.submit(asyncio.run, coro).result()


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (and is not a zombie we could reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def pid_cmdline(pid: int) -> str:
    """The command line of `pid` (Linux /proc), or "" when unknown."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", errors="replace")
    except OSError:
        return ""


def terminate_group(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM the process group led by `proc`, wait up to `timeout`, then SIGKILL it.

    Our servers run in their own process group (so Ctrl-C at the terminal reaches only the
    runner, which then stops them in order); signalling the group also reaches any children.
    """
    if proc.poll() is None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # Stragglers in the group (if any) must not outlive the leader.
    _killpg(proc.pid, signal.SIGKILL)


def kill_pid(pid: int, timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal a process we do not own as a child (left over from a killed run), then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class DirLock:
    """An exclusive `flock` on ``<dir>/.lock`` held while a stack uses that run folder.

    A flock dies with its process, so a folder whose lock can be taken belongs to nobody: that is
    how a new session recognises leftovers of a killed one (even across PID namespaces).
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> str:
        """The pid written by the current holder (for error messages)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """A blocking exclusive lock on `path`, for one-time work (jar download, key generation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a file so readers see the old or the new content, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


S = TypeVar("S", bound=_Stoppable)


class StopOnExit(Generic[S]):
    """Servers started by this process, stopped at interpreter exit if nobody stopped them.

    The safety net behind explicit `stop()` calls and fixture finalizers: an exception or a
    Ctrl-C in the middle of a session must not leave a JVM or a postmaster running.
    """

    def __init__(self) -> None:
        self._items: set[S] = set()
        self._guard = threading.Lock()
        atexit.register(self.stop_all)

    def add(self, item: S) -> None:
        with self._guard:
            self._items.add(item)

    def discard(self, item: S) -> None:
        with self._guard:
            self._items.discard(item)

    def stop_all(self) -> None:
        with self._guard:
            items = list(self._items)
        for item in items:
            with contextlib.suppress(Exception):
                item.stop(timeout=10)
