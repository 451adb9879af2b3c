"""Fixtures for the job lifecycle: the Wiro simulator, a real database, a recording presenter and
the services built on them. The doubles themselves are in doubles.py, the bounded waits in
waits.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.contracts import JobConfig
from bot.jobs.service import JobService
from bot.wiro.client import WiroClient
from bot.wiro.simulator.server import WiroSimulator
from storage.db import Database
from storage.models import Limit
from tests.factories import TEST_TIMING, MakeService, open_database, serving
from tests.jobs.doubles import KEY, SECRET, RecordingPresenter


@pytest.fixture
async def sim() -> AsyncIterator[WiroSimulator]:
    async with serving(WiroSimulator(api_key=KEY, api_secret=SECRET)) as simulator:
        yield simulator


@pytest.fixture
async def wiro(sim: WiroSimulator) -> AsyncIterator[WiroClient]:
    client = WiroClient(
        api_key=KEY,
        api_secret=SECRET,
        api_base=sim.api_base,
        socket_url=sim.socket_url,
        output_hosts=(sim.output_host,),
        poll_interval=0.2,
    )
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def presenter() -> RecordingPresenter:
    return RecordingPresenter()


# make_service's JobConfig: small, quick values a test may override.
CONFIG_DEFAULTS: dict[str, Any] = {
    "default_limit": Limit(credits=10, period="day"),
    "max_jobs_per_user": 2,
    "max_jobs_per_guild": 10,
    "timeout": timedelta(seconds=20),
    "busy_retry_seconds": 0.2,
    "max_clip_bytes": 50 * 1024 * 1024,
    "max_clip_seconds": 60,
    "clip_store_bytes": None,
}
SERVICE_PARTS = ("presenter", "clock", "sleep", "disk")


@pytest.fixture
async def make_service(
    db: Database, wiro: WiroClient, presenter: RecordingPresenter, tmp_path: Path
) -> AsyncIterator[MakeService]:
    services: list[JobService] = []

    def make(**overrides: Any) -> JobService:
        """A service on the test's database and simulator; `overrides` are JobConfig fields or
        the service's own parts (SERVICE_PARTS: another presenter, a clock, a sleep, a disk)."""
        parts = {"presenter": presenter} | {
            name: overrides.pop(name) for name in SERVICE_PARTS if name in overrides
        }
        config = JobConfig(**(CONFIG_DEFAULTS | overrides), work_dir=tmp_path / "work")
        service = JobService(storage=db, wiro=wiro, config=config, timing=TEST_TIMING, **parts)
        services.append(service)
        return service

    yield make
    for service in services:
        await service.shutdown(timeout=2)


@pytest.fixture
def service(make_service: Callable[..., JobService]) -> JobService:
    return make_service()
