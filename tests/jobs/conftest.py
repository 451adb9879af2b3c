"""Fixtures for the job lifecycle: the Wiro simulator, a real database, a recording presenter."""

from __future__ import annotations

import asyncio
import io
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs.contracts import (
    CardExtras,
    ClipToPost,
    Delivery,
    JobConfig,
    PresenterError,
    VideoRequest,
)
from bot.jobs.service import JobService
from bot.media.images import FirstFrame, check_image
from bot.wiro.client import WiroClient
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import Job, JobState, Limit
from tests.factories import TEST_TIMING, MakeService, open_database, serving

KEY, SECRET = "test-key", "test-secret"
GUILD, CHANNEL, USER, OTHER, MOD = 1000, 2000, 3000, 3001, 3002


# Every recording presenter of the running test: `wait_terminal` waits for them to hear of the
# end too (a job's row turns terminal a moment before the service renders its final card and
# calls job_finished).
_PRESENTERS: list[weakref.ref[RecordingPresenter]] = []


@dataclass
class RecordingPresenter:
    """A JobPresenter that remembers everything it was asked to show."""

    upload_limit: int = 10 * 1024 * 1024
    fail_post: bool = False
    fail_delivery: bool = False
    posted: list[Job] = field(default_factory=list)
    updates: list[tuple[Job, CardExtras]] = field(default_factory=list)
    deliveries: list[tuple[Job, bytes | None, int | None]] = field(default_factory=list)
    original_sizes: list[int | None] = field(default_factory=list)
    link_reasons: list[str | None] = field(default_factory=list)
    finished: list[Job] = field(default_factory=list)
    already_posted: dict[int, int] = field(default_factory=dict)  # job id -> message id
    lost_cards: dict[int, int] = field(default_factory=dict)  # posted, never recorded
    _next_message: int = 900_000

    def __post_init__(self) -> None:
        _PRESENTERS.append(weakref.ref(self))

    async def post_card(self, job: Job, extras: CardExtras, thumbnail: bytes | None) -> int:
        if self.fail_post:
            raise PresenterError("Missing Access")
        self.posted.append(job)
        self._next_message += 1
        return self._next_message

    async def update_card(self, job: Job, extras: CardExtras) -> None:
        self.updates.append((job, extras))

    def attach_limit(self, job: Job) -> int:
        return self.upload_limit

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        if self.fail_delivery:
            raise PresenterError("Unknown Channel")
        clip, size, link_reason = post.clip, post.size, post.link_reason
        data = await asyncio.to_thread(clip.read_bytes) if clip is not None else None
        self.deliveries.append((job, data, size))
        self.original_sizes.append(post.original_size)
        self.link_reasons.append(link_reason)
        self._next_message += 1
        attached = data is not None and size is not None and size <= self.upload_limit
        note = "compressed" if post.original_size is not None else None
        return Delivery(
            message_id=self._next_message,
            attached=attached,
            note=note if attached else (link_reason or "linked"),
        )

    async def find_delivery(self, job: Job) -> int | None:
        return self.already_posted.get(job.id)

    async def find_card(self, job: Job) -> int | None:
        return self.lost_cards.get(job.id)

    async def job_finished(self, job: Job) -> None:
        self.finished.append(job)

    def stages(self, job_id: int) -> list[str]:
        """Distinct consecutive stages the card showed for a job."""
        seen: list[str] = []
        for job, _ in self.updates:
            if job.id == job_id and (not seen or seen[-1] != job.stage.value):
                seen.append(job.stage.value)
        return seen


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


def request(**overrides: object) -> VideoRequest:
    values: dict[str, object] = {
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "user_id": USER,
        "role_ids": frozenset(),
        "prompt": "A red fox runs through fresh snow at dawn",
    }
    values.update(overrides)
    return VideoRequest(**values)  # type: ignore[arg-type]


def png_frame(width: int = 640, height: int = 360) -> FirstFrame:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, "PNG")
    return check_image(buffer.getvalue())


async def wait_state(
    db: Database, job_id: int, states: set[JobState] | JobState, timeout: float = 15.0
) -> Job:
    """Poll until the job reaches one of `states`; fail with the last state seen."""
    wanted = {states} if isinstance(states, JobState) else states
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    job = await db.get_job(job_id)
    while job.state not in wanted:
        if loop.time() > end:
            raise AssertionError(f"job {job_id} stuck in {job.state} (wanted {wanted})")
        await asyncio.sleep(0.05)
        job = await db.get_job(job_id)
    return job


async def wait_terminal(db: Database, job_id: int, timeout: float = 15.0) -> Job:
    """Poll until the job has ended, and until each presenter that showed it has been told
    (its final card and job_finished), bounded: then a test reads a settled presenter."""
    job = await wait_state(
        db,
        job_id,
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT},
        timeout,
    )
    presenters = [p for ref in _PRESENTERS if (p := ref()) is not None]
    showing = [p for p in presenters if any(shown.id == job_id for shown, _ in p.updates)]

    def told() -> bool:
        return all(any(done.id == job_id for done in p.finished) for p in showing)

    for _ in range(300):  # at most 3 s
        if told():
            break
        await asyncio.sleep(0.01)
    return job


async def succeeded(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    clip: bytes,
    frame: FirstFrame | None = None,
    **fields: object,
) -> Job:
    """Submit a /video (`request(**fields)`) whose Wiro task yields `clip`; return the job once
    it has ended, which must be in success."""
    sim.script_next(TaskScript(clip=clip))
    job = await service.submit(request(**fields), frame)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED, done.outcome_reason
    return done


async def wait_stopped(service: JobService, job_id: int, timeout: float = 10.0) -> None:
    """Wait until no runner drives the job: nothing more is sent to Wiro or Discord for it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while service.driving(job_id):
        if loop.time() > end:
            raise AssertionError(f"job {job_id} is still driven after {timeout} s")
        await asyncio.sleep(0.02)


async def wait_final_card(presenter: RecordingPresenter, job_id: int, timeout: float = 10.0) -> Job:
    """The card's last state once it is final: a job's row turns terminal a moment before the
    service renders its final card, so a test that read the row waits for that render too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        shown = [job for job, _ in presenter.updates if job.id == job_id]
        if shown and shown[-1].is_terminal:
            return shown[-1]
        if loop.time() > deadline:
            raise TimeoutError(f"job {job_id}'s card never showed a final state")
        await asyncio.sleep(0.01)
