"""A PostgreSQL primary with a streaming replica, and a PgBouncer in transaction mode in front
of the primary, made by the tests themselves from the server binaries on the machine.

The primary is made by ``initdb`` on a free loopback port in a temp dir and migrated to head;
the replica by ``pg_basebackup -R`` from it (streaming, hot standby). The server binaries are
those of the newest ``/usr/lib/postgresql/<version>/bin`` (CI's machine has 15), or of
``DATAHUB_TEST_PG_BIN``. Under root, the servers and PgBouncer run as the ``postgres`` user
(neither runs as root). Without the binaries the tests that need them skip, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api.schema_migrations import upgrade_to_head

from .environment import free_port

DATABASE = "datahub"
SERVER_TOOLS = ("initdb", "pg_ctl", "pg_basebackup")


def server_binaries() -> Path | None:
    """The folder with ``initdb``, ``pg_ctl`` and ``pg_basebackup``, if the machine has one."""
    configured = os.environ.get("DATAHUB_TEST_PG_BIN")
    candidates = (
        [Path(configured)]
        if configured
        else sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for folder in candidates:
        if all((folder / tool).is_file() for tool in SERVER_TOOLS):
            return folder
    return None


def server_user() -> str | None:
    """Who runs the servers: this user, or ``postgres`` when this is root (None: nobody can)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres"


def missing_servers_reason() -> str | None:
    if server_binaries() is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) under "
            "/usr/lib/postgresql/*/bin or DATAHUB_TEST_PG_BIN"
        )
    if server_user() is None:
        return "running as root and there is no `postgres` user to run the servers"
    return None


def url(port: int, database: str = DATABASE) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"


@dataclass
class Server:
    """One PostgreSQL server of the test cluster."""

    name: str
    data_dir: Path
    port: int
    bin_dir: Path
    user: str

    @property
    def url(self) -> str:
        return url(self.port)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_as(self.user, [str(self.bin_dir / args[0]), *args[1:]], check=check)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"


@dataclass
class ReplicatedCluster:
    """A migrated primary, its streaming replica, and (when installed) a PgBouncer in
    transaction mode in front of the primary."""

    folder: Path
    primary: Server
    replica: Server
    pgbouncer_port: int | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pgbouncer_url(self) -> str | None:
        return url(self.pgbouncer_port) if self.pgbouncer_port else None

    async def sql(self, server: Server, statement: str) -> Any:
        """The first column of the first row of ``statement`` run on ``server``."""
        engine = create_async_engine(server.url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                return await connection.scalar(text(statement))
        finally:
            await engine.dispose()

    async def replica_caught_up(self) -> None:
        """Wait until the replica has replayed what the primary has written (replay on)."""
        target = await self.sql(self.primary, "SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + 30
        while True:
            behind = await self.sql(
                self.replica, f"SELECT pg_last_wal_replay_lsn() < '{target}'::pg_lsn"
            )
            if behind is False:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay up to {target}")
            await asyncio.sleep(0.02)

    async def pause_replay(self) -> None:
        await self.sql(self.replica, "SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while await self.sql(self.replica, "SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise AssertionError("the replica's replay did not pause")
            await asyncio.sleep(0.02)

    async def resume_replay(self) -> None:
        await self.sql(self.replica, "SELECT pg_wal_replay_resume()")
        await self.replica_caught_up()


def run_as(
    user: str, command: list[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    as_user: dict[str, Any] = {"user": user} if os.geteuid() == 0 else {}
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, **as_user
    )
    if check and completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({completed.returncode}): "
            f"{completed.stderr.strip() or completed.stdout.strip()}"
        )
    return completed


def _server_config(folder: Path, port: int) -> str:
    return "\n".join(
        [
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{folder}'",
            "max_connections = 200",
            "shared_buffers = 32MB",
            "fsync = off",  # a test cluster: nothing to keep after a crash
            "full_page_writes = off",
            "wal_level = replica",
            "max_wal_senders = 4",
            "hot_standby = on",
            "wal_receiver_status_interval = 1s",
            "log_min_messages = warning",
            "",
        ]
    )


def start_server(*settings: str) -> Server:
    """One server (not replicated) made by ``initdb`` in a temp folder with ``settings`` added
    to its configuration, started; the caller stops it and removes its folder
    (``data_dir.parent``)."""
    folder, bin_dir, user = _server_folder("datahub-server-")
    server = Server("server", folder / "server", free_port(), bin_dir, user)
    _initdb(server, folder, settings)
    server.start()
    return server


def _server_folder(prefix: str) -> tuple[Path, Path, str]:
    """A temp folder the servers' user may use, the server binaries and that user."""
    bin_dir = server_binaries()
    user = server_user()
    assert bin_dir is not None
    assert user is not None
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, user)
    return folder, bin_dir, user


def _initdb(server: Server, folder: Path, settings: Sequence[str] = ()) -> None:
    server.run(
        "initdb", "-D", str(server.data_dir), "-U", "postgres", "--auth=trust",
        "-E", "UTF8", "--no-sync", "--no-instructions",
    )  # fmt: skip
    with (server.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(_server_config(folder, server.port) + "".join(f"{line}\n" for line in settings))


def build_cluster() -> ReplicatedCluster:
    """Make and start the primary (migrated), the replica and PgBouncer (if installed)."""
    folder, bin_dir, user = _server_folder("datahub-replication-")
    primary = Server("primary", folder / "primary", free_port(), bin_dir, user)
    replica = Server("replica", folder / "replica", free_port(), bin_dir, user)
    cluster = ReplicatedCluster(folder=folder, primary=primary, replica=replica)
    try:
        _initdb(primary, folder)
        primary.start()
        asyncio.run(_create_database(primary))
        upgrade_to_head(primary.url)
        primary.run(
            "pg_basebackup", "-D", str(replica.data_dir), "-h", "127.0.0.1",
            "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream",
            "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        with (replica.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {replica.port}\n")
        replica.start()
        asyncio.run(cluster.replica_caught_up())
        if shutil.which("pgbouncer"):
            _start_pgbouncer(cluster, user)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


async def _create_database(server: Server) -> None:
    engine = create_async_engine(url(server.port, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        await engine.dispose()


def _start_pgbouncer(cluster: ReplicatedCluster, user: str) -> None:
    """PgBouncer in transaction mode with a small server pool, so that the transactions of
    many client connections really share a few server connections."""
    port = free_port()
    folder = cluster.folder
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    config = folder / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                f"{DATABASE} = host=127.0.0.1 port={cluster.primary.port} dbname={DATABASE}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {folder / 'userlist.txt'}",
                "pool_mode = transaction",
                "default_pool_size = 4",
                "max_client_conn = 500",
                f"logfile = {folder / 'pgbouncer.log'}",
                "",
            ]
        )
    )
    for path in (config, folder / "userlist.txt"):
        path.chmod(0o644)
    as_user: dict[str, Any] = {"user": user} if os.geteuid() == 0 else {}
    process = subprocess.Popen(
        ["pgbouncer", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_user,
    )
    cluster.processes.append(process)
    deadline = time.monotonic() + 20
    while True:
        try:
            asyncio.run(cluster.sql(Server("pgbouncer", folder, port, Path(), user), "SELECT 1"))
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                log = folder / "pgbouncer.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"PgBouncer did not start: {tail}") from None
            time.sleep(0.05)
    cluster.pgbouncer_port = port


def stop_cluster(cluster: ReplicatedCluster) -> None:
    for process in cluster.processes:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    cluster.replica.stop("immediate")
    cluster.primary.stop("immediate")
    shutil.rmtree(cluster.folder, ignore_errors=True)


def replicated_cluster_fixture() -> Iterator[ReplicatedCluster]:
    cluster = build_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
