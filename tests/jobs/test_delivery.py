"""A finished clip outlasts a Discord outage: retried with backoff, never failed or refunded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.jobs.contracts import ClipToPost, Delivery
from bot.jobs.outage import DiscordUnavailable, OutageOutlasted, RetryPolicy, outlast
from bot.jobs.service import JobService
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import Job, JobState
from tests.factories import Clock, MakeService
from tests.jobs.doubles import RecordingPresenter, request
from tests.jobs.waits import wait_final_card, wait_state, wait_terminal

WINDOW = timedelta(minutes=15)


@dataclass
class FlakyPresenter(RecordingPresenter):
    """Discord refuses the clip post `outage` times (or forever with -1), then takes it."""

    outage: int = 0
    attempts: list[str | None] = field(default_factory=list)  # the nonce of every try

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        self.attempts.append(job.delivery_nonce)
        if self.outage < 0 or len(self.attempts) <= self.outage:
            raise DiscordUnavailable("503 Service Unavailable")
        return await super().deliver_clip(job, post)


class FakeSleep:
    """Waits nothing on the real clock: moves the test clock instead, and records each wait."""

    def __init__(self, clock: Clock, *, hold_after: int | None = None) -> None:
        self.clock = clock
        self.waits: list[float] = []
        self.hold_after = hold_after  # from this many waits on, block until cancelled
        self.holding = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hold_after is not None and len(self.waits) > self.hold_after:
            self.holding.set()
            await asyncio.Event().wait()  # a runner stopped by shutdown stops here
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def build(make_service: Callable[..., JobService]) -> Callable[..., JobService]:
    def make(presenter: RecordingPresenter, clock: Clock, sleep: FakeSleep) -> JobService:
        return make_service(
            presenter=presenter,
            clock=clock,
            sleep=sleep,
            timeout=timedelta(minutes=30),
            delivery_retry=RetryPolicy(window=WINDOW),
        )

    return make


async def _ledger(db: Database, job_id: int) -> list[str]:
    return [entry.kind for entry in await db.ledger_for_job(job_id)]


async def test_clip_post_outlasts_an_outage_with_the_same_nonce(
    build: MakeService, db: Database
) -> None:
    presenter = FlakyPresenter(outage=3)
    clock = Clock(datetime.now(UTC))
    sleep = FakeSleep(clock)
    service = build(presenter, clock, sleep)
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)

    assert done.state is JobState.SUCCEEDED and done.result_message_id is not None
    assert await _ledger(db, job.id) == ["reserve", "charge"]
    assert len(presenter.attempts) == 4 and len(set(presenter.attempts)) == 1
    assert presenter.attempts[0] is not None  # one nonce for every try: no double post
    assert len(presenter.deliveries) == 1
    assert len(sleep.waits) == 3 and sleep.waits[0] <= sleep.waits[-1] * 2
    delayed = [extras.delivery_delayed for j, extras in presenter.updates if j.id == job.id]
    assert delayed.count(True) == 1  # the card said the clip is on its way, once


async def test_after_the_window_the_card_links_the_clip_and_the_job_is_charged(
    build: MakeService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(clip=b"\x00\x00\x00\x18ftypmp42" + b"x" * 1000))
    presenter = FlakyPresenter(outage=-1)
    clock = Clock(datetime.now(UTC))
    sleep = FakeSleep(clock)
    service = build(presenter, clock, sleep)
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)

    assert done.state is JobState.SUCCEEDED
    assert done.result_message_id is None and presenter.deliveries == []
    assert done.output_url and done.output_url in (done.outcome_reason or "")
    assert await _ledger(db, job.id) == ["reserve", "charge"]
    assert sum(sleep.waits) == pytest.approx(WINDOW.total_seconds())
    assert max(sleep.waits) <= 60.0
    final = await wait_final_card(presenter, job.id)
    assert final.state is JobState.SUCCEEDED  # the final card went out with the link


async def stopped_while_discord_is_down(
    build: MakeService, db: Database
) -> tuple[Job, Clock, FlakyPresenter]:
    """A job whose clip Discord refuses, and the process stopped during the first retry wait.
    Return the job (as submitted), the test's clock and the presenter Discord refused."""
    down = FlakyPresenter(outage=-1)
    clock = Clock(datetime.now(UTC))
    first = build(down, clock, FakeSleep(clock, hold_after=1))
    job = await first.submit(request(), None)
    await wait_state(db, job.id, JobState.DELIVERING)
    await asyncio.wait_for(_held(first), 10)  # the first retry wait is under way
    await first.shutdown(timeout=2)  # the process stops while Discord is still down
    return job, clock, down


async def linked_after_a_restart(
    build: MakeService, db: Database, clock: Clock, job_id: int, presenter: FlakyPresenter
) -> tuple[Job, FakeSleep]:
    """Restart: a new service, Discord as `presenter` has it, resumes the job, whose clip ends
    linked. Return the ended job and the new service's waits."""
    sleep = FakeSleep(clock)
    second = build(presenter, clock, sleep)
    assert await second.resume_all() == 1
    done = await wait_terminal(db, job_id)
    assert done.state is JobState.SUCCEEDED and done.result_message_id is None
    assert done.output_url and done.output_url in (done.outcome_reason or "")
    return done, sleep


async def test_a_restart_during_an_outage_picks_up_the_delivery(
    build: MakeService, db: Database
) -> None:
    job, clock, down = await stopped_while_discord_is_down(build, db)
    still = await db.get_job(job.id)
    assert still.state is JobState.DELIVERING and await _ledger(db, job.id) == ["reserve"]

    up = FlakyPresenter()
    second = build(up, clock, FakeSleep(clock))
    assert await second.resume_all() == 1
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED and len(up.deliveries) == 1
    assert up.attempts == [down.attempts[0]]  # the same nonce after the restart
    assert await _ledger(db, job.id) == ["reserve", "charge"]


async def test_the_retry_window_goes_on_across_a_restart(build: MakeService, db: Database) -> None:
    """The outage's start is on the job row: a bot restarted 10 minutes into a 15-minute
    window has 5 minutes left, not 15; restarted after it, it links the clip at once."""
    job, clock, _ = await stopped_while_discord_is_down(build, db)
    began = clock()  # the stopped service's clock never moved past its first held wait
    recorded = (await db.get_job(job.id)).delivery_unavailable_since
    assert recorded is not None and abs(recorded - began) < timedelta(minutes=1)

    clock.advance(minutes=10)
    _, sleep = await linked_after_a_restart(build, db, clock, job.id, FlakyPresenter(outage=-1))
    # What was left of the window, not a new one: 15 - 10 minutes (less the first wait).
    assert (WINDOW - timedelta(minutes=11)).total_seconds() <= sum(sleep.waits)
    assert sum(sleep.waits) <= (WINDOW - timedelta(minutes=10)).total_seconds()


async def test_a_restart_after_the_window_links_the_clip_after_one_try(
    build: MakeService, db: Database
) -> None:
    job, clock, _ = await stopped_while_discord_is_down(build, db)

    clock.advance(minutes=20)  # the bot was down longer than the whole window
    still_down = FlakyPresenter(outage=-1)
    _, sleep = await linked_after_a_restart(build, db, clock, job.id, still_down)
    assert sleep.waits == [] and len(still_down.attempts) == 1
    assert await _ledger(db, job.id) == ["reserve", "charge"]


@dataclass
class StuckPresenter(RecordingPresenter):
    """The clip post never returns (the process stops during it)."""

    posting: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        self.posting.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclass
class DownPresenter(FlakyPresenter):
    """Discord refuses everything: the look for a posted clip as well as the post."""

    outage: int = -1
    looks: int = 0

    async def find_delivery(self, job: Job) -> int | None:
        self.looks += 1
        raise DiscordUnavailable("503 Service Unavailable")


async def test_an_outage_met_by_the_look_after_a_restart_is_one_window_with_the_post(
    build: MakeService, db: Database
) -> None:
    """After a restart the bot first looks for an already-posted clip, then posts: an outage
    that begins with the look is one retry window for both, not one each."""
    stuck = StuckPresenter()
    clock = Clock(datetime.now(UTC))
    first = build(stuck, clock, FakeSleep(clock))
    job = await first.submit(request(), None)
    await asyncio.wait_for(stuck.posting.wait(), 10)
    await first.shutdown(timeout=2)
    assert (await db.get_job(job.id)).delivery_unavailable_since is None

    down = DownPresenter()
    _, sleep = await linked_after_a_restart(build, db, clock, job.id, down)
    assert down.looks >= 1 and down.attempts  # it looked, then tried to post
    assert sum(sleep.waits) == pytest.approx(WINDOW.total_seconds())


async def _held(service: JobService) -> None:
    sleep = service.sleep
    assert isinstance(sleep, FakeSleep)
    await sleep.holding.wait()


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(window=timedelta(minutes=15), first_delay=2.0, max_delay=60.0)
    highs = [policy.delay(n, rng=lambda: 1.0) for n in range(8)]
    lows = [policy.delay(n, rng=lambda: 0.0) for n in range(8)]
    assert highs == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert lows == [h / 2 for h in highs]
    short = RetryPolicy(window=timedelta(seconds=5))
    assert short.delay(10, rng=lambda: 1.0) == pytest.approx(0.5)  # a tenth of the window


async def test_outlast_only_retries_unavailability() -> None:
    clock = Clock(datetime.now(UTC))
    sleep = FakeSleep(clock)
    calls: list[int] = []

    async def refused() -> None:
        calls.append(1)
        raise PermissionError("Missing Permissions")

    with pytest.raises(PermissionError):
        await outlast(refused, policy=RetryPolicy(), clock=clock, sleep=sleep)
    assert calls == [1] and sleep.waits == []

    async def down() -> None:
        raise DiscordUnavailable("502")

    with pytest.raises(OutageOutlasted) as info:
        await outlast(
            down, policy=RetryPolicy(window=timedelta(minutes=1)), clock=clock, sleep=sleep
        )
    assert info.value.attempts == len(sleep.waits) + 1
    assert sum(sleep.waits) == pytest.approx(60.0)
