"""The member is charged only for a job they saw, and every card ends up telling the truth.

Crashes between the reservation and the card, and between a state change and its (paced)
card edit, against a real database, the Wiro simulator and a recording presenter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from bot.jobs.contracts import CardExtras, Refused, utcnow
from bot.jobs.service import JobService
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.approvals import ApprovalStatus, Hold
from storage.db import Database
from storage.models import Job, JobState, NewJob
from tests.factories import MakeService, reservation_args
from tests.jobs.doubles import GUILD, USER, RecordingPresenter, request
from tests.jobs.waits import running_at_wiro, wait_state, wait_terminal


@dataclass
class StuckCardPresenter(RecordingPresenter):
    """Posting a card hangs until `release` is set: the process can "die" meanwhile."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    async def post_card(self, job: Job, extras: CardExtras, thumbnail: bytes | None) -> int:
        self.asked.set()
        await self.release.wait()
        return await super().post_card(job, extras, thumbnail)


async def _kinds(db: Database, job_id: int) -> list[str]:
    return [entry.kind for entry in await db.ledger_for_job(job_id)]


async def _crash_before_the_card(service: JobService, presenter: StuckCardPresenter) -> Job:
    """Submit a /video and kill the process while its card is being posted."""
    submitting = asyncio.ensure_future(service.submit(request(), None))
    await asyncio.wait_for(presenter.asked.wait(), 10)
    submitting.cancel()  # SIGKILL: nothing after this await runs
    with pytest.raises(asyncio.CancelledError):
        await submitting
    await service.shutdown(timeout=2)
    [job] = await service.storage.jobs_in_flight()
    assert (job.state, job.card_message_id) == (JobState.PENDING, None)
    return job


# ------------------------------------------------------------------------------------------
# No charge for a job the member never saw
# ------------------------------------------------------------------------------------------
async def test_a_crash_before_the_card_is_refunded_at_start_and_never_run(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    stuck = StuckCardPresenter()
    first = make_service()
    first.presenter = stuck
    job = await _crash_before_the_card(first, stuck)

    presenter = RecordingPresenter()
    second = make_service()
    second.presenter = presenter
    assert await second.resume_all() == 0
    closed = await db.get_job(job.id)
    assert closed.state is JobState.FAILED
    assert "card was posted" in (closed.outcome_reason or "")
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    await asyncio.sleep(0.3)
    assert sim.runs == []  # no Run, then or later
    assert presenter.posted == []  # no card appears minutes later without context
    assert [j.id for j in presenter.finished] == [job.id]  # the audit line says what happened
    # The member, who tried again meanwhile, pays for that one run only.
    again = await second.submit(request(), None)
    assert (await wait_terminal(db, again.id)).state is JobState.SUCCEEDED
    assert (await second.quota_status(GUILD, USER, ())).used == again.credits


async def test_a_job_queued_locally_without_a_card_is_refunded_too(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    """WAITING: Wiro said "busy" (no task was created), so it has not reached Wiro either."""
    job = await db.create_job_with_reservation(
        NewJob(guild_id=GUILD, channel_id=1, user_id=USER, prompt="never shown"),
        **reservation_args(now=(service := make_service()).clock()),
    )
    await db.transition(job.id, JobState.SUBMITTING)
    await db.transition(job.id, JobState.WAITING)
    assert await service.resume_all() == 0
    assert (await db.get_job(job.id)).state is JobState.FAILED
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    assert sim.runs == []


async def test_start_leaves_alone_a_job_whose_card_is_being_posted_right_now(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    """The bot resumes jobs once Discord is ready, while members can already use /video: a
    job reserved by this process, card not posted yet, is neither refunded nor run early."""
    stuck = StuckCardPresenter()
    service = make_service()
    service.presenter = stuck
    submitting = asyncio.ensure_future(service.submit(request(), None))
    await asyncio.wait_for(stuck.asked.wait(), 10)
    assert await service.resume_all() == 0
    await asyncio.sleep(0.3)
    [job] = await db.jobs_in_flight()
    assert job.state is JobState.PENDING
    assert sim.runs == []  # no Run before its card
    stuck.release.set()
    job = await submitting
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert len(sim.runs) == 1


async def test_a_card_that_cannot_be_recorded_is_not_run(
    make_service: MakeService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = make_service()
    real_update = db.update_job

    async def update_job(job_id: int, **fields: object) -> Job:
        if "card_message_id" in fields:
            raise OSError(28, "No space left on device")
        return await real_update(job_id, **fields)

    monkeypatch.setattr(db, "update_job", update_job)
    with pytest.raises(Refused, match="credits were not used"):
        await service.submit(request(), None)
    [job] = await db.jobs_for_guild(GUILD)
    assert job.state is JobState.FAILED
    # The failure carries the card's id: the card itself says what happened.
    assert job.card_message_id is not None
    assert [(j.id, j.state) for j, _ in presenter.updates] == [(job.id, JobState.FAILED)]
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    await asyncio.sleep(0.3)
    assert sim.runs == []


async def test_a_job_that_reached_wiro_without_a_recorded_card_still_runs(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    """Only jobs that have not reached Wiro are closed: a task already running is followed."""
    service = make_service()
    job = await running_at_wiro(service, sim, db, TaskScript(generate=0.5))
    await service.shutdown(timeout=2)
    await db.update_job(job.id, card_message_id=None)  # as in a database from before
    second = make_service()
    assert await second.resume_all() == 1
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert len(sim.runs) == 1


async def test_a_held_request_without_a_card_is_closed_with_its_review(
    make_service: MakeService, db: Database
) -> None:
    """Waiting for a moderator, but its card (and so its review message) was never posted: no
    moderator can ever see it, so it is refunded now rather than after the expiry."""
    service = make_service()
    now = service.clock()
    job = await db.create_job_with_reservation(
        NewJob(guild_id=GUILD, channel_id=1, user_id=USER, prompt="held, never shown"),
        **reservation_args(now=now),
        hold=Hold(review_channel_id=77, expires_at=now + timedelta(hours=24)),
    )
    assert await service.resume_all() == 0
    assert (await db.get_job(job.id)).state is JobState.FAILED
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    approval = await db.approval(job.id)
    assert approval is not None and approval.status is ApprovalStatus.CANCELLED
    assert await db.unsettled_approvals() == []


# ------------------------------------------------------------------------------------------
# The card always ends up telling the truth
# ------------------------------------------------------------------------------------------
@dataclass
class PacedPresenter(RecordingPresenter):
    """Card edits wait in memory, as behind the real per-channel pacing, until `flush()`.

    `flush()` does what the Discord presenter's edit does: re-read the job, show it, and clear
    its mark; with `broken`, Discord refuses every edit (the mark stays)."""

    db: Database | None = None
    broken: bool = False
    waiting: dict[int, Job] = field(default_factory=dict)
    shown: dict[int, JobState] = field(default_factory=dict)

    async def update_card(self, job: Job, extras: CardExtras) -> None:
        await super().update_card(job, extras)
        self.waiting[job.id] = job

    async def flush(self) -> None:
        assert self.db is not None
        for job_id in list(self.waiting):
            del self.waiting[job_id]
            if self.broken:
                continue
            job = await self.db.get_job(job_id)
            self.shown[job_id] = job.state
            await self.db.card_shown(job_id, job.card_pending)


async def _stale(db: Database) -> set[int]:
    return {job.id for job in await db.stale_cards(utcnow() - timedelta(hours=1))}


async def test_cards_whose_edits_never_ran_show_the_final_state_after_a_restart(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    """The process dies with card edits still waiting for their turn: a delivered job, a
    cancelled one and one still running. The next start shows every card's latest state,
    finished jobs included."""
    first = make_service()
    first.presenter = dying = PacedPresenter(db=db)
    delivered = await first.submit(request(), None)
    assert (await wait_terminal(db, delivered.id)).state is JobState.SUCCEEDED
    cancelled = await running_at_wiro(first, sim, db, TaskScript(queue=30.0), user_id=USER + 1)
    sim.script_next(TaskScript(generate=3.0))
    running = await first.submit(request(user_id=USER + 2), None)
    await first.cancel(cancelled.id, USER + 1, is_moderator=False)
    assert (await wait_terminal(db, cancelled.id)).state is JobState.CANCELLED
    await wait_state(db, running.id, JobState.RUNNING)
    await first.shutdown(timeout=2)  # SIGKILL: the waiting edits are lost with the process
    assert dying.shown == {}
    assert await _stale(db) == {delivered.id, cancelled.id, running.id}

    second = make_service()
    second.presenter = restarted = PacedPresenter(db=db)
    await second.resume_all()
    await restarted.flush()
    assert restarted.shown[delivered.id] is JobState.SUCCEEDED
    assert restarted.shown[cancelled.id] is JobState.CANCELLED
    assert running.id in restarted.shown
    assert (await wait_terminal(db, running.id)).state is JobState.SUCCEEDED
    await restarted.flush()
    assert restarted.shown[running.id] is JobState.SUCCEEDED
    assert await _stale(db) == set()


async def test_a_card_edit_that_failed_for_good_is_tried_again_until_it_lands(
    make_service: MakeService, db: Database
) -> None:
    service = make_service()
    service.presenter = presenter = PacedPresenter(db=db, broken=True)
    job = await service.submit(request(), None)
    await wait_terminal(db, job.id)
    await presenter.flush()  # Discord refuses the final edit, past the editor's retries
    assert await _stale(db) == {job.id}
    # The sweep leaves alone a card whose job changed moments ago (its edit may be on its way).
    assert await service.refresh_stale_cards(settled_for=timedelta(minutes=5)) == 0
    assert await service.refresh_stale_cards() == 1
    await presenter.flush()
    assert await _stale(db) == {job.id}  # still refused: still marked
    presenter.broken = False
    assert await service.refresh_stale_cards() == 1
    await presenter.flush()
    assert presenter.shown == {job.id: JobState.SUCCEEDED}
    assert await _stale(db) == set()
    assert await service.refresh_stale_cards() == 0


async def test_the_card_sweep_runs_while_the_bot_runs(
    make_service: MakeService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.jobs.cards

    monkeypatch.setattr(bot.jobs.cards.JobCards, "card_sweep_seconds", 0.05)
    monkeypatch.setattr(bot.jobs.cards, "CARD_SWEEP_SETTLE", timedelta(0))
    service = make_service()
    service.presenter = presenter = PacedPresenter(db=db, broken=True)
    await service.resume_all()
    job = await service.submit(request(), None)
    await wait_terminal(db, job.id)
    await presenter.flush()
    presenter.broken = False
    for _ in range(100):
        await asyncio.sleep(0.02)
        await presenter.flush()
        if job.id in presenter.shown:
            break
    assert presenter.shown == {job.id: JobState.SUCCEEDED}
    assert await _stale(db) == set()


async def test_a_card_posted_but_not_recorded_is_found_and_tells_the_outcome(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    """Discord took the card, then the process died before its id was written: the job is
    closed all the same (never run), and that card shows it instead of "Sending to Wiro…"."""
    service = make_service()
    job = await db.create_job_with_reservation(
        NewJob(guild_id=GUILD, channel_id=1, user_id=USER, prompt="posted, not recorded"),
        **reservation_args(now=service.clock()),
    )
    presenter = RecordingPresenter(lost_cards={job.id: 4242})
    service.presenter = presenter
    assert await service.resume_all() == 0
    closed = await db.get_job(job.id)
    assert (closed.state, closed.card_message_id) == (JobState.FAILED, 4242)
    assert "not run" in (closed.outcome_reason or "")
    assert [(j.id, j.state) for j, _ in presenter.updates] == [(job.id, JobState.FAILED)]
    assert await _kinds(db, job.id) == ["reserve", "refund"]
    await asyncio.sleep(0.2)
    assert sim.runs == []
