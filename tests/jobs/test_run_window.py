"""The ambiguous Run window (issue 21, item 4): a Run whose answer, the task id, may be lost.

The first frame is uploaded first so that the Run is small; `run_sent_at` tells a restart
whether the Run left; a stop waits for a Run in flight; and where the answer is lost all the
same, the member is refunded while the server's budget and usage count what Wiro may bill.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.app.video_bot import RUN_GRACE_SECONDS
from bot.jobs.contracts import utcnow
from bot.jobs.service import JobService
from bot.wiro.models import RunAccepted
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from cogs.audit import audit_line
from storage.db import Database
from storage.models import JobState, NewJob
from tests.factories import MakeService, reservation_args
from tests.jobs.doubles import GUILD, USER, RecordingPresenter, png_frame, request
from tests.jobs.waits import wait_state, wait_terminal

EXPECTED_768P_6S = 0.28  # the simulator's Tool/Detail price of 768P, 6 s


def _paths(sim: WiroSimulator) -> list[str]:
    return [path for path, _ in sim.requests]


async def _kinds(db: Database, job_id: int) -> list[str]:
    return [e.kind for e in await db.ledger_for_job(job_id)]


async def _forge_submitting(db: Database, *, run_sent: bool) -> int:
    """A job a crash left in SUBMITTING, before or after its Run left for Wiro."""
    now = utcnow()
    job = await db.create_job_with_reservation(
        NewJob(guild_id=GUILD, channel_id=1, user_id=USER + 70, prompt="forged"),
        **reservation_args(now=now, credits=100, max_jobs_per_user=5, max_jobs_per_guild=50),
    )
    # Its card was posted (nothing goes to Wiro before its card: bot/jobs/service.py).
    await db.update_job(job.id, card_message_id=424_242, card_posted_at=now)
    await db.transition(job.id, JobState.SUBMITTING, **({"run_sent_at": now} if run_sent else {}))
    return job.id


# ----------------------------------------------------------------------------------------------
# Upload first, then a small Run; the multipart Run stays as the fallback
# ----------------------------------------------------------------------------------------------
async def test_an_image_run_uploads_the_frame_first_and_sends_a_small_json_run(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    frame = png_frame(720, 1280)
    job = await service.submit(request(), frame)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert _paths(sim).count("/File/Upload") == 1
    run = sim.runs[0]
    assert run.content_type == "json"  # no file bytes in the billed request
    assert run.image == frame.data and run.image_field == "inputImage"
    assert run.image_url is not None and run.image_url in sim.uploads
    assert sim.uploads[run.image_url].content_type == frame.content_type
    assert done.run_sent_at is not None


async def test_a_refused_upload_falls_back_to_the_multipart_run_and_is_not_retried_soon(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(max_jobs_per_user=5)
    sim.upload_refusal = "invalid-parameters"  # the July 2026 repro under signature auth
    frame = png_frame()
    first = await service.submit(request(), frame)
    assert (await wait_terminal(db, first.id)).state is JobState.SUCCEEDED
    second = await service.submit(request(prompt="another"), frame)
    assert (await wait_terminal(db, second.id)).state is JobState.SUCCEEDED
    assert [r.content_type for r in sim.runs] == ["multipart", "multipart"]
    assert all(r.image == frame.data for r in sim.runs)
    assert _paths(sim).count("/File/Upload") == 1  # Wiro said no: not asked again for a while


async def test_an_upload_that_breaks_falls_back_to_the_multipart_run_for_that_job(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.inject("/File/Upload", "disconnect", count=3)  # every try of this upload
    frame = png_frame()
    job = await service.submit(request(), frame)
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert [r.content_type for r in sim.runs] == ["multipart"]
    assert sim.runs[0].image == frame.data
    assert len(sim.runs) == 1 and len(sim.tasks) == 1  # one Run, one task


# ----------------------------------------------------------------------------------------------
# A restart that finds a job SUBMITTING
# ----------------------------------------------------------------------------------------------
async def test_a_job_stopped_before_its_run_left_is_sent_at_the_restart(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    pending = await _forge_submitting(db, run_sent=False)
    service = make_service()
    await service.resume_all()
    done = await wait_terminal(db, pending)
    assert done.state is JobState.SUCCEEDED
    assert len(sim.runs) == 1
    assert await _kinds(db, pending) == ["reserve", "charge"]


async def test_an_ambiguous_submission_refunds_and_counts_the_expected_cost(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    pending = await _forge_submitting(db, run_sent=True)
    start = utcnow() - timedelta(days=1)
    assert await db.spent_usd(GUILD, start, utcnow() + timedelta(days=1)) == 0
    service = make_service()
    await service.resume_all()
    done = await wait_terminal(db, pending)
    assert done.state is JobState.FAILED
    assert "not sent again" in (done.outcome_reason or "")
    assert sim.runs == []  # never sent twice
    assert await _kinds(db, pending) == ["reserve", "refund"]  # the member gets it back
    # ...while the server's spending counts what Wiro may have billed, marked as an estimate.
    assert done.total_cost_usd == pytest.approx(EXPECTED_768P_6S) and done.cost_is_estimate
    spent = await db.spent_usd(GUILD, start, utcnow() + timedelta(days=1))
    assert spent == pytest.approx(EXPECTED_768P_6S)
    (row,) = [r for r in await db.usage(GUILD, start) if r.user_id == USER + 70]
    assert row.usd == pytest.approx(EXPECTED_768P_6S) and row.credits == 0
    line = audit_line(done)
    assert "may have been billed by Wiro" in line and "$0.28" in line, line
    assert [j.id for j in presenter.finished] == [pending]


async def test_a_run_whose_answer_is_lost_counts_the_expected_cost_too(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.inject("/Run", "disconnect")  # the connection breaks after the Run was sent
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED
    assert "not sent again" in (done.outcome_reason or "")
    assert done.total_cost_usd == pytest.approx(EXPECTED_768P_6S) and done.cost_is_estimate
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    assert "may have been billed by Wiro" in audit_line(done)


async def test_a_finished_job_with_a_reported_cost_is_not_called_an_estimate(
    service: JobService, db: Database
) -> None:
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.total_cost_usd is not None and not done.cost_is_estimate
    assert "may have been billed" not in audit_line(done)


# ----------------------------------------------------------------------------------------------
# A stop while a Run is out
# ----------------------------------------------------------------------------------------------
async def test_a_stop_during_a_slow_run_waits_for_the_answer_and_stores_the_task_id(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    sim.run_delay = 4.5  # longer than the 4 s the bot used to wait
    sim.script_next(TaskScript(generate=0.5))
    first = make_service()
    job = await first.submit(request(), png_frame())
    await wait_state(db, job.id, JobState.SUBMITTING)
    for _ in range(200):  # the Run has reached Wiro and waits for its answer
        if sim.runs:
            break
        await asyncio.sleep(0.02)
    assert sim.runs and (await db.get_job(job.id)).run_sent_at is not None
    await first.shutdown(timeout=1.0, submit_grace=RUN_GRACE_SECONDS)
    saved = await db.get_job(job.id)
    assert saved.state is JobState.RUNNING and saved.wiro_task_id == sim.runs[0].task_id

    second = make_service()
    await second.resume_all()
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert len(sim.runs) == 1 and len(presenter.deliveries) == 1


async def test_a_stop_during_the_upload_leaves_a_job_that_is_sent_at_the_restart(
    make_service: MakeService, sim: WiroSimulator, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_service()
    uploading = asyncio.Event()

    async def slow_upload(data: bytes, *, filename: str, content_type: str) -> str:
        uploading.set()
        await asyncio.sleep(30)  # a large first frame on a slow link
        raise AssertionError("the stop should have cancelled the upload")

    monkeypatch.setattr(first.wiro, "upload", slow_upload)
    job = await first.submit(request(), png_frame())
    await asyncio.wait_for(uploading.wait(), 5)
    await asyncio.wait_for(first.shutdown(timeout=1.0, submit_grace=RUN_GRACE_SECONDS), 3)
    saved = await db.get_job(job.id)
    assert saved.state is JobState.SUBMITTING and saved.run_sent_at is None
    assert sim.runs == []
    monkeypatch.undo()

    second = make_service()
    await second.resume_all()
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert len(sim.runs) == 1


async def test_a_cancel_while_the_image_uploads_sends_no_run(
    service: JobService, sim: WiroSimulator, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upload = service.wiro.upload
    uploading, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_upload(data: bytes, *, filename: str, content_type: str) -> str:
        uploading.set()
        await cancelled.wait()  # the member presses Cancel while a large image uploads
        return await real_upload(data, filename=filename, content_type=content_type)

    monkeypatch.setattr(service.wiro, "upload", slow_upload)
    job = await service.submit(request(), png_frame())
    await asyncio.wait_for(uploading.wait(), 5)
    answer = await service.cancel(job.id, USER, is_moderator=False)
    assert "Cancelling" in answer
    cancelled.set()
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.CANCELLED and done.cancelled_by == USER
    assert sim.runs == []  # nothing was sent, nothing billed
    assert await _kinds(db, job.id) == ["reserve", "refund"]


async def test_a_bug_after_the_run_left_counts_what_wiro_may_bill(
    service: JobService, sim: WiroSimulator, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = service.wiro.run

    async def run_then_fail(**kwargs: Any) -> RunAccepted:
        await real_run(**kwargs)  # Wiro accepted the task (and will bill it)...
        raise RuntimeError("a bug before the task id was stored")  # ...the answer is lost

    monkeypatch.setattr(service.wiro, "run", run_then_fail)
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED and "not sent again" in (done.outcome_reason or "")
    assert done.total_cost_usd == pytest.approx(EXPECTED_768P_6S) and done.cost_is_estimate
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    assert len(sim.runs) == 1
