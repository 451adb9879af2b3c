"""The SQLite connection every table group shares, and the helpers they all use.

All SQL runs on one worker thread that also opens the connection (the aiosqlite pattern), so a
sqlite3 connection is never shared between threads. Writes that check before they write run in
`BEGIN IMMEDIATE`, which takes SQLite's write lock up front: a second writer (another coroutine,
thread or process on the same file) waits on busy_timeout instead of reading stale totals.

Times are stored as ISO-8601 UTC text with microseconds ("2026-01-31T23:59:59.000000+00:00"):
one fixed width, so text order is time order and indexes work; readable in the sqlite3 shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Literal, Self, TypeVar

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.compaction import enable_incremental_vacuum
from storage.migrations import applied_version, migrate

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_MS = 10_000
Synchronous = Literal["NORMAL", "FULL"]
_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


Trouble = Literal["busy", "full", "io"]
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL = 5, 6, 10, 13
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # of an extended result code


def damaged(exc: BaseException) -> bool:
    """Whether `exc` says the file is not a readable SQLite database (corrupt, or another file)."""
    return isinstance(exc, sqlite3.Error) and _primary_code(exc) in (
        _SQLITE_CORRUPT,
        _SQLITE_NOTADB,
    )


def passing_trouble(exc: BaseException) -> Trouble | None:
    """What passing trouble `exc` is: a busy (locked) database, a full disk, an I/O error.

    None for anything else, such as a path that cannot be used (a folder, no permission, a file
    that is not a database), which waiting will not fix."""
    if isinstance(exc, OSError):
        if exc.errno in _DISK_FULL_ERRNOS:
            return "full"
        return "io" if exc.errno == errno.EIO else None
    if not isinstance(exc, sqlite3.Error):
        return None
    primary = _primary_code(exc)
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return "busy"
    if primary == _SQLITE_FULL:
        return "full"
    return "io" if primary == _SQLITE_IOERR else None


def to_db_time(value: datetime) -> str:
    """Return the stored text form of an aware datetime (ValueError for a naive one)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str | None) -> datetime | None:
    """Return the aware UTC datetime of a stored time (None stays None)."""
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def sql_value(value: object) -> object:
    if isinstance(value, datetime):
        return to_db_time(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def usd_text(value: float) -> str:
    return f"${value:,.2f}"


def upsert(
    db: SqliteUtilsDatabase, table: str, key: dict[str, object], values: dict[str, object]
) -> None:
    """Write one row: inserted, or its `values` updated where a row with this `key` exists (one
    statement). The table and column names are the caller's own words, never input."""
    columns = [*key, *values]
    db.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in values),
        [*key.values(), *values.values()],
    )


@contextlib.contextmanager
def immediate(db: SqliteUtilsDatabase) -> Iterator[None]:
    """Run the block in one write transaction, taking the write lock before the first read."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


@contextlib.contextmanager
def snapshot(db: SqliteUtilsDatabase) -> Iterator[None]:
    """Run several reads against one consistent snapshot (WAL: readers never block writers)."""
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")


def _enable_wal(conn: sqlite3.Connection, budget_seconds: float) -> str:
    """Switch to WAL, retrying while another connection holds the file.

    Changing the journal mode needs an exclusive lock and SQLite does not always run the busy
    handler for it, so two processes opening a new file at once can see "database is locked".
    """
    deadline = time.monotonic() + budget_seconds
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Create it ourselves so it never exists, even briefly, with the umask's wider mode.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def read_schema_version(path: Path, *, busy_timeout_ms: int = 2_000) -> int:
    """The schema version of a database file, read-only (never creates or migrates it)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        # Short: a reader rarely waits in WAL mode, and `doctor` has 3 s for its database line.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        return applied_version(SqliteUtilsDatabase(conn, execute_plugins=False))
    finally:
        conn.close()


class SqliteBase:
    """The open connection, its worker thread and the clock; table groups build on it."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        clock: Callable[[], datetime] | None = None,
        synchronous: Synchronous = "FULL",
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._clock = clock or (lambda: datetime.now(UTC))
        self._executor: ThreadPoolExecutor | None = None
        self._db: SqliteUtilsDatabase | None = None

    # --- plumbing ----------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    async def _run(self, fn: Callable[[SqliteUtilsDatabase], T]) -> T:
        executor, db = self._executor, self._db
        if executor is None or db is None:
            raise RuntimeError("the database is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, fn, db)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the file (mode 0600) and parent dir if needed, WAL, run migrations."""
        if self._executor is not None:
            raise RuntimeError("the database is already open")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            self._db = await asyncio.get_running_loop().run_in_executor(executor, self._open_sync)
        except BaseException:
            executor.shutdown(wait=True)
            raise
        self._executor = executor

    def _open_sync(self) -> SqliteUtilsDatabase:
        _create_private_file(self.path)
        # isolation_level=None: no implicit transactions; every transaction here is explicit.
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            # A new file takes this before anything is written to it (WAL's header included);
            # an older one needs a VACUUM, run once after the migrations (which may have just
            # freed many pages).
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = _enable_wal(conn, self._busy_timeout_ms / 1000)
            if str(mode).lower() != "wal":
                log.warning("SQLite refused WAL mode (journal_mode=%s) for %s", mode, self.path)
            # FULL: every commit is on the disk before it returns (WAL fsynced at each commit),
            # so a power cut cannot take back a stored task id, a charge or a refund. NORMAL
            # would let the last commits vanish; bench/bench_storage.py measures the cost.
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            db = SqliteUtilsDatabase(conn, execute_plugins=False)
            with immediate(db):
                version = migrate(db)
            enable_incremental_vacuum(conn)  # deleted rows give their pages back
        except BaseException:
            conn.close()
            raise
        log.info("database %s open at schema version %d", self.path, version)
        return db

    async def close(self) -> None:
        """Checkpoint the WAL into the main file, close the connection and stop the worker."""
        executor, db = self._executor, self._db
        if executor is None or db is None:
            return
        self._executor = self._db = None

        def close_sync(db: SqliteUtilsDatabase) -> None:
            try:
                # optimize refreshes planner statistics when tables changed a lot (cheap).
                db.conn.execute("PRAGMA optimize")
                db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("WAL checkpoint on close failed: %s", exc)
            finally:
                db.close()

        try:
            await asyncio.get_running_loop().run_in_executor(executor, close_sync, db)
        finally:
            executor.shutdown(wait=True)

    async def durability(self) -> tuple[str, str]:
        """The connection's journal mode and synchronous setting, e.g. ("wal", "FULL")."""

        def read(db: SqliteUtilsDatabase) -> tuple[str, str]:
            mode = str(db.execute("PRAGMA journal_mode").fetchone()[0])
            level = int(db.execute("PRAGMA synchronous").fetchone()[0])
            return mode, _SYNCHRONOUS_NAMES.get(level, str(level))

        return await self._run(read)

    async def schema_version(self) -> int:
        """Return how many schema migrations the file has applied."""
        return await self._run(applied_version)
