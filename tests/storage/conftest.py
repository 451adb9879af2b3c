"""Fixtures for the storage tests: a real SQLite file per test, a settable clock."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from storage.db import Database
from storage.models import Job, JobState, NewJob
from tests import factories
from tests.factories import T0, Clock, open_database, reserve_and_walk

GUILD = 1_000_000_000_000_001
USER = 2_000_000_000_000_002
CHANNEL = 3_000_000_000_000_003
MOD = 4_000_000_000_000_004


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewJobData(NewJob):
    """A NewJob with this suite's defaults."""

    guild_id: int = GUILD
    channel_id: int = CHANNEL
    user_id: int = USER
    prompt: str = "a red panda surfing at dawn"
    upload_limit: int | None = 10 * 1024 * 1024


def reservation_args(*, now: datetime = T0, **policy: Any) -> dict[str, object]:
    """Keyword arguments for create_job_with_reservation with a generous default policy."""
    return factories.reservation_args(now=now, **policy)


async def make_job(
    db: Database, state: JobState = JobState.PENDING, *, now: datetime = T0, **new: object
) -> Job:
    """Reserve a job and walk it to `state` through legal transitions."""
    return await reserve_and_walk(db, NewJobData(**new), state, now=now)  # type: ignore[arg-type]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def db(db_path: Path, clock: Clock) -> AsyncIterator[Database]:
    database = await open_database(db_path, clock=clock)
    try:
        yield database
    finally:
        await database.close()
