"""The job lifecycle under Wiro's documented faults: retries, refusals, billing without a video."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.governance.admission import IMAGE_RUNS_PAUSED
from bot.jobs.contracts import Refused
from bot.jobs.service import JobService
from bot.wiro.client import WiroClient
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import SENSITIVE_OUTPUT, TaskScript
from storage.db import Database
from storage.models import JobState
from tests.factories import MakeService, assert_counted_without_credits
from tests.jobs.doubles import GUILD, USER, RecordingPresenter, png_frame, request
from tests.jobs.waits import running_at_wiro, wait_terminal


async def test_task_error_shows_retrying_then_the_job_succeeds(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    sim.script_next(TaskScript(task_error=1.0, generate=0.3))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED  # not failed, not refunded at the first task_error
    flags = [extras.retrying for j, extras in presenter.updates if j.id == job.id]
    assert True in flags
    assert flags[-1] is False  # cleared once Wiro moved on
    assert [entry.kind for entry in await db.ledger_for_job(job.id)] == ["reserve", "charge"]


async def test_task_error_until_the_deadline_stops_the_task_and_refunds(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    service = make_service(timeout=timedelta(seconds=3))
    sim.script_next(TaskScript(task_error=math.inf))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id, timeout=20)
    assert done.state is JobState.TIMED_OUT
    assert done.outcome_reason is not None
    assert "Wiro hit a problem and was still retrying" in done.outcome_reason
    assert [entry.kind for entry in await db.ledger_for_job(job.id)] == ["reserve", "refund"]
    # The task was stopped at Wiro (Cancel applies while it awaits its requeue).
    assert sim.tasks[done.wiro_task_id or ""].status == "task_cancel"
    assert any(extras.retrying for j, extras in presenter.updates if j.id == job.id)


async def test_pexit_zero_without_video_refunds_the_member_but_counts_the_bill(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(outcome="empty_outputs", totalcost="0.28"))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED
    assert done.outcome_reason == "The model returned no video."
    assert [entry.kind for entry in await db.ledger_for_job(job.id)] == ["reserve", "refund"]
    assert done.total_cost_usd == pytest.approx(0.28)
    await assert_counted_without_credits(db, GUILD, USER, 0.28)


async def test_failed_run_is_not_billed(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(outcome="fail"))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED and not done.total_cost_usd
    start = datetime.now(UTC) - timedelta(days=1)
    assert await db.spent_usd(GUILD, start, datetime.now(UTC) + timedelta(days=1)) == 0


async def test_content_refusal_is_explained_in_plain_words(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(outcome="fail", debugerror="", debugoutput=SENSITIVE_OUTPUT))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.outcome_reason == "Hailuo refused this prompt (or its image) as sensitive content."


async def test_cancel_answers_at_once_and_says_cancelled_only_when_wiro_confirms(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    # Kill is refused twice before it goes through.
    job = await running_at_wiro(
        service, sim, db, TaskScript(queue=0.0, generate=30.0, kill_refusals=2)
    )
    task_id = (await db.get_job(job.id)).wiro_task_id or ""
    for _ in range(500):  # wait (bounded) until Kill applies: after task_assign
        if sim.tasks[task_id].status == "task_start":
            break
        await asyncio.sleep(0.01)
    answer = await service.cancel(job.id, USER, is_moderator=False)
    assert answer.startswith("Cancelling job")
    assert (await db.get_job(job.id)).state is JobState.RUNNING  # not "cancelled" yet
    done = await wait_terminal(db, job.id, timeout=20)
    assert done.state is JobState.CANCELLED
    assert sim.tasks[task_id].status == "task_cancel"
    kills = [p for p, _ in sim.requests if p == "/Task/Kill"]
    assert len(kills) >= 3  # refused, refused, accepted: retried until confirmed
    cancelling = [extras.cancelling for j, extras in presenter.updates if j.id == job.id]
    assert True in cancelling


async def test_permission_error_while_following_fails_at_once(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    job = await running_at_wiro(service, sim, db, TaskScript(queue=5.0))
    sim.detail_permission_denied = True
    done = await wait_terminal(db, job.id, timeout=10)
    assert done.state is JobState.FAILED
    assert done.outcome_reason is not None and "may not see this task" in done.outcome_reason
    assert [entry.kind for entry in await db.ledger_for_job(job.id)] == ["reserve", "refund"]


async def test_image_job_refused_before_anything_is_spent_while_the_schema_is_unknown(
    service: JobService, sim: WiroSimulator, db: Database, wiro: WiroClient
) -> None:
    wiro.tool = wiro.tool.fallback()
    sim.tool_parameters_null = True
    with pytest.raises(Refused) as refused:
        await service.submit(request(image_url="https://cdn.example/a.png"), png_frame())
    assert refused.value.message == IMAGE_RUNS_PAUSED
    assert sim.runs == [] and await db.jobs_in_flight() == []
    # Text runs are unaffected.
    job = await service.submit(request(), None)
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED


async def test_fast_image_job_checks_the_fast_models_own_schema(
    service: JobService, sim: WiroSimulator, db: Database, wiro: WiroClient
) -> None:
    fast = wiro.for_project("hailuo-2-3-fast")
    fast.tool = fast.tool.fallback()  # the Fast slug's Tool/Detail has not answered
    sim.tool_parameters_null = True
    assert not wiro.tool.from_fallback  # the standard model's schema is known
    with pytest.raises(Refused) as refused:
        await service.submit(request(model="hailuo-2.3-fast", has_image=True), png_frame())
    assert refused.value.message == IMAGE_RUNS_PAUSED
    assert sim.runs == [] and await db.jobs_in_flight() == []


async def test_a_cancel_cut_short_by_a_restart_is_sent_again(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    first = make_service()
    job = await running_at_wiro(
        first, sim, db, TaskScript(queue=0.0, generate=30.0, kill_refusals=1000)
    )
    task_id = (await db.get_job(job.id)).wiro_task_id or ""
    for _ in range(500):  # bounded wait until Kill applies (after task_assign)
        if sim.tasks[task_id].status == "task_start":
            break
        await asyncio.sleep(0.01)
    await first.cancel(job.id, USER, is_moderator=False)
    for _ in range(500):  # bounded wait for the first (refused) Kill
        if any(p == "/Task/Kill" for p, _ in sim.requests):
            break
        await asyncio.sleep(0.01)
    await first.shutdown(timeout=2)  # the stop is cut short; Wiro still runs the task
    assert (await db.get_job(job.id)).state is JobState.RUNNING
    kills_before = sum(1 for p, _ in sim.requests if p == "/Task/Kill")
    sim.tasks[task_id].script.kill_refusals = 0  # Wiro would accept a Kill now
    second = make_service()
    await second.resume_all()
    done = await wait_terminal(db, job.id, timeout=20)
    assert done.state is JobState.CANCELLED
    assert sum(1 for p, _ in sim.requests if p == "/Task/Kill") > kills_before
