"""Waiting for a job (bounded, failing with what was seen) in the job lifecycle's tests."""

from __future__ import annotations

import asyncio

from bot.jobs.service import JobService
from bot.media.images import FirstFrame
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import Job, JobState
from tests.jobs.doubles import PRESENTERS, RecordingPresenter, request


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
    presenters = [p for ref in PRESENTERS if (p := ref()) is not None]
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


async def running_at_wiro(
    service: JobService, sim: WiroSimulator, db: Database, script: TaskScript, **fields: object
) -> Job:
    """Submit a /video (`request(**fields)`) whose Wiro task follows `script`; return the job
    once its task runs at Wiro."""
    sim.script_next(script)
    job = await service.submit(request(**fields), None)
    return await wait_state(db, job.id, JobState.RUNNING)


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
