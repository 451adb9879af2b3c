"""The approval service against a real database: holding, approving, denying, cancelling,
expiring with an injected clock, recovering after a restart, and budget alerts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot import i18n
from bot.governance.approval import CANCELLED_WHILE_WAITING, AlreadyDecided, ApprovalService
from bot.governance.budget_alerts import BudgetAlerts
from bot.jobs.contracts import Refused
from cogs.words import budget_alert_line, refused_words, what_happened
from storage.approvals import ApprovalStatus
from storage.db import Database
from storage.models import Job, JobState, NewJob
from tests.approval.conftest import (
    GUILD,
    MOD,
    MOD2,
    MODROLE,
    REVIEW,
    TRUSTED,
    USER,
    LedgerJobs,
    RecordingReviews,
    held_job,
    hold_job,
)
from tests.factories import Clock, reserve_and_walk


async def turn_on(db: Database) -> None:
    await db.set_approval(GUILD, enabled=True, review_channel_id=REVIEW,
                          trusted_role_id=TRUSTED, actor_id=MOD, detail="on")  # fmt: skip


async def refunded(db: Database, job: Job) -> bool:
    return any(e.kind == "refund" for e in await db.ledger_for_job(job.id))


async def test_hold_for_follows_the_servers_rule(
    db: Database, service: ApprovalService, clock: Clock
) -> None:
    assert await service.hold_for(GUILD, USER, role_ids=set(), manage_guild=False) is None
    await turn_on(db)
    hold = await service.hold_for(GUILD, USER, role_ids={1}, manage_guild=False)
    assert hold is not None and hold.review_channel_id == REVIEW
    assert hold.expires_at == clock() + timedelta(hours=24)
    assert await service.hold_for(GUILD, USER, role_ids={TRUSTED}, manage_guild=False) is None
    assert await service.hold_for(GUILD, USER, role_ids=set(), manage_guild=True) is None
    await db.set_mod_role(GUILD, MODROLE, MOD)
    assert await service.hold_for(GUILD, USER, role_ids={MODROLE}, manage_guild=False) is None
    # An entry point that did not pass manage_guild: the bot's view of the server decides.
    service.manages_guild = lambda guild, user, roles: (guild, user, roles) == (GUILD, MOD, {7})
    assert await service.hold_for(GUILD, MOD, role_ids={7}, manage_guild=False) is None
    assert await service.hold_for(GUILD, USER, role_ids={7}, manage_guild=False) is not None


async def test_open_review_posts_once_and_remembers_the_message(
    db: Database, service: ApprovalService, reviews: RecordingReviews,
    clock: Clock,
) -> None:  # fmt: skip
    job = await held_job(db, clock)
    assert await service.holds(job.id)
    await service.open_review(job)
    [(posted, approval)] = reviews.posted
    assert posted.id == job.id and approval.status is ApprovalStatus.WAITING
    stored = await db.approval(job.id)
    assert stored is not None and stored.review_message_id == 700_000 + job.id


async def test_unpostable_review_refunds_and_tells_the_member(
    db: Database, service: ApprovalService, reviews: RecordingReviews,
    clock: Clock,
) -> None:  # fmt: skip
    reviews.fail_post = True
    job = await held_job(db, clock)
    with pytest.raises(Refused, match="review channel"):
        await service.open_review(job)
    ended = await db.get_job(job.id)
    assert ended.state is JobState.CANCELLED and await refunded(db, job)
    assert (await db.audit_log(GUILD))[0].action == "approval.unreachable"


async def test_approve_releases_the_job_once(
    db: Database, service: ApprovalService, jobs: LedgerJobs,
    reviews: RecordingReviews, clock: Clock,
) -> None:  # fmt: skip
    job = await held_job(db, clock)
    await service.open_review(job)
    clock.advance(minutes=5)
    answer = await service.approve(job.id, MOD, GUILD)
    assert "Approved" in str(answer)
    assert jobs.released == [job.id]
    assert not await service.holds(job.id)
    assert (await db.get_job(job.id)).approved_at == clock()
    [(_, shown)] = reviews.updates
    assert shown.status is ApprovalStatus.APPROVED and shown.decided_by == MOD
    [(guild, line)] = reviews.lines
    assert guild == GUILD and f"<@{MOD}>" in line and "5 min" in line
    with pytest.raises(AlreadyDecided) as late:
        await service.approve(job.id, MOD2, GUILD)
    assert refused_words(late.value) == f"Job {job.id} was already approved by <@{MOD}>."
    with pytest.raises(AlreadyDecided) as later:
        await service.deny(job.id, MOD2, GUILD, "changed my mind")
    assert "already approved" in refused_words(later.value)
    assert jobs.released == [job.id]
    assert [e.action for e in await db.audit_log(GUILD)] == ["approval.approve"]


async def test_two_moderators_at_once_make_one_decision(
    db: Database, service: ApprovalService, jobs: LedgerJobs, clock: Clock
) -> None:
    job = await held_job(db, clock)
    await service.open_review(job)
    results = await asyncio.gather(
        service.approve(job.id, MOD, GUILD),
        service.deny(job.id, MOD2, GUILD, "no"),
        service.approve(job.id, MOD2, GUILD),
        return_exceptions=True,
    )
    assert sum(isinstance(r, i18n.Text) for r in results) == 1
    assert all(isinstance(r, Refused) for r in results if not isinstance(r, i18n.Text))
    approval = await db.approval(job.id)
    assert approval is not None
    if approval.status is ApprovalStatus.APPROVED:
        assert jobs.released == [job.id] and (await db.get_job(job.id)).state is JobState.PENDING
    else:
        assert jobs.released == [] and await refunded(db, job)


async def test_deny_refunds_and_the_card_reason_is_the_moderators(
    db: Database, service: ApprovalService, jobs: LedgerJobs,
    reviews: RecordingReviews, clock: Clock,
) -> None:  # fmt: skip
    job = await held_job(db, clock, credits=2)
    await service.open_review(job)
    used_before = await db.credits_used(GUILD, USER, clock() - timedelta(days=1),
                                        clock() + timedelta(days=1))  # fmt: skip
    assert used_before == 2
    await service.deny(job.id, MOD, GUILD, "  not for this server ")
    ended = await db.get_job(job.id)
    assert ended.state is JobState.CANCELLED and ended.cancelled_by == MOD
    assert ended.outcome_reason == "A moderator denied this request: not for this server"
    assert await db.credits_used(GUILD, USER, clock() - timedelta(days=1),
                                 clock() + timedelta(days=1)) == 0  # fmt: skip
    assert jobs.released == []
    [(_, shown)] = reviews.updates
    assert shown.status is ApprovalStatus.DENIED and shown.reason == "not for this server"
    assert (await db.audit_log(GUILD))[0].detail == f"job {job.id}: not for this server"
    with pytest.raises(Refused, match="reason"):  # an empty reason changes nothing
        await service.deny((await held_job(db, clock)).id, MOD, GUILD, "   ")


async def test_decisions_only_for_this_servers_requests(
    db: Database, service: ApprovalService, clock: Clock
) -> None:
    job = await held_job(db, clock)
    with pytest.raises(Refused, match="not waiting for approval in this server"):
        await service.approve(job.id, MOD, GUILD + 1)
    plain = await reserve_and_walk(
        db, NewJob(guild_id=GUILD, channel_id=1, user_id=USER, prompt="x"), now=clock()
    )
    with pytest.raises(Refused, match="not waiting"):
        await service.deny(plain.id, MOD, GUILD, "no")
    assert not await service.holds(plain.id)


async def test_member_cancels_while_waiting(
    db: Database, service: ApprovalService, reviews: RecordingReviews,
    clock: Clock,
) -> None:  # fmt: skip
    job = await held_job(db, clock)
    await service.open_review(job)
    assert "cancelled" in (await service.cancel_waiting(job.id, USER) or "")
    ended = await db.get_job(job.id)
    assert ended.state is JobState.CANCELLED and await refunded(db, job)
    # The service records who; the card and the audit line name them.
    assert (ended.cancelled_by, ended.outcome_reason) == (USER, CANCELLED_WHILE_WAITING)
    assert what_happened(ended) == f"Cancelled by <@{USER}> while waiting for a moderator."
    assert reviews.updates[-1][1].status is ApprovalStatus.CANCELLED
    assert await service.cancel_waiting(job.id, USER) is None  # nothing waits any more
    with pytest.raises(Refused, match="cancelled"):
        await service.approve(job.id, MOD, GUILD)


async def test_expiry_with_an_injected_clock(
    db: Database, service: ApprovalService, jobs: LedgerJobs, clock: Clock
) -> None:
    old = await held_job(db, clock)
    await service.open_review(old)
    clock.advance(hours=23, minutes=59)
    young = await held_job(db, clock)
    await service.open_review(young)
    assert await service.sweep() == 0  # not yet: nothing changes before its time
    assert (await db.get_job(old.id)).state is JobState.PENDING
    clock.advance(minutes=1)
    assert await service.sweep() == 1
    ended = await db.get_job(old.id)
    assert ended.state is JobState.CANCELLED and await refunded(db, old)
    assert "within 24 hours" in (ended.outcome_reason or "")
    assert (await db.get_job(young.id)).state is JobState.PENDING
    assert await service.sweep() == 0  # expired once only
    assert [e.actor_id for e in await db.audit_log(GUILD) if e.action == "approval.expire"] == [999]
    assert jobs.released == []


async def test_fractional_expiry(db: Database, jobs: LedgerJobs, clock: Clock) -> None:
    service = ApprovalService(storage=db, jobs=jobs, presenter=RecordingReviews(),
                              expiry=timedelta(hours=0.5), clock=clock)  # fmt: skip
    await turn_on(db)
    hold = await service.hold_for(GUILD, USER, role_ids=set(), manage_guild=False)
    assert hold is not None and hold.expires_at == clock() + timedelta(minutes=30)


async def test_recover_applies_a_decision_a_restart_interrupted(
    db: Database, service: ApprovalService, clock: Clock
) -> None:
    denied = await held_job(db, clock)
    # The process died between recording the denial and refunding the job.
    await db.decide_approval(
        denied.id, ApprovalStatus.DENIED, actor_id=MOD, reason="nope", now=clock()
    )
    orphan = await held_job(db, clock)
    await db.transition(orphan.id, JobState.FAILED, settle="refund")  # its card never posted
    waiting = await held_job(db, clock)
    assert await service.holds(denied.id)  # never runs, even before recovery
    assert await service.recover() == 2
    job = await db.get_job(denied.id)
    assert job.state is JobState.CANCELLED and await refunded(db, denied)
    assert job.outcome_reason == "A moderator denied this request: nope"
    closed = await db.approval(orphan.id)
    assert closed is not None and closed.status is ApprovalStatus.CANCELLED
    assert (await db.get_job(waiting.id)).state is JobState.PENDING  # still waits
    assert await service.recover() == 0


async def test_expiry_loop_wakes_for_the_next_expiry(
    db: Database, jobs: LedgerJobs, clock: Clock
) -> None:
    """The loop sleeps until the next expiry (here: a 0.2 s window on the real clock)."""
    from datetime import UTC, datetime

    service = ApprovalService(storage=db, jobs=jobs, presenter=RecordingReviews(),
                              expiry=timedelta(seconds=0.2),
                              clock=lambda: datetime.now(UTC))  # fmt: skip
    now = datetime.now(UTC)
    job = await hold_job(db, now, now + timedelta(seconds=0.2))
    task = asyncio.create_task(service.run_expiry())
    try:
        for _ in range(200):  # bounded: up to 10 s on a loaded machine
            if (await db.get_job(job.id)).state is JobState.CANCELLED:
                break
            await asyncio.sleep(0.05)
        assert (await db.get_job(job.id)).state is JobState.CANCELLED
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ------------------------------------------------------------------------------------------------
# Budget alerts
# ------------------------------------------------------------------------------------------------
async def spend(db: Database, clock: Clock, usd: float) -> None:
    """A finished job that cost `usd` this month."""
    job = await reserve_and_walk(
        db, NewJob(guild_id=GUILD, channel_id=1, user_id=USER, prompt="x"), now=clock()
    )
    for state in (JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING):
        job = await db.transition(job.id, state)
    await db.transition(job.id, JobState.SUCCEEDED, settle="charge", total_cost_usd=usd)


async def test_budget_alerts_once_each_per_month(db: Database, clock: Clock) -> None:
    posted: list[tuple[int, str]] = []

    async def post(guild_id: int, text: str) -> bool:
        posted.append((guild_id, text))
        return True

    alerts = BudgetAlerts(storage=db, post=post, words=budget_alert_line, clock=clock)
    assert await alerts.check(GUILD) is None  # no budget
    await db.set_budget(GUILD, 10.0, MOD)
    await spend(db, clock, 7.0)
    assert await alerts.check(GUILD) is None
    await spend(db, clock, 1.5)  # 85 %
    assert "80 %" in (await alerts.check(GUILD) or "")
    await spend(db, clock, 0.5)  # 90 %: already announced
    assert await alerts.check(GUILD) is None
    await spend(db, clock, 1.0)  # 100 %
    assert "reached" in (await alerts.check(GUILD) or "")
    assert await alerts.check(GUILD) is None
    assert len(posted) == 2
    clock.now = clock.now.replace(month=12, day=2)  # a new month starts from zero
    await spend(db, clock, 9.0)
    assert "80 %" in (await alerts.check(GUILD) or "")
    assert len(posted) == 3


async def test_budget_jump_past_both_thresholds_is_one_line(db: Database, clock: Clock) -> None:
    posted: list[str] = []

    async def post(guild_id: int, text: str) -> bool:
        posted.append(text)
        return True

    alerts = BudgetAlerts(storage=db, post=post, words=budget_alert_line, clock=clock)
    await db.set_budget(GUILD, 1.0, MOD)
    await spend(db, clock, 1.2)
    await alerts.check(GUILD)
    await alerts.check(GUILD)
    assert len(posted) == 1 and "reached" in posted[0]


async def test_budget_alert_without_audit_channel_goes_to_the_moderators_log(
    db: Database, clock: Clock
) -> None:
    async def no_channel(guild_id: int, text: str) -> bool:
        return False

    alerts = BudgetAlerts(
        storage=db, post=no_channel, words=budget_alert_line, clock=clock, system_actor=lambda: 999
    )
    await db.set_budget(GUILD, 10.0, MOD)
    await spend(db, clock, 8.0)
    line = await alerts.check(GUILD)
    entry = (await db.audit_log(GUILD))[0]
    assert (entry.action, entry.actor_id, entry.detail) == ("budget.alert", 999, line)


async def test_budget_alert_that_could_not_be_posted_is_tried_again(
    db: Database, clock: Clock
) -> None:
    calls: list[str] = []

    async def flaky(guild_id: int, text: str) -> bool:
        calls.append(text)
        if len(calls) == 1:
            raise ConnectionError("Discord is down")
        return True

    alerts = BudgetAlerts(storage=db, post=flaky, words=budget_alert_line, clock=clock)
    await db.set_budget(GUILD, 10.0, MOD)
    await spend(db, clock, 8.0)
    assert await alerts.check(GUILD) is None
    assert await alerts.check(GUILD) is not None
    assert await alerts.check(GUILD) is None
    assert len(calls) == 2
