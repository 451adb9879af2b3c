"""Test helpers shared by several suites: a hand-moved clock, reservations, jobs in any state, the
Wiro simulator running for a block and a bot environment pointed at it."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.governance.quota import Policy, month_window, window
from bot.jobs.service import JobService
from bot.settings import Settings
from bot.timing import Timing
from bot.wiro.simulator.server import WiroSimulator
from storage.db import Database
from storage.models import ALLOWED_TRANSITIONS, Job, JobState, Limit, NewJob, Period

# The suite's timing: video work at full priority, since a niceness-19 encode waits behind the
# other workers' tests (the e2e bot processes get the same from tests/e2e/launch_bot.py,
# E2E_VIDEO_NICENESS). Every service and video worker the tests build takes it.
TEST_TIMING = Timing(video_niceness=0)

# The fixed "now" the suites' `clock` fixture starts at (tests/cogs starts at its own).
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# Every environment variable the bot reads (one per setting), which a test clears so that the
# machine's own environment cannot leak into what it checks.
BOT_VARIABLES = tuple(name.upper() for name in Settings.model_fields)

# What tests/jobs' `make_service` fixture gives: build a JobService (JobConfig fields, or its
# presenter, clock, sleep or disk, as keyword overrides).
MakeService = Callable[..., JobService]

_migrated_template: Path | None = None


async def open_database(path: Path, **kwargs: Any) -> Database:
    """Open a new, empty database at `path`, already at the current schema version.

    Migrating a database from nothing costs about 18 ms of CPU, a copy of one migrated once per
    test process about 4 ms; most tests open one. Tests of the migrations themselves, and of
    how the file is created, open `Database` directly.
    """
    global _migrated_template
    if _migrated_template is None:
        folder = Path(tempfile.mkdtemp(prefix="migrated-db-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "template.sqlite3"
        async with Database(template):
            pass
        _migrated_template = template
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_template, path)
    os.chmod(path, 0o600)
    database = Database(path, **kwargs)
    await database.open()
    return database


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait (bounded) until `condition()` holds; fail if it has not within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


class VirtualTimer:
    """Monotonic time that moves only when code sleeps: `sleep(s)` jumps `s` ahead at once.

    Pacing code under test then runs in no real time, and its waits are exact numbers.
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def policy(
    *,
    now: datetime,
    credits: int = 10_000,
    period: Period = "day",
    max_jobs_per_user: int = 100,
    max_jobs_per_guild: int = 1000,
    monthly_budget_usd: float | None = None,
) -> Policy:
    """A generous default policy at `now`, with the given limits."""
    return Policy(
        credits=Limit(credits=credits, period=period),
        credits_window=window(period, now),
        max_jobs_per_user=max_jobs_per_user,
        max_jobs_per_guild=max_jobs_per_guild,
        monthly_budget_usd=monthly_budget_usd,
        month_window=month_window(now),
    )


def reservation_args(*, now: datetime, **limits: Any) -> dict[str, object]:
    """Keyword arguments for create_job_with_reservation: `policy(**limits)`'s windows and check."""
    rules = policy(now=now, **limits)
    return {"windows": rules.windows, "check": rules.check, "now": now}


async def assert_counted_without_credits(
    db: Database, guild_id: int, user_id: int, usd: float
) -> None:
    """What Wiro billed for a refunded job (`usd`) counts in the server's budget and in its usage
    report, with no credits: the member's only job in the server today."""
    start = datetime.now(UTC) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(days=1)
    assert await db.spent_usd(guild_id, start, end) == pytest.approx(usd)
    rows = await db.usage(guild_id, start)
    assert [(r.user_id, r.credits, r.usd) for r in rows] == [(user_id, 0, pytest.approx(usd))]


def path_to(state: JobState) -> list[JobState]:
    """Shortest chain of legal transitions from PENDING to `state`."""
    paths: dict[JobState, list[JobState]] = {JobState.PENDING: []}
    frontier = [JobState.PENDING]
    while frontier:
        following = []
        for current in frontier:
            for nxt in sorted(ALLOWED_TRANSITIONS[current]):
                if nxt not in paths:
                    paths[nxt] = [*paths[current], nxt]
                    following.append(nxt)
        frontier = following
    return paths[state]


async def reserve_and_walk(
    db: Database, new: NewJob, state: JobState = JobState.PENDING, *, now: datetime
) -> Job:
    """Reserve a job (generous policy) and walk it to `state` through legal transitions."""
    job = await db.create_job_with_reservation(new, **reservation_args(now=now))  # type: ignore[arg-type]
    for step in path_to(state):
        job = await db.transition(job.id, step)
    return job


@contextlib.asynccontextmanager
async def serving(sim: WiroSimulator) -> AsyncIterator[WiroSimulator]:
    """Run the Wiro simulator for the body of an `async with`; stop it at the end."""
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def wiro_env(sim: WiroSimulator, database: Path, *, secret: str | None = None) -> dict[str, str]:
    """The variables that point a bot process at the simulator's Wiro account (with another
    `secret` if given) and at `database`."""
    return {
        "WIRO_API_KEY": sim.api_key or "",
        "WIRO_API_SECRET": secret or sim.api_secret or "",
        "WIRO_API_BASE": sim.api_base,
        "WIRO_SOCKET_URL": sim.socket_url,
        "WIRO_OUTPUT_HOSTS": sim.output_host,
        "DATABASE_PATH": str(database),
    }
