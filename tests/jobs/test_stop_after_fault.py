"""An error of the bot's own while a task runs at Wiro never refunds while the task bills on, and
what Wiro bills for a stopped task counts in the server's budget and usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from bot.jobs.service import JobService
from bot.wiro import following
from bot.wiro.client import WiroClient
from bot.wiro.models import StageUpdate
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import Job, JobState
from tests.factories import assert_counted_without_credits, until
from tests.jobs.doubles import GUILD, USER, RecordingPresenter, request
from tests.jobs.waits import running_at_wiro, wait_state, wait_terminal


async def kinds(db: Database, job_id: int) -> list[str]:
    return [entry.kind for entry in await db.ledger_for_job(job_id)]


class WiroAtRefund(RecordingPresenter):
    """Notes the task's status at Wiro at the moment each job ends (and is refunded)."""

    def __init__(self, sim: WiroSimulator) -> None:
        super().__init__()
        self.sim = sim
        self.status_at_end: dict[int, str] = {}

    async def job_finished(self, job: Job) -> None:
        self.status_at_end[job.id] = self.sim.tasks[job.wiro_task_id or ""].status
        await super().job_finished(job)

    async def status_when_finished(self, job_id: int, timeout: float = 10.0) -> str:
        """The task's status when the job ended: the job's row turns terminal a moment before
        the service tells the presenter, so wait for that call (bounded)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while job_id not in self.status_at_end:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"job {job_id} never reached job_finished")
            await asyncio.sleep(0.01)
        return self.status_at_end[job_id]


class HeldSleep:
    """The service's pauses: recorded, and each one lasts until the test releases it."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await self.release.wait()
        self.release.clear()


@pytest.fixture
def running(
    make_service: Callable[..., JobService], sim: WiroSimulator
) -> tuple[JobService, WiroAtRefund, HeldSleep]:
    presenter, sleep = WiroAtRefund(sim), HeldSleep()
    service = make_service(presenter=presenter, sleep=sleep, timeout=timedelta(minutes=5))
    return service, presenter, sleep


async def refunded_once_wiro_takes_the_stop(
    sim: WiroSimulator, db: Database, presenter: WiroAtRefund, sleep: HeldSleep, job_id: int
) -> Job:
    """From now on Wiro takes the Kill (and the Cancel) and the service's held pause ends: the job
    ends refunded, its task stopped at Wiro before the refund. Return the ended job."""
    task_id = (await db.get_job(job_id)).wiro_task_id or ""
    script = sim.tasks[task_id].script
    script.kill_refusals = script.cancel_refusals = 0
    sleep.release.set()
    done = await wait_terminal(db, job_id, timeout=20)
    assert await kinds(db, job_id) == ["reserve", "refund"]
    assert await presenter.status_when_finished(job_id) == "task_cancel"
    return done


def bug_while_following(service: JobService, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(job: Job, event: StageUpdate) -> Job:
        raise RuntimeError("a bug while following the task")

    monkeypatch.setattr(service.at_wiro, "on_stage", broken)


async def test_a_bug_while_following_stops_the_task_at_wiro_before_the_refund(
    running: tuple[JobService, WiroAtRefund, HeldSleep],
    sim: WiroSimulator,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, presenter, _ = running
    bug_while_following(service, monkeypatch)
    sim.script_next(TaskScript(queue=0.0, generate=30.0, cancel_cost="0.04"))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id, timeout=20)

    assert done.state is JobState.FAILED
    assert await kinds(db, job.id) == ["reserve", "refund"]
    # Stopped before the refund.
    assert await presenter.status_when_finished(job.id) == "task_cancel"
    assert any(path in ("/Task/Kill", "/Task/Cancel") for path, _ in sim.requests)
    assert done.outcome_reason == (
        f"Something went wrong on our side (job {job.id}), so the task was stopped at Wiro. "
        "Your credits were refunded."
    )
    assert done.total_cost_usd == pytest.approx(0.04)  # what the stopped task cost is counted


async def test_an_unconfirmed_stop_keeps_the_credits_reserved_and_is_tried_again(
    running: tuple[JobService, WiroAtRefund, HeldSleep],
    sim: WiroSimulator,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refunding while the task may still run would let it bill unseen; charging the member for
    the bot's own error would be wrong. So the job stays in flight, its credits reserved (and
    its expected cost in the budget), and the stop is tried again until Wiro confirms it."""
    monkeypatch.setattr(following, "STOP_CONFIRM_SECONDS", 0.3)
    monkeypatch.setattr(following, "STOP_RETRY_SECONDS", 0.05)
    service, presenter, sleep = running
    bug_while_following(service, monkeypatch)
    sim.script_next(
        TaskScript(queue=0.0, generate=30.0, kill_refusals=10_000, cancel_refusals=10_000)
    )
    job = await service.submit(request(), None)
    task_id = (await wait_state(db, job.id, JobState.RUNNING)).wiro_task_id or ""

    await until(lambda: len(sleep.pauses) == 1, timeout=10)
    assert (await db.get_job(job.id)).state is JobState.RUNNING
    assert await kinds(db, job.id) == ["reserve"]
    assert sim.tasks[task_id].status != "task_cancel"
    sleep.release.set()  # the second try is refused too: the wait doubles
    await until(lambda: len(sleep.pauses) == 2, timeout=10)
    assert sleep.pauses == [30.0, 60.0]
    assert await kinds(db, job.id) == ["reserve"]

    done = await refunded_once_wiro_takes_the_stop(sim, db, presenter, sleep, job.id)
    assert done.state is JobState.FAILED


async def test_a_cancelled_tasks_totalcost_counts_in_the_budget_and_usage(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    job = await running_at_wiro(
        service, sim, db, TaskScript(queue=0.0, generate=30.0, cancel_cost="0.07")
    )
    task_id = job.wiro_task_id or ""
    await until(
        lambda: sim.tasks[task_id].status == "task_start", timeout=10
    )  # Kill applies from here
    await service.cancel(job.id, USER, is_moderator=False)
    done = await wait_terminal(db, job.id, timeout=20)

    assert done.state is JobState.CANCELLED and done.cancelled_by == USER
    assert done.total_cost_usd == pytest.approx(0.07)
    assert await kinds(db, job.id) == ["reserve", "refund"]
    await assert_counted_without_credits(db, GUILD, USER, 0.07)


async def test_a_follower_that_ends_without_an_outcome_stops_the_task_first(
    running: tuple[JobService, WiroAtRefund, HeldSleep],
    sim: WiroSimulator,
    db: Database,
    wiro: WiroClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, presenter, _ = running

    async def nothing(task_id: str, task_token: str, *, deadline: float) -> AsyncIterator[object]:
        return
        yield  # an async generator that ends at once

    monkeypatch.setattr(wiro, "follow", nothing)
    sim.script_next(TaskScript(queue=0.0, generate=30.0))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id, timeout=20)

    assert done.state is JobState.FAILED
    assert done.outcome_reason == (
        "The bot lost track of this job, so the task was stopped at Wiro. "
        "Your credits were refunded."
    )
    assert await presenter.status_when_finished(job.id) == "task_cancel"
    assert await kinds(db, job.id) == ["reserve", "refund"]


async def test_a_timeout_whose_stop_is_unconfirmed_keeps_the_credits_reserved(
    monkeypatch: pytest.MonkeyPatch,  # first: undone after the service's shutdown
    make_service: Callable[..., JobService],
    db: Database,
    sim: WiroSimulator,
) -> None:
    monkeypatch.setattr(following, "STOP_CONFIRM_SECONDS", 0.3)
    monkeypatch.setattr(following, "STOP_RETRY_SECONDS", 0.05)
    presenter, sleep = WiroAtRefund(sim), HeldSleep()
    service = make_service(presenter=presenter, sleep=sleep, timeout=timedelta(seconds=2))
    sim.script_next(
        TaskScript(queue=0.0, generate=30.0, kill_refusals=10_000, cancel_refusals=10_000)
    )
    job = await service.submit(request(), None)
    await wait_state(db, job.id, JobState.RUNNING)
    await until(lambda: len(sleep.pauses) == 1, timeout=10)  # the deadline passed; the stop failed
    assert (await db.get_job(job.id)).state is JobState.RUNNING
    assert await kinds(db, job.id) == ["reserve"]

    done = await refunded_once_wiro_takes_the_stop(sim, db, presenter, sleep, job.id)
    assert done.state is JobState.TIMED_OUT
