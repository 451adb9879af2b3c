"""The credit ledger: reservations, charges, refunds and the totals built from them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.api import JobNotFound
from storage.db import Database
from storage.models import JobState

from .conftest import GUILD, T0, USER, Clock, make_job

DAY_START, DAY_END = T0.replace(hour=0), T0.replace(hour=0) + timedelta(days=1)


async def kinds(db: Database, job_id: int) -> list[tuple[str, int]]:
    return [(e.kind, e.credits) for e in await db.ledger_for_job(job_id)]


async def test_charge_is_idempotent_and_records_totalcost(db: Database) -> None:
    job = await make_job(db, JobState.DELIVERING, credits=2)
    assert await db.charge(job.id, total_cost_usd=0.42) is True
    assert await db.charge(job.id, total_cost_usd=9.99) is False
    assert (await db.get_job(job.id)).total_cost_usd == pytest.approx(0.42)
    assert await kinds(db, job.id) == [("reserve", 2), ("charge", 2)]
    # A charge confirms the reservation: it is not counted a second time.
    assert await db.credits_used(GUILD, USER, DAY_START, DAY_END) == 2


async def test_refund_is_idempotent(db: Database) -> None:
    job = await make_job(db, JobState.FAILED, credits=2)
    assert await db.refund(job.id, "Wiro rejected the run") is True
    assert await db.refund(job.id, "again") is False
    entries = await db.ledger_for_job(job.id)
    assert [(e.kind, e.credits, e.note) for e in entries] == [
        ("reserve", 2, None), ("refund", -2, "Wiro rejected the run"),
    ]  # fmt: skip
    assert await db.credits_used(GUILD, USER, DAY_START, DAY_END) == 0


async def test_refund_after_charge_is_allowed_once(db: Database) -> None:
    job = await make_job(db, JobState.SUCCEEDED)
    assert await db.charge(job.id, total_cost_usd=0.3)
    assert await db.refund(job.id, "moderator refund") is True
    assert await db.refund(job.id) is False
    assert await kinds(db, job.id) == [("reserve", 1), ("charge", 1), ("refund", -1)]
    assert await db.credits_used(GUILD, USER, DAY_START, DAY_END) == 0


async def test_charge_after_refund_changes_nothing(db: Database) -> None:
    job = await make_job(db, JobState.CANCELLED)
    assert await db.refund(job.id)
    assert await db.charge(job.id, total_cost_usd=0.3) is False
    assert await kinds(db, job.id) == [("reserve", 1), ("refund", -1)]
    assert (await db.get_job(job.id)).total_cost_usd is None


async def test_ledger_calls_on_a_missing_job(db: Database) -> None:
    with pytest.raises(JobNotFound):
        await db.charge(999)
    with pytest.raises(JobNotFound):
        await db.refund(999)
    assert await db.ledger_for_job(999) == []


async def test_charge_refuses_a_nonsense_cost(db: Database) -> None:
    job = await make_job(db, JobState.DELIVERING)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            await db.charge(job.id, total_cost_usd=bad)
    assert await kinds(db, job.id) == [("reserve", 1)]


async def test_credits_used_counts_reservations_made_in_the_window(db: Database) -> None:
    await make_job(db, now=DAY_START - timedelta(microseconds=1))  # yesterday
    first = await make_job(db, now=DAY_START, credits=2)  # start is inclusive
    await make_job(db, now=DAY_END - timedelta(microseconds=1), credits=1)
    await make_job(db, now=DAY_END)  # end is exclusive
    await make_job(db, user_id=USER + 1)  # someone else
    await make_job(db, guild_id=GUILD + 1)  # another server
    assert await db.credits_used(GUILD, USER, DAY_START, DAY_END) == 3
    # A refund made later still gives back credits of the window the reservation was in.
    await db.refund(first.id)
    assert await db.credits_used(GUILD, USER, DAY_START, DAY_END) == 1
    assert await db.credits_used(GUILD, USER, DAY_END, DAY_END + timedelta(days=1)) == 1


async def test_spent_and_in_flight_usd(db: Database, clock: Clock) -> None:
    month_start, month_end = T0.replace(day=1, hour=0), T0.replace(month=12, day=1, hour=0)
    done = await make_job(db, JobState.DELIVERING)
    await db.charge(done.id, total_cost_usd=0.5)
    await db.transition(done.id, JobState.SUCCEEDED)
    last_month = await make_job(db, JobState.DELIVERING)
    await db.transition(
        last_month.id, JobState.SUCCEEDED, finished_at=month_start - timedelta(seconds=1),
        total_cost_usd=3.0,
    )  # fmt: skip
    await make_job(db, JobState.RUNNING, expected_cost_usd=0.25)
    await make_job(db, JobState.PENDING, expected_cost_usd=None)
    delivering = await make_job(db, JobState.DELIVERING, expected_cost_usd=0.25)
    await db.charge(delivering.id, total_cost_usd=0.4)  # known cost replaces the estimate
    await make_job(db, JobState.RUNNING, expected_cost_usd=7.0, guild_id=GUILD + 1)

    assert await db.spent_usd(GUILD, month_start, month_end) == pytest.approx(0.5)
    assert await db.spent_usd(GUILD, month_start - timedelta(days=30), month_start) == 3.0
    assert await db.in_flight_expected_usd(GUILD) == pytest.approx(0.25 + 0.4)
    assert await db.in_flight_expected_usd(GUILD + 2) == 0.0


async def test_usage_totals_per_member(db: Database) -> None:
    alice, bob, carol = USER, USER + 1, USER + 2
    for _ in range(3):
        job = await make_job(db, JobState.DELIVERING, user_id=alice)
        await db.charge(job.id, total_cost_usd=0.3)
        await db.transition(job.id, JobState.SUCCEEDED)
    failed = await make_job(db, JobState.RUNNING, user_id=alice, credits=2)
    await db.transition(failed.id, JobState.FAILED)
    await db.refund(failed.id)
    big = await make_job(db, JobState.DELIVERING, user_id=bob, credits=2, resolution="1080P")
    await db.charge(big.id, total_cost_usd=0.6)
    await db.transition(big.id, JobState.SUCCEEDED)
    await make_job(db, JobState.RUNNING, user_id=bob, credits=2, duration=10)
    await make_job(db, user_id=carol, now=T0 - timedelta(days=40))  # before `since`
    await make_job(db, user_id=carol, guild_id=GUILD + 1)  # another server

    rows = await db.usage(GUILD, since=T0 - timedelta(days=30))
    assert [(r.user_id, r.jobs, r.succeeded, r.credits) for r in rows] == [
        (bob, 2, 1, 4), (alice, 4, 3, 3),
    ]  # fmt: skip
    assert rows[0].usd == pytest.approx(0.6) and rows[1].usd == pytest.approx(0.9)
    only = await db.usage(GUILD, since=T0 - timedelta(days=30), user_id=alice)
    assert [r.user_id for r in only] == [alice]
    assert await db.usage(GUILD, since=T0 + timedelta(days=1)) == []


async def test_a_terminal_transition_settles_in_the_same_transaction(db: Database) -> None:
    done = await make_job(db, JobState.DELIVERING, credits=2)
    await db.transition(done.id, JobState.SUCCEEDED, settle="charge")
    assert await kinds(db, done.id) == [("reserve", 2), ("charge", 2)]

    failed = await make_job(db, JobState.RUNNING, credits=1)
    await db.transition(failed.id, JobState.FAILED, settle="refund", settle_note="failed")
    assert await kinds(db, failed.id) == [("reserve", 1), ("refund", -1)]


async def test_an_illegal_transition_settles_nothing(db: Database) -> None:
    from storage.api import IllegalTransition

    job = await make_job(db, JobState.CANCELLED, credits=1)
    before = await kinds(db, job.id)
    with pytest.raises(IllegalTransition):
        await db.transition(job.id, JobState.SUCCEEDED, settle="charge")
    assert await kinds(db, job.id) == before
