"""Fixtures for the storage tests: a real SQLite file per test, a settable clock."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import ALLOWED_TRANSITIONS, Job, JobState, Limit, NewJob

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GUILD = 1_000_000_000_000_001
USER = 2_000_000_000_000_002
CHANNEL = 3_000_000_000_000_003
MOD = 4_000_000_000_000_004


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewJobData(NewJob):
    """A NewJob with this suite's defaults."""

    guild_id: int = GUILD
    channel_id: int = CHANNEL
    user_id: int = USER
    prompt: str = "a red panda surfing at dawn"
    upload_limit: int | None = 10 * 1024 * 1024


def reservation_args(
    *,
    credits: int = 10_000,
    period: str = "day",
    now: datetime = T0,
    max_jobs_per_user: int = 100,
    max_jobs_per_guild: int = 1000,
    monthly_budget_usd: float | None = None,
) -> dict[str, object]:
    """Keyword arguments for create_job_with_reservation with a generous default policy."""
    from bot.quota import month_window, window

    start, end = window(period, now)  # type: ignore[arg-type]
    return {
        "limit": Limit(credits=credits, period=period),  # type: ignore[arg-type]
        "window_start": start,
        "window_end": end,
        "max_jobs_per_user": max_jobs_per_user,
        "max_jobs_per_guild": max_jobs_per_guild,
        "monthly_budget_usd": monthly_budget_usd,
        "month_start": month_window(now)[0],
        "now": now,
    }


def path_to(state: JobState) -> list[JobState]:
    """Shortest chain of legal transitions from PENDING to `state`."""
    paths: dict[JobState, list[JobState]] = {JobState.PENDING: []}
    frontier = [JobState.PENDING]
    while frontier:
        nxt = []
        for s in frontier:
            for t in sorted(ALLOWED_TRANSITIONS[s]):
                if t not in paths:
                    paths[t] = [*paths[s], t]
                    nxt.append(t)
        frontier = nxt
    return paths[state]


async def make_job(
    db: Database, state: JobState = JobState.PENDING, *, now: datetime = T0, **new: object
) -> Job:
    """Reserve a job and walk it to `state` through legal transitions."""
    job = await db.create_job_with_reservation(NewJobData(**new), **reservation_args(now=now))  # type: ignore[arg-type]
    for step in path_to(state):
        job = await db.transition(job.id, step)
    return job


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def db(db_path: Path, clock: Clock) -> AsyncIterator[Database]:
    database = Database(db_path, clock=clock)
    await database.open()
    try:
        yield database
    finally:
        await database.close()
