"""SQLite storage: the one implementation of `storage.api.Storage`.

All SQL runs on one worker thread that also opens the connection (the aiosqlite pattern), so a
sqlite3 connection is never shared between threads. Writes that check before they write run in
`BEGIN IMMEDIATE`, which takes SQLite's write lock up front: a second writer (another coroutine,
thread or process on the same file) waits on busy_timeout instead of reading stale totals.

Times are stored as ISO-8601 UTC text with microseconds ("2026-01-31T23:59:59.000000+00:00"):
one fixed width, so text order is time order and indexes work; readable in the sqlite3 shell.

Ledger rows: `reserve` +N credits when a job is created, `refund` -N when they are given back,
`charge` +N when the reservation is confirmed (a receipt: it is not counted again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.api import (
    IllegalTransition,
    JobNotFound,
    NewJob,
    ReservationRefused,
)
from storage.migrations import IN_FLIGHT_SQL, applied_version, migrate
from storage.models import (
    ALLOWED_TRANSITIONS,
    AuditEntry,
    BlockedMember,
    GuildSettings,
    Job,
    JobState,
    LedgerEntry,
    Limit,
    Period,
    Scope,
    ScopedLimit,
    Stage,
    StoredFrame,
    UsageRow,
)
from storage.words import normalize_word

if TYPE_CHECKING:
    from storage.api import Storage

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_MS = 10_000
# A finished job's first frame stays this long for a re-roll, then goes (the file stays small).
FRAME_KEEP = timedelta(days=7)
# Well above the 20 MB accepted upload, for images re-encoded to PNG.
MAX_FRAME_BYTES = 64 * 1024 * 1024

_JOB_FIELDS = tuple(Job.model_fields)
_JOB_DATETIMES = frozenset(
    {"card_posted_at", "created_at", "submitted_at", "started_at", "finished_at", "updated_at"}
)
# Fields fixed at creation: changing them would detach a job from its ledger rows or owner.
_JOB_IMMUTABLE = frozenset({"id", "guild_id", "user_id", "credits", "created_at", "state"})
_JOB_UPDATABLE = frozenset(_JOB_FIELDS) - _JOB_IMMUTABLE - {"updated_at"}

# The card stage that matches a state, set by transition() unless the caller gives one.
_STAGE_FOR_STATE: dict[JobState, Stage] = {
    JobState.WAITING: Stage.WAITING,
    JobState.SUBMITTING: Stage.SUBMITTING,
    JobState.DELIVERING: Stage.DELIVERING,
    JobState.SUCCEEDED: Stage.DONE,
    JobState.FAILED: Stage.DONE,
    JobState.CANCELLED: Stage.DONE,
    JobState.TIMED_OUT: Stage.DONE,
}

_SCOPE_ORDER = {"server": 0, "role": 1, "user": 2}
_PERIODS = ("day", "week", "month")


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


def _sql_value(value: object) -> object:
    if isinstance(value, datetime):
        return to_db_time(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _job_from_row(row: dict[str, Any]) -> Job:
    data = {k: (from_db_time(v) if k in _JOB_DATETIMES else v) for k, v in row.items()}
    return Job.model_validate(data)


def _next_month(start: datetime) -> datetime:
    start = start.astimezone(UTC)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


@contextlib.contextmanager
def _immediate(db: SqliteUtilsDatabase) -> Iterator[None]:
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
def _snapshot(db: SqliteUtilsDatabase) -> Iterator[None]:
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


class Database:
    """The bot's SQLite file: jobs, the credit ledger and moderator settings."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
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

    async def __aenter__(self) -> Database:
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
            mode = _enable_wal(conn, self._busy_timeout_ms / 1000)
            if str(mode).lower() != "wal":
                log.warning("SQLite refused WAL mode (journal_mode=%s) for %s", mode, self.path)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            db = SqliteUtilsDatabase(conn, execute_plugins=False)
            with _immediate(db):
                version = migrate(db)
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

    async def schema_version(self) -> int:
        """Return how many schema migrations the file has applied."""
        return await self._run(applied_version)

    # --- jobs --------------------------------------------------------------------------------
    async def create_job_with_reservation(
        self,
        new: NewJob,
        *,
        limit: Limit,
        window_start: datetime,
        window_end: datetime,
        max_jobs_per_user: int,
        max_jobs_per_guild: int,
        monthly_budget_usd: float | None,
        month_start: datetime,
        now: datetime,
    ) -> Job:
        """Check credits, concurrency and budget, then insert the job and its reservation."""
        stamp = to_db_time(now)
        draft = Job.model_validate(
            {
                "id": 0,
                "guild_id": new.guild_id,
                "channel_id": new.channel_id,
                "user_id": new.user_id,
                "prompt": new.prompt,
                "resolution": new.resolution,
                "duration": new.duration,
                "prompt_optimizer": new.prompt_optimizer,
                "has_image": new.has_image,
                "image_sha256": new.image_sha256,
                "image_url": new.image_url,
                "credits": new.credits,
                "upload_limit": new.upload_limit,
                "expected_cost_usd": new.expected_cost_usd,
                "reroll_of": new.reroll_of,
                "created_at": now,
                "updated_at": now,
            }
        )
        row = {k: _sql_value(v) for k, v in draft.model_dump().items() if k != "id"}
        start, end = to_db_time(window_start), to_db_time(window_end)
        month_from, month_to = to_db_time(month_start), to_db_time(_next_month(month_start))

        def work(db: SqliteUtilsDatabase) -> Job:
            with _immediate(db):
                self._check_reservation(
                    db, draft, limit, start, end, window_end, max_jobs_per_user,
                    max_jobs_per_guild, monthly_budget_usd, month_from, month_to, month_start,
                )  # fmt: skip
                cols = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                cur = db.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", list(row.values()))
                job_id = cur.lastrowid
                db.execute(
                    "INSERT INTO ledger (guild_id, user_id, job_id, kind, credits, created_at)"
                    " VALUES (?, ?, ?, 'reserve', ?, ?)",
                    [draft.guild_id, draft.user_id, job_id, draft.credits, stamp],
                )
            return draft.model_copy(update={"id": job_id})

        job = await self._run(work)
        log.info("job=%d created with %d credits reserved", job.id, job.credits)
        return job

    @staticmethod
    def _check_reservation(
        db: SqliteUtilsDatabase,
        draft: Job,
        limit: Limit,
        start: str,
        end: str,
        window_end: datetime,
        max_jobs_per_user: int,
        max_jobs_per_guild: int,
        budget: float | None,
        month_from: str,
        month_to: str,
        month_start: datetime,
    ) -> None:
        if limit.credits <= 0:
            raise ReservationRefused(
                "credits", "video generation is not available to you in this server",
                used=0, limit=0,
            )  # fmt: skip
        used = _credits_used(db, draft.guild_id, draft.user_id, start, end)
        if used + draft.credits > limit.credits:
            raise ReservationRefused(
                "credits",
                f"not enough credits: {used} of {limit.credits} used this {limit.period},"
                f" and this run needs {draft.credits}",
                used=used, limit=limit.credits, resets_at=window_end,
            )  # fmt: skip
        mine = _count_in_flight(db, draft.guild_id, draft.user_id)
        if mine >= max_jobs_per_user:
            raise ReservationRefused(
                "user_concurrency",
                f"you already have {mine} videos in progress (at most {max_jobs_per_user}"
                " at a time); wait for one to finish",
                used=mine, limit=max_jobs_per_user,
            )  # fmt: skip
        theirs = _count_in_flight(db, draft.guild_id, None)
        if theirs >= max_jobs_per_guild:
            raise ReservationRefused(
                "guild_concurrency",
                f"this server already has {theirs} videos in progress (at most"
                f" {max_jobs_per_guild} at a time); try again in a few minutes",
                used=theirs, limit=max_jobs_per_guild,
            )  # fmt: skip
        if budget is not None:
            committed = _spent_usd(db, draft.guild_id, month_from, month_to) + _in_flight_usd(
                db, draft.guild_id
            )
            expected = draft.expected_cost_usd
            # An unknown cost is let through while money is left: refusing it would block
            # every run of a new setting, which has no past runs to take a median from.
            over = committed + (expected or 0.0) > budget or (
                expected is None and committed >= budget
            )
            if over:
                cost = "" if expected is None else f", and this run costs about {_usd(expected)}"
                raise ReservationRefused(
                    "budget",
                    f"this server's monthly budget is reached: {_usd(committed)} of"
                    f" {_usd(budget)} spent or in progress{cost}",
                    used=round(committed, 4), limit=budget, resets_at=_next_month(month_start),
                )  # fmt: skip

    async def get_job(self, job_id: int) -> Job:
        """Return a job by id (JobNotFound if there is none)."""
        return await self._run(lambda db: _get_job(db, job_id))

    async def transition(
        self,
        job_id: int,
        to: JobState,
        *,
        settle: Literal["charge", "refund"] | None = None,
        settle_note: str | None = None,
        **fields: object,
    ) -> Job:
        """Move a job to `to` if ALLOWED_TRANSITIONS permits, setting `fields` and timestamps.

        `settle` also charges or refunds the job's reservation in the same transaction, so a
        crash can never leave a finished job with its credits neither charged nor refunded."""
        to = JobState(to)
        _check_fields(fields)

        def work(db: SqliteUtilsDatabase) -> Job:
            with _immediate(db):
                current = _get_job(db, job_id)
                if to not in ALLOWED_TRANSITIONS[current.state]:
                    raise IllegalTransition(job_id, current.state, to)
                now = self._now()
                changes: dict[str, object] = {"state": to, "updated_at": now, **fields}
                if to is JobState.RUNNING:
                    changes.setdefault("submitted_at", current.submitted_at or now)
                if to.is_terminal:
                    changes.setdefault("finished_at", now)
                if to in _STAGE_FOR_STATE:
                    changes.setdefault("stage", _STAGE_FOR_STATE[to])
                job = _write_job(db, current, changes, expect_state=current.state)
                if settle == "charge":
                    _charge_in(db, job_id, None, now)
                elif settle == "refund":
                    _refund_in(db, job_id, settle_note, now)
                return job

        job = await self._run(work)
        settled = {"charge": " (charged)", "refund": " (refunded)"}.get(settle or "", "")
        log.info("job=%d is now %s%s", job_id, to.value, settled)
        return job

    async def update_job(self, job_id: int, **fields: object) -> Job:
        """Set non-state fields (stage, progress, card ids, task id/token, costs...)."""
        if "state" in fields:
            raise ValueError("use transition() to change a job's state")
        _check_fields(fields)
        if not fields:
            return await self.get_job(job_id)

        def work(db: SqliteUtilsDatabase) -> Job:
            with _immediate(db):
                current = _get_job(db, job_id)
                return _write_job(db, current, {**fields, "updated_at": self._now()})

        return await self._run(work)

    async def jobs_in_flight(self, guild_id: int | None = None) -> list[Job]:
        """Jobs not in a terminal state, oldest first (all guilds when guild_id is None)."""
        # INDEXED BY: without ANALYZE statistics the planner prefers the full (guild_id,
        # created_at) index and walks every past job of the server; the partial one holds only
        # jobs in flight. It runs on every restart and must stay in milliseconds.
        if guild_id is None:
            sql = f"SELECT * FROM jobs INDEXED BY jobs_in_flight WHERE {IN_FLIGHT_SQL}"
            params: list[object] = []
        else:
            sql = (
                f"SELECT * FROM jobs INDEXED BY jobs_in_flight_guild WHERE {IN_FLIGHT_SQL}"
                " AND guild_id = ?"
            )
            params = [guild_id]
        sql += " ORDER BY created_at, id"
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def jobs_for_user(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        """A member's latest jobs, newest first."""
        sql = (
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        params = [guild_id, user_id, limit]
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def jobs_for_guild(
        self, guild_id: int, since: datetime | None = None, limit: int = 1000
    ) -> list[Job]:
        """A server's jobs created since `since` (all when None), newest first."""
        sql = "SELECT * FROM jobs WHERE guild_id = ?"
        params: list[object] = [guild_id]
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(to_db_time(since))
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def count_in_flight(self, guild_id: int, user_id: int | None = None) -> int:
        """Count a server's (or one member's) jobs not yet in a terminal state."""
        return await self._run(lambda db: _count_in_flight(db, guild_id, user_id))

    async def median_duration_seconds(
        self, resolution: str, duration: int, guild_id: int | None = None
    ) -> float | None:
        """Median (finished_at - created_at) of SUCCEEDED jobs with these settings (latest 200)."""
        # The WHERE repeats the partial index's "state = 'succeeded'" so the planner uses it.
        sql = (
            "SELECT created_at, finished_at FROM jobs WHERE state = 'succeeded'"
            " AND resolution = ? AND duration = ? AND finished_at IS NOT NULL"
        )
        params: list[object] = [resolution, duration]
        if guild_id is not None:
            sql += " AND guild_id = ?"
            params.append(guild_id)
        sql += " ORDER BY finished_at DESC LIMIT 200"

        def work(db: SqliteUtilsDatabase) -> float | None:
            spans = [
                (from_db_time(r["finished_at"]) - from_db_time(r["created_at"])).total_seconds()  # type: ignore[operator]
                for r in db.query(sql, params)
            ]
            return statistics.median(spans) if spans else None

        return await self._run(work)

    async def median_cost_usd(self, resolution: str, duration: int) -> float | None:
        """Median total_cost_usd of SUCCEEDED jobs with these settings (latest 200)."""
        sql = (
            "SELECT total_cost_usd FROM jobs WHERE state = 'succeeded'"
            " AND resolution = ? AND duration = ? AND total_cost_usd IS NOT NULL"
            " ORDER BY finished_at DESC LIMIT 200"
        )

        def work(db: SqliteUtilsDatabase) -> float | None:
            costs = [r["total_cost_usd"] for r in db.query(sql, [resolution, duration])]
            return float(statistics.median(costs)) if costs else None

        return await self._run(work)

    # --- first-frame images ------------------------------------------------------------------
    async def save_frame(self, job_id: int, data: bytes, content_type: str, filename: str) -> None:
        """Store a job's first-frame image (replaces an earlier one)."""
        if len(data) > MAX_FRAME_BYTES:
            raise ValueError(f"a first frame of {len(data)} bytes is too large to store")

        def work(db: SqliteUtilsDatabase) -> None:
            db.execute(
                "INSERT INTO frames (job_id, data, content_type, filename, size, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                " data = excluded.data, content_type = excluded.content_type,"
                " filename = excluded.filename, size = excluded.size,"
                " created_at = excluded.created_at, keep_until = NULL",
                [job_id, sqlite3.Binary(data), content_type, filename, len(data),
                 to_db_time(self._now())],
            )  # fmt: skip

        try:
            await self._run(work)
        except sqlite3.IntegrityError:
            raise JobNotFound(job_id) from None

    async def load_frame(self, job_id: int) -> StoredFrame | None:
        """The job's first frame as (data, content_type, filename), or None when gone."""

        def work(db: SqliteUtilsDatabase) -> StoredFrame | None:
            row = db.execute(
                "SELECT data, content_type, filename FROM frames WHERE job_id = ?", [job_id]
            ).fetchone()
            return None if row is None else StoredFrame(bytes(row[0]), row[1], row[2])

        return await self._run(work)

    async def delete_frame(self, job_id: int, *, keep_for_reroll: bool = False) -> None:
        """Drop a finished job's frame, or keep it FRAME_KEEP longer for a re-roll; either way
        frames whose keep time ran out are removed."""

        def work(db: SqliteUtilsDatabase) -> None:
            now = self._now()
            with _immediate(db):
                if keep_for_reroll:
                    db.execute(
                        "UPDATE frames SET keep_until = ? WHERE job_id = ?",
                        [to_db_time(now + FRAME_KEEP), job_id],
                    )
                else:
                    db.execute("DELETE FROM frames WHERE job_id = ?", [job_id])
                db.execute(
                    "DELETE FROM frames WHERE keep_until IS NOT NULL AND keep_until < ?",
                    [to_db_time(now)],
                )

        await self._run(work)

    # --- ledger ------------------------------------------------------------------------------
    async def charge(self, job_id: int, *, total_cost_usd: float | None = None) -> bool:
        """Turn the reservation into a charge (idempotent: False if already charged/refunded)."""
        if total_cost_usd is not None and not (
            math.isfinite(total_cost_usd) and total_cost_usd >= 0
        ):
            raise ValueError(f"total_cost_usd must be a non-negative number, not {total_cost_usd}")

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                return _charge_in(db, job_id, total_cost_usd, self._now())

        changed = await self._run(work)
        if changed:
            log.info("job=%d charged (totalcost %s USD)", job_id, total_cost_usd)
        return changed

    async def refund(self, job_id: int, note: str | None = None) -> bool:
        """Give a job's credits back (idempotent: False if already refunded or never reserved).
        A charged job can still be refunded by a moderator."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                return _refund_in(db, job_id, note, self._now())

        changed = await self._run(work)
        if changed:
            log.info("job=%d refunded", job_id)
        return changed

    async def ledger_for_job(self, job_id: int) -> list[LedgerEntry]:
        """Return a job's ledger rows in the order they were written."""

        def work(db: SqliteUtilsDatabase) -> list[LedgerEntry]:
            rows = db.query("SELECT * FROM ledger WHERE job_id = ? ORDER BY id", [job_id])
            return [
                LedgerEntry.model_validate({**r, "created_at": from_db_time(r["created_at"])})
                for r in rows
            ]

        return await self._run(work)

    async def credits_used(
        self, guild_id: int, user_id: int, start: datetime, end: datetime
    ) -> int:
        """Reserved minus refunded credits of reservations made in [start, end)."""
        a, b = to_db_time(start), to_db_time(end)
        return await self._run(lambda db: _credits_used(db, guild_id, user_id, a, b))

    async def spent_usd(self, guild_id: int, start: datetime, end: datetime) -> float:
        """Sum of Wiro totalcost of this server's jobs finished in [start, end)."""
        a, b = to_db_time(start), to_db_time(end)
        return await self._run(lambda db: _spent_usd(db, guild_id, a, b))

    async def in_flight_expected_usd(self, guild_id: int) -> float:
        """Expected USD of this server's jobs in flight (their totalcost once known)."""
        return await self._run(lambda db: _in_flight_usd(db, guild_id))

    async def usage(
        self, guild_id: int, since: datetime, user_id: int | None = None
    ) -> list[UsageRow]:
        """Per-member totals of jobs created since `since` (credits net of refunds)."""
        sql = """
            SELECT j.user_id AS user_id,
                   COUNT(*) AS jobs,
                   SUM(j.state = 'succeeded') AS succeeded,
                   COALESCE(SUM((SELECT SUM(l.credits) FROM ledger l
                                 WHERE l.job_id = j.id AND l.kind IN ('reserve', 'refund'))),
                            0) AS credits,
                   COALESCE(SUM(j.total_cost_usd), 0.0) AS usd
            FROM jobs j
            WHERE j.guild_id = ? AND j.created_at >= ?
        """
        params: list[object] = [guild_id, to_db_time(since)]
        if user_id is not None:
            sql += " AND j.user_id = ?"
            params.append(user_id)
        sql += " GROUP BY j.user_id ORDER BY credits DESC, usd DESC, j.user_id"
        return await self._run(
            lambda db: [UsageRow.model_validate(r) for r in db.query(sql, params)]
        )

    # --- server settings ---------------------------------------------------------------------
    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """Defaults when the server has no row yet."""

        def work(db: SqliteUtilsDatabase) -> GuildSettings:
            with _snapshot(db):
                row = next(
                    db.query("SELECT * FROM guild_settings WHERE guild_id = ?", [guild_id]), None
                )
                channels = frozenset(
                    r["channel_id"]
                    for r in db.query(
                        "SELECT channel_id FROM allowed_channels WHERE guild_id = ?", [guild_id]
                    )
                )
                words = tuple(
                    r["word"]
                    for r in db.query(
                        "SELECT word FROM blocked_words WHERE guild_id = ? ORDER BY word",
                        [guild_id],
                    )
                )
            data: dict[str, object] = {
                "guild_id": guild_id,
                "allowed_channel_ids": channels,
                "blocked_words": words,
            }
            if row is not None:
                data |= {
                    "mod_role_id": row["mod_role_id"],
                    "paused": bool(row["paused"]),
                    "pause_reason": row["pause_reason"],
                    "monthly_budget_usd": row["monthly_budget_usd"],
                    "audit_channel_id": row["audit_channel_id"],
                }
            return GuildSettings.model_validate(data)

        return await self._run(work)

    async def set_limit(
        self,
        guild_id: int,
        scope: Scope,
        target_id: int,
        credits: int,
        period: Period,
        actor_id: int,
    ) -> None:
        """Set (or replace) the limit of a server, role or member."""
        if scope not in _SCOPE_ORDER:
            raise ValueError(f"unknown scope {scope!r} (server, role or user)")
        if period not in _PERIODS:
            raise ValueError(f"unknown period {period!r} (day, week or month)")
        if scope == "server" and target_id != guild_id:
            raise ValueError("a server limit's target_id is the guild id")
        if credits < 0:
            raise ValueError("credits must be 0 (no access) or more")
        noun = {
            "server": "server default",
            "role": f"role {target_id}",
            "user": f"user {target_id}",
        }
        detail = f"limit {noun[scope]}: {credits} credits per {period}"

        def work(db: SqliteUtilsDatabase) -> None:
            with _immediate(db):
                db.execute(
                    "INSERT INTO limits (guild_id, scope, target_id, credits, period, set_by,"
                    " set_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET"
                    " credits = excluded.credits, period = excluded.period,"
                    " set_by = excluded.set_by, set_at = excluded.set_at",
                    [guild_id, scope, target_id, credits, period, actor_id,
                     to_db_time(self._now())],
                )  # fmt: skip
                self._audit(db, guild_id, actor_id, "limit.set", detail)

        await self._run(work)

    async def clear_limit(self, guild_id: int, scope: Scope, target_id: int, actor_id: int) -> bool:
        """Remove a limit; False if there was none."""
        noun = {
            "server": "server default",
            "role": f"role {target_id}",
            "user": f"user {target_id}",
        }

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                cur = db.execute(
                    "DELETE FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?",
                    [guild_id, scope, target_id],
                )
                if cur.rowcount:
                    label = noun.get(scope, f"{scope} {target_id}")
                    self._audit(db, guild_id, actor_id, "limit.clear", f"limit {label} removed")
                return cur.rowcount > 0

        return await self._run(work)

    async def limits(self, guild_id: int) -> list[ScopedLimit]:
        """Return a server's limits: server default first, then roles, then members."""

        def work(db: SqliteUtilsDatabase) -> list[ScopedLimit]:
            rows = db.query("SELECT * FROM limits WHERE guild_id = ?", [guild_id])
            out = [
                ScopedLimit.model_validate({**r, "set_at": from_db_time(r["set_at"])}) for r in rows
            ]
            return sorted(out, key=lambda s: (_SCOPE_ORDER[s.scope], s.target_id))

        return await self._run(work)

    def _set_guild_column(
        self, db: SqliteUtilsDatabase, guild_id: int, values: dict[str, object]
    ) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values)
        db.execute(
            f"INSERT INTO guild_settings (guild_id, {cols}, updated_at) VALUES (?, {marks}, ?)"
            f" ON CONFLICT (guild_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
            [guild_id, *values.values(), to_db_time(self._now())],
        )

    async def _set_guild(
        self,
        guild_id: int,
        values: dict[str, object],
        actor_id: int,
        action: str,
        detail: str,
    ) -> None:
        def work(db: SqliteUtilsDatabase) -> None:
            with _immediate(db):
                self._set_guild_column(db, guild_id, values)
                self._audit(db, guild_id, actor_id, action, detail)

        await self._run(work)

    async def set_mod_role(self, guild_id: int, role_id: int | None, actor_id: int) -> None:
        """Set the role that counts as moderator (None clears it)."""
        if role_id is None:
            action, detail = "modrole.clear", "moderator role cleared"
        else:
            action, detail = "modrole.set", f"moderator role set to role {role_id}"
        await self._set_guild(guild_id, {"mod_role_id": role_id}, actor_id, action, detail)

    async def allow_channel(self, guild_id: int, channel_id: int, actor_id: int) -> bool:
        """Add a channel where /video may run; False if it was already allowed."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                cur = db.execute(
                    "INSERT OR IGNORE INTO allowed_channels (guild_id, channel_id, added_by,"
                    " added_at) VALUES (?, ?, ?, ?)",
                    [guild_id, channel_id, actor_id, to_db_time(self._now())],
                )
                if cur.rowcount:
                    self._audit(
                        db, guild_id, actor_id, "channels.allow", f"channel {channel_id} allowed"
                    )
                return cur.rowcount > 0

        return await self._run(work)

    async def remove_channel(self, guild_id: int, channel_id: int, actor_id: int) -> bool:
        """Remove a channel from the allowed list; False if it was not on it."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                cur = db.execute(
                    "DELETE FROM allowed_channels WHERE guild_id = ? AND channel_id = ?",
                    [guild_id, channel_id],
                )
                if cur.rowcount:
                    self._audit(
                        db, guild_id, actor_id, "channels.remove",
                        f"channel {channel_id} removed from the allowed list",
                    )  # fmt: skip
                return cur.rowcount > 0

        return await self._run(work)

    async def set_paused(
        self, guild_id: int, paused: bool, reason: str | None, actor_id: int
    ) -> None:
        """Pause or resume new jobs in a server (jobs in flight are not touched)."""
        if paused:
            action = "pause"
            detail = "video generation paused" + (f": {reason}" if reason else "")
        else:
            action, detail, reason = "resume", "video generation resumed", None
        await self._set_guild(
            guild_id, {"paused": int(paused), "pause_reason": reason}, actor_id, action, detail
        )

    async def block_member(
        self, guild_id: int, user_id: int, reason: str | None, actor_id: int
    ) -> None:
        """Block a member from /video (replaces an earlier block's reason)."""
        detail = f"user {user_id} blocked" + (f": {reason}" if reason else "")

        def work(db: SqliteUtilsDatabase) -> None:
            with _immediate(db):
                db.execute(
                    "INSERT INTO blocked_members (guild_id, user_id, reason, blocked_by,"
                    " blocked_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE"
                    " SET reason = excluded.reason, blocked_by = excluded.blocked_by,"
                    " blocked_at = excluded.blocked_at",
                    [guild_id, user_id, reason, actor_id, to_db_time(self._now())],
                )
                self._audit(db, guild_id, actor_id, "block", detail)

        await self._run(work)

    async def unblock_member(self, guild_id: int, user_id: int, actor_id: int) -> bool:
        """Lift a member's block; False if they were not blocked."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                cur = db.execute(
                    "DELETE FROM blocked_members WHERE guild_id = ? AND user_id = ?",
                    [guild_id, user_id],
                )
                if cur.rowcount:
                    self._audit(db, guild_id, actor_id, "unblock", f"user {user_id} unblocked")
                return cur.rowcount > 0

        return await self._run(work)

    async def blocked_member(self, guild_id: int, user_id: int) -> BlockedMember | None:
        """Return the member's block, or None."""

        def work(db: SqliteUtilsDatabase) -> BlockedMember | None:
            row = next(
                db.query(
                    "SELECT * FROM blocked_members WHERE guild_id = ? AND user_id = ?",
                    [guild_id, user_id],
                ),
                None,
            )
            if row is None:
                return None
            return BlockedMember.model_validate(
                {**row, "blocked_at": from_db_time(row["blocked_at"])}
            )

        return await self._run(work)

    async def set_budget(self, guild_id: int, usd: float | None, actor_id: int) -> None:
        """Set the server's monthly USD cap (None removes it)."""
        if usd is not None and not (math.isfinite(usd) and usd >= 0):
            raise ValueError("the budget must be a non-negative amount of USD")
        if usd is None:
            action, detail = "budget.clear", "monthly budget removed"
        else:
            action, detail = "budget.set", f"monthly budget set to {_usd(usd)}"
        await self._set_guild(guild_id, {"monthly_budget_usd": usd}, actor_id, action, detail)

    async def add_blocked_word(self, guild_id: int, word: str, actor_id: int) -> bool:
        """Block a word or phrase in prompts (stored folded); False if already blocked."""
        folded = normalize_word(word)
        if not folded:
            raise ValueError("a blocked word cannot be empty")

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                cur = db.execute(
                    "INSERT OR IGNORE INTO blocked_words (guild_id, word, added_by, added_at)"
                    " VALUES (?, ?, ?, ?)",
                    [guild_id, folded, actor_id, to_db_time(self._now())],
                )
                if cur.rowcount:
                    self._audit(db, guild_id, actor_id, "words.add", f"blocked word {folded!r}")
                return cur.rowcount > 0

        return await self._run(work)

    async def remove_blocked_word(self, guild_id: int, word: str, actor_id: int) -> bool:
        """Unblock a word or phrase; False if it was not blocked."""
        folded = normalize_word(word)

        def work(db: SqliteUtilsDatabase) -> bool:
            with _immediate(db):
                cur = db.execute(
                    "DELETE FROM blocked_words WHERE guild_id = ? AND word = ?",
                    [guild_id, folded],
                )
                if cur.rowcount:
                    self._audit(
                        db, guild_id, actor_id, "words.remove", f"unblocked word {folded!r}"
                    )
                return cur.rowcount > 0

        return await self._run(work)

    async def set_audit_channel(self, guild_id: int, channel_id: int | None, actor_id: int) -> None:
        """Set the channel that gets one line per finished job (None turns it off)."""
        detail = (
            "audit channel turned off"
            if channel_id is None
            else f"audit channel set to channel {channel_id}"
        )
        await self._set_guild(
            guild_id, {"audit_channel_id": channel_id}, actor_id, "audit.channel", detail
        )

    def _audit(
        self, db: SqliteUtilsDatabase, guild_id: int, actor_id: int, action: str, detail: str
    ) -> None:
        db.execute(
            "INSERT INTO mod_actions (guild_id, actor_id, action, detail, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [guild_id, actor_id, action, detail, to_db_time(self._now())],
        )

    async def record_action(self, guild_id: int, actor_id: int, action: str, detail: str) -> None:
        """Append to the moderator audit log (the setters above call this themselves)."""
        if not action:
            raise ValueError("an audit action needs a name")

        def work(db: SqliteUtilsDatabase) -> None:
            self._audit(db, guild_id, actor_id, action, detail)

        await self._run(work)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """Return a server's latest moderator actions, newest first."""

        def work(db: SqliteUtilsDatabase) -> list[AuditEntry]:
            rows = db.query(
                "SELECT * FROM mod_actions WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
                [guild_id, limit],
            )
            return [
                AuditEntry.model_validate({**r, "created_at": from_db_time(r["created_at"])})
                for r in rows
            ]

        return await self._run(work)


# --- SQL shared by several methods (run on the worker thread) ---------------------------------
def _charge_in(
    db: SqliteUtilsDatabase, job_id: int, total_cost_usd: float | None, now: datetime
) -> bool:
    """Write the charge row (inside the caller's transaction); False if nothing changed."""
    reserve, refunded = _reservation(db, job_id)
    if reserve is None or refunded:
        return False
    cur = db.execute(
        "INSERT OR IGNORE INTO ledger (guild_id, user_id, job_id, kind, credits, created_at)"
        " VALUES (?, ?, ?, 'charge', ?, ?)",
        [reserve["guild_id"], reserve["user_id"], job_id, reserve["credits"], to_db_time(now)],
    )
    if cur.rowcount != 1:
        return False
    if total_cost_usd is not None:
        db.execute(
            "UPDATE jobs SET total_cost_usd = ?, updated_at = ? WHERE id = ?",
            [total_cost_usd, to_db_time(now), job_id],
        )
    return True


def _refund_in(db: SqliteUtilsDatabase, job_id: int, note: str | None, now: datetime) -> bool:
    """Write the refund row (inside the caller's transaction); False if nothing changed."""
    reserve, _refunded = _reservation(db, job_id)
    if reserve is None:
        return False
    cur = db.execute(
        "INSERT OR IGNORE INTO ledger"
        " (guild_id, user_id, job_id, kind, credits, note, created_at)"
        " VALUES (?, ?, ?, 'refund', ?, ?, ?)",
        [reserve["guild_id"], reserve["user_id"], job_id, -reserve["credits"], note,
         to_db_time(now)],
    )  # fmt: skip
    return cur.rowcount == 1


def _get_job(db: SqliteUtilsDatabase, job_id: int) -> Job:
    row = next(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]), None)
    if row is None:
        raise JobNotFound(job_id)
    return _job_from_row(row)


def _check_fields(fields: dict[str, object]) -> None:
    wrong = sorted(set(fields) - _JOB_UPDATABLE)
    if wrong:
        raise ValueError(f"cannot set job field(s) {', '.join(wrong)}")


def _write_job(
    db: SqliteUtilsDatabase,
    current: Job,
    changes: dict[str, object],
    *,
    expect_state: JobState | None = None,
) -> Job:
    # Validate the whole record before writing, so a bad value never reaches the table.
    updated = Job.model_validate({**current.model_dump(), **changes})
    values = {k: _sql_value(getattr(updated, k)) for k in changes}
    sets = ", ".join(f"{k} = ?" for k in values)
    sql = f"UPDATE jobs SET {sets} WHERE id = ?"
    params = [*values.values(), current.id]
    if expect_state is not None:
        sql += " AND state = ?"
        params.append(expect_state.value)
    cur = db.execute(sql, params)
    if cur.rowcount != 1:  # cannot happen inside BEGIN IMMEDIATE; guards a future refactor
        raise RuntimeError(f"job {current.id} changed underneath an update")
    return updated


def _reservation(db: SqliteUtilsDatabase, job_id: int) -> tuple[dict[str, Any] | None, bool]:
    rows = {
        r["kind"]: r
        for r in db.query(
            "SELECT * FROM ledger WHERE job_id = ? AND kind IN ('reserve', 'refund')", [job_id]
        )
    }
    if (
        "reserve" not in rows
        and next(db.query("SELECT 1 AS x FROM jobs WHERE id = ?", [job_id]), None) is None
    ):
        raise JobNotFound(job_id)
    return rows.get("reserve"), "refund" in rows


def _credits_used(
    db: SqliteUtilsDatabase, guild_id: int, user_id: int, start: str, end: str
) -> int:
    row = db.execute(
        "SELECT COALESCE(SUM(r.credits), 0) + COALESCE(SUM(f.credits), 0)"
        " FROM ledger r LEFT JOIN ledger f ON f.job_id = r.job_id AND f.kind = 'refund'"
        " WHERE r.guild_id = ? AND r.user_id = ? AND r.kind = 'reserve'"
        " AND r.created_at >= ? AND r.created_at < ?",
        [guild_id, user_id, start, end],
    ).fetchone()
    return int(row[0])


def _count_in_flight(db: SqliteUtilsDatabase, guild_id: int, user_id: int | None) -> int:
    # Runs inside the reservation's write lock: the partial index keeps it independent of how
    # many jobs the member ever ran (the planner would otherwise pick jobs_member_created).
    sql = f"SELECT COUNT(*) FROM jobs INDEXED BY jobs_in_flight_member WHERE {IN_FLIGHT_SQL}"
    sql += " AND guild_id = ?"
    params: list[object] = [guild_id]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    return int(db.execute(sql, params).fetchone()[0])


def _spent_usd(db: SqliteUtilsDatabase, guild_id: int, start: str, end: str) -> float:
    row = db.execute(
        "SELECT COALESCE(SUM(total_cost_usd), 0.0) FROM jobs WHERE guild_id = ?"
        " AND total_cost_usd IS NOT NULL AND finished_at >= ? AND finished_at < ?",
        [guild_id, start, end],
    ).fetchone()
    return float(row[0])


def _in_flight_usd(db: SqliteUtilsDatabase, guild_id: int) -> float:
    # A job delivering already knows its real cost; before that, the estimate stands in.
    row = db.execute(
        "SELECT COALESCE(SUM(COALESCE(total_cost_usd, expected_cost_usd, 0)), 0.0)"
        f" FROM jobs INDEXED BY jobs_in_flight_member WHERE {IN_FLIGHT_SQL} AND guild_id = ?",
        [guild_id],
    ).fetchone()
    return float(row[0])


if TYPE_CHECKING:
    # mypy proves Database satisfies the contract the rest of the bot codes against.
    _contract: type[Storage] = Database
