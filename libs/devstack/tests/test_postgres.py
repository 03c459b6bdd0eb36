"""The private PostgreSQL cluster: per-test databases, independence, loopback only, stop/start."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import stat
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from confide_devstack._util import pid_alive, port_is_free
from confide_devstack.postgres import (
    PostgresCluster,
    PostgresError,
    remove_orphaned_server_dirs,
    server_os_user,
)

pytestmark = pytest.mark.integration


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def test_database_url_is_a_fresh_usable_sqlalchemy_url(database_url: str) -> None:
    assert re.fullmatch(r"postgresql\+asyncpg://postgres@127\.0\.0\.1:\d+/t_[a-z0-9_]+", database_url)
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            tables = await conn.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
            assert tables == 0
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        await engine.dispose()


async def test_databases_are_independent(postgres_cluster: PostgresCluster) -> None:
    url_a = postgres_cluster.create_database("indep_a")
    url_b = postgres_cluster.create_database("indep_b")
    conn = await asyncpg.connect(_dsn(url_a))
    try:
        await conn.execute("CREATE TABLE only_in_a (id int)")
    finally:
        await conn.close()
    conn = await asyncpg.connect(_dsn(url_b))
    try:
        assert await conn.fetchval("SELECT to_regclass('only_in_a')") is None
        await conn.execute("CREATE TABLE only_in_a (id int)")  # same name, no clash
    finally:
        await conn.close()


async def test_create_is_idempotent_and_drop_removes(postgres_cluster: PostgresCluster) -> None:
    url = await postgres_cluster.create_database_async("idem")
    assert await postgres_cluster.create_database_async("idem") == url
    await postgres_cluster.drop_database_async("idem")
    await postgres_cluster.drop_database_async("idem")  # absent: no error
    conn = await asyncpg.connect(postgres_cluster.admin_dsn)
    try:
        assert await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'idem'") is None
    finally:
        await conn.close()


def test_bad_names_and_system_databases_are_refused(postgres_cluster: PostgresCluster) -> None:
    with pytest.raises(PostgresError, match="must match"):
        postgres_cluster.create_database('x"; DROP DATABASE postgres; --')
    with pytest.raises(PostgresError, match="system database"):
        postgres_cluster.drop_database("postgres")


async def test_test_cluster_is_loopback_only_and_not_durable(postgres_cluster: PostgresCluster) -> None:
    conn = await asyncpg.connect(postgres_cluster.admin_dsn)
    try:
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SHOW fsync") == "off"
        assert await conn.fetchval("SHOW server_version_num") >= "150000"
        assert await conn.fetchval("SHOW TimeZone") == "UTC"
        assert (
            await conn.fetchval(
                "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname='postgres'"
            )
            == "UTF8"
        )
    finally:
        await conn.close()


async def test_cluster_stops_and_starts_keeping_data(devstack_run_dir: Path) -> None:
    cluster = PostgresCluster(devstack_run_dir / "pg-restart", durable=True)
    await asyncio.to_thread(cluster.start)
    try:
        url = await cluster.create_database_async("kept")
        conn = await asyncpg.connect(_dsn(url))
        try:
            await conn.execute("CREATE TABLE k (v text); INSERT INTO k VALUES ('still here')")
        finally:
            await conn.close()

        await asyncio.to_thread(cluster.stop)
        assert not cluster.is_running()
        assert port_is_free(cluster.port)

        await asyncio.to_thread(cluster.start)
        await asyncio.to_thread(cluster.start)  # already running: no-op
        conn = await asyncpg.connect(_dsn(url))
        try:
            assert await conn.fetchval("SELECT v FROM k") == "still here"
            assert await conn.fetchval("SHOW fsync") == "on"
        finally:
            await conn.close()
        await asyncio.to_thread(cluster.restart)
        assert cluster.is_running()
    finally:
        await asyncio.to_thread(cluster.stop)
    assert not cluster.is_running()


ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0, reason="as non-root the server runs as ourselves and keeps the run folder"
)

CLUSTER_SCRIPT = """
import json, sys
from pathlib import Path
from confide_devstack.postgres import PostgresCluster

cluster = PostgresCluster(Path(".run/postgres"), durable=False, keep_data=False).start()
print(json.dumps({"dsn": cluster.admin_dsn, "data_dir": str(cluster.data_dir),
                  "server_dir": str(cluster.server_dir), "run_dir": str(cluster.run_dir),
                  "pid": cluster.postmaster_pid()}), flush=True)
sys.stdin.readline()
cluster.stop()
"""


def _gone(path: Path) -> bool:
    return not os.path.lexists(path)


@ROOT_ONLY
async def test_as_root_a_clone_in_a_private_home_gets_a_cluster_and_leaves_no_data(tmp_path: Path) -> None:
    home = tmp_path / "root-home"
    home.mkdir(mode=0o700)
    os.chmod(home, 0o700)  # like /root: the server's user cannot enter it
    clone = home / "confide"
    clone.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLUSTER_SCRIPT,
        cwd=clone,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line, (await proc.communicate())[1].decode()
        info = json.loads(line)
        assert Path(info["run_dir"]) == clone / ".run" / "postgres"
        server_dir = Path(info["server_dir"])
        assert not server_dir.is_relative_to(home)
        owner = os.stat(server_dir)
        assert pwd.getpwuid(owner.st_uid).pw_name == server_os_user()
        assert stat.S_IMODE(owner.st_mode) == 0o700
        assert (clone / ".run" / "postgres" / "server").resolve() == server_dir  # found from the clone
        conn = await asyncpg.connect(info["dsn"])
        try:
            assert await conn.fetchval("SHOW data_directory") == info["data_dir"]
            assert await conn.fetchval("SELECT 40 + 2") == 42
        finally:
            await conn.close()
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert not pid_alive(info["pid"])
    assert _gone(server_dir)
    assert _gone(clone / ".run" / "postgres" / "server")


@ROOT_ONLY
async def test_as_root_kept_data_outlives_stop_until_its_run_folder_is_gone(devstack_run_dir: Path) -> None:
    run_dir = devstack_run_dir / "pg-kept" / "postgres"
    cluster = PostgresCluster(run_dir, keep_data=True)
    await asyncio.to_thread(cluster.start)
    try:
        await cluster.create_database_async("kept_as_root")
    finally:
        await asyncio.to_thread(cluster.stop)
    assert (cluster.data_dir / "PG_VERSION").is_file()  # `make run` keeps its databases as root too

    assert cluster.server_dir not in remove_orphaned_server_dirs()  # its run folder still exists
    shutil.rmtree(run_dir.parent)  # `make clean`, or a killed session's folder swept
    assert cluster.server_dir in remove_orphaned_server_dirs()
    assert not cluster.server_dir.exists()
