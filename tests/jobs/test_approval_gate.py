"""The approval gate in the job lifecycle: every new job passes `JobService.submit`, so a held
request is reserved, carded as waiting, never sent to Wiro until approved, and ends refunded
when denied or cancelled; an approved job's deadline counts from its approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.governance.approval import ApprovalService
from bot.jobs.contracts import Asker, Refused
from bot.jobs.service import JobService
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.approvals import ApprovalStatus
from storage.db import Database
from storage.models import JobState
from tests.approval.conftest import RecordingReviews
from tests.jobs.doubles import GUILD, MOD, USER, RecordingPresenter, request
from tests.jobs.waits import wait_terminal

REVIEW = 5555
TRUSTED = 6666
Gated = tuple[JobService, ApprovalService, RecordingReviews]  # what the `gated` fixture gives


@pytest.fixture
async def gated(db: Database, make_service: Callable[..., JobService]) -> Gated:
    service = make_service()
    reviews = RecordingReviews()
    approvals = ApprovalService(storage=db, jobs=service, presenter=reviews)
    service.gate = approvals
    await db.set_approval(GUILD, enabled=True, review_channel_id=REVIEW,
                          trusted_role_id=TRUSTED, actor_id=MOD, detail="on")  # fmt: skip
    return service, approvals, reviews


async def test_a_held_request_waits_until_approved_then_runs(
    db: Database, sim: WiroSimulator, presenter: RecordingPresenter, gated: Gated
) -> None:
    service, approvals, reviews = gated
    job = await service.submit(request(), None)
    assert job.state is JobState.PENDING
    [(reviewed, _)] = reviews.posted
    assert reviewed.id == job.id
    [posted] = presenter.posted
    assert posted.id == job.id
    assert await db.credits_used(GUILD, USER, job.created_at - timedelta(days=1),
                                 job.created_at + timedelta(days=1)) == 1  # fmt: skip
    # Nothing runs it while it waits, not even a resume after a restart.
    await service.drive(job.id)
    assert await service.resume_all() == 1
    await service.drive(job.id)
    assert (await db.get_job(job.id)).state is JobState.PENDING and sim.runs == []

    sim.script_next(TaskScript(generate=0.2))
    await approvals.approve(job.id, MOD, GUILD)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED and len(sim.runs) == 1
    assert done.approved_at is not None
    assert presenter.updates[0][1].approval is None  # the card left "waiting" on release


async def test_the_waiting_card_says_so_and_has_no_eta(db: Database, gated: Gated) -> None:
    service, _, _ = gated
    job = await service.submit(request(), None)
    extras = await service.outcomes.card_extras(await db.get_job(job.id))
    assert extras.approval == "waiting" and extras.eta is None


async def test_moderators_and_trusted_members_are_not_held(db: Database, gated: Gated) -> None:
    service, _, reviews = gated
    for req in (request(manage_guild=True), request(user_id=USER + 7, role_ids={TRUSTED})):
        job = await service.submit(req, None)
        assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert reviews.posted == []


async def test_cancel_while_waiting_goes_through_the_queue(db: Database, gated: Gated) -> None:
    service, approvals, reviews = gated
    job = await service.submit(request(), None)
    with pytest.raises(Refused, match="Only the member"):
        await service.cancel(job.id, USER + 1, is_moderator=False)
    assert "cancelled" in await service.cancel(job.id, USER, is_moderator=False)
    ended = await db.get_job(job.id)
    assert ended.state is JobState.CANCELLED
    assert [e.kind for e in await db.ledger_for_job(job.id)] == ["reserve", "refund"]
    assert await approvals.state_of(job.id) is ApprovalStatus.CANCELLED
    assert reviews.updates[-1][1].status is ApprovalStatus.CANCELLED
    extras = await service.outcomes.card_extras(ended)
    assert extras.approval == "cancelled"


async def test_a_denied_card_carries_the_reason(
    db: Database, presenter: RecordingPresenter, gated: Gated
) -> None:
    service, approvals, _ = gated
    job = await service.submit(request(), None)
    await approvals.deny(job.id, MOD, GUILD, "Please keep it friendly")
    ended = await db.get_job(job.id)
    assert ended.outcome_reason == "A moderator denied this request: Please keep it friendly"
    shown, extras = presenter.updates[-1]
    assert shown.state is JobState.CANCELLED and extras.approval == "denied"
    assert presenter.finished[-1].id == job.id  # the audit hook hears of it like any end


async def test_an_unpostable_review_refunds_and_refuses(db: Database, gated: Gated) -> None:
    service, _, reviews = gated
    reviews.fail_post = True
    with pytest.raises(Refused, match="review channel"):
        await service.submit(request(), None)
    [job] = await db.jobs_for_user(GUILD, USER)
    assert job.state is JobState.CANCELLED
    assert [e.kind for e in await db.ledger_for_job(job.id)] == ["reserve", "refund"]


async def test_the_run_deadline_counts_from_the_approval(gated: Gated) -> None:
    service, _, _ = gated  # timeout 20 s
    job = await service.submit(request(), None)
    hours_ago = job.model_copy(update={"created_at": datetime.now(UTC) - timedelta(hours=5)})
    assert service.outcomes.deadline_passed(hours_ago)
    approved = hours_ago.model_copy(update={"approved_at": datetime.now(UTC)})
    assert not service.outcomes.deadline_passed(approved)
    assert 15 < service.outcomes.seconds_left(approved) <= 20


async def test_a_remix_waits_for_a_moderator_like_any_run(
    db: Database, sim: WiroSimulator, gated: Gated
) -> None:
    service, _, reviews = gated
    sim.script_next(TaskScript(generate=0.2))
    first = await service.submit(request(role_ids=frozenset({TRUSTED})), None)
    assert (await wait_terminal(db, first.id)).state is JobState.SUCCEEDED
    remix = await service.remix(first.id, Asker(USER), prompt="again", moves=())
    assert remix.state is JobState.PENDING and remix.remix_of == first.id
    assert [job.id for job, _ in reviews.posted] == [remix.id]
    assert len(sim.runs) == 1  # not sent while it waits
