"""The approval table group on a real SQLite file: settings, one decision per request (also
across processes), expiry queries, usage counts and remembered budget alerts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from storage.approvals import ApprovalStatus
from storage.db import Database
from storage.models import JobState
from tests.approval.conftest import GUILD, MOD, MOD2, REVIEW, TRUSTED, USER, held_job
from tests.factories import Clock


async def test_settings_round_trip_and_off_keeps_the_channel(db: Database, clock: Clock) -> None:
    assert await db.approval_settings(GUILD) is None
    await db.set_approval(GUILD, enabled=True, review_channel_id=REVIEW,
                          trusted_role_id=TRUSTED, actor_id=MOD, detail="approval on")  # fmt: skip
    on = await db.approval_settings(GUILD)
    assert on is not None and on.enabled and on.review_channel_id == REVIEW
    assert on.trusted_role_id == TRUSTED and on.set_by == MOD
    await db.set_approval(GUILD, enabled=False, review_channel_id=None, trusted_role_id=None,
                          actor_id=MOD2, detail="approval off")  # fmt: skip
    off = await db.approval_settings(GUILD)
    assert off is not None and not off.enabled and off.review_channel_id == REVIEW
    log = await db.audit_log(GUILD)
    assert [(e.action, e.actor_id) for e in log] == [("approval.off", MOD2), ("approval.on", MOD)]


async def test_exactly_one_decision_wins(db: Database, clock: Clock) -> None:
    job = await held_job(db, clock)
    results = await asyncio.gather(
        db.decide_approval(job.id, ApprovalStatus.APPROVED, actor_id=MOD, reason=None, now=clock()),
        db.decide_approval(job.id, ApprovalStatus.DENIED, actor_id=MOD2, reason="no", now=clock()),
    )
    assert [won for won, _ in results] == [True, False]
    final = await db.approval(job.id)
    assert final is not None and final.status is ApprovalStatus.APPROVED
    assert final.decided_by == MOD and final.decided_at == clock()
    assert (await db.get_job(job.id)).approved_at == clock()  # the run deadline counts from here


async def test_two_processes_clicking_at_once_make_one_decision(
    tmp_path: Path, clock: Clock
) -> None:
    """Two connections (as two bot processes on one file) race; the UPDATE decides once."""
    path = tmp_path / "shared.sqlite3"
    async with Database(path, clock=clock) as first, Database(path, clock=clock) as second:
        a, b = first, second
        jobs = [await held_job(first, clock) for _ in range(20)]
        for job in jobs:
            outcomes = await asyncio.gather(
                a.decide_approval(
                    job.id, ApprovalStatus.APPROVED, actor_id=MOD, reason=None, now=clock()
                ),
                b.decide_approval(
                    job.id, ApprovalStatus.DENIED, actor_id=MOD2, reason="x", now=clock()
                ),
            )
            assert sorted(won for won, _ in outcomes) == [False, True]
            winner = next(row for won, row in outcomes if won)
            loser = next(row for won, row in outcomes if not won)
            assert winner is not None and loser is not None
            assert loser.status is winner.status  # the late click reads the winning decision


async def test_a_decided_request_never_changes_again(db: Database, clock: Clock) -> None:
    job = await held_job(db, clock)
    won, _ = await db.decide_approval(job.id, ApprovalStatus.EXPIRED, actor_id=None, reason=None,
                                now=clock())  # fmt: skip
    assert won
    won, row = await db.decide_approval(job.id, ApprovalStatus.APPROVED, actor_id=MOD, reason=None,
                                  now=clock())  # fmt: skip
    assert not won and row is not None and row.status is ApprovalStatus.EXPIRED
    assert (await db.get_job(job.id)).approved_at is None


async def test_due_and_next_expiry(db: Database, clock: Clock) -> None:
    first = await held_job(db, clock)
    clock.advance(hours=1)
    second = await held_job(db, clock)
    assert await db.next_approval_expiry() == first.created_at + timedelta(hours=24)
    assert await db.approvals_due(clock()) == []
    clock.advance(hours=23)  # the first one's 24 hours are up, not the second's
    assert [a.job_id for a in await db.approvals_due(clock())] == [first.id]
    clock.advance(hours=1)
    assert [a.job_id for a in await db.approvals_due(clock())] == [first.id, second.id]


async def test_waiting_lists_only_requests_whose_job_still_waits(
    db: Database, clock: Clock
) -> None:
    kept = await held_job(db, clock)
    ended = await held_job(db, clock)
    await db.transition(ended.id, JobState.FAILED, settle="refund")  # card could not be posted
    assert [a.job_id for a in await db.waiting_approvals(GUILD)] == [kept.id]
    assert [a.job_id for a in await db.unsettled_approvals()] == [ended.id]


async def test_usage_counts_denied_and_expired_per_member(db: Database, clock: Clock) -> None:
    other = USER + 1
    for status in (ApprovalStatus.DENIED, ApprovalStatus.DENIED, ApprovalStatus.EXPIRED,
                   ApprovalStatus.APPROVED, ApprovalStatus.CANCELLED):  # fmt: skip
        job = await held_job(db, clock)
        await db.decide_approval(job.id, status, actor_id=MOD, reason=None, now=clock())
    await held_job(db, clock)  # still waiting
    job = await held_job(db, clock, user=other)
    await db.decide_approval(
        job.id, ApprovalStatus.EXPIRED, actor_id=None, reason=None, now=clock()
    )
    since = clock() - timedelta(days=1)
    rows = {r.user_id: (r.jobs, r.denied, r.expired) for r in await db.usage(GUILD, since)}
    assert rows == {USER: (6, 2, 1), other: (1, 0, 1)}
    [mine] = await db.usage(GUILD, since, other)
    assert (mine.denied, mine.expired) == (0, 1)


async def test_budget_alert_is_claimed_once_per_month(db: Database, clock: Clock) -> None:
    assert await db.claim_budget_alert(GUILD, "2026-11", 80, clock())
    assert not await db.claim_budget_alert(GUILD, "2026-11", 80, clock())
    assert await db.claim_budget_alert(GUILD, "2026-12", 80, clock())  # a new month
    assert await db.claim_budget_alert(GUILD + 1, "2026-11", 80, clock())  # another server
    assert await db.budget_alerts_announced(GUILD, "2026-11") == {80}
    await db.release_budget_alert(GUILD, "2026-11", 80)
    assert await db.budget_alerts_announced(GUILD, "2026-11") == set()
