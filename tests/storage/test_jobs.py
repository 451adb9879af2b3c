"""Jobs: creation, the transition table, updates and the queries the bot runs."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from storage.api import IllegalTransition, JobNotFound
from storage.db import Database
from storage.models import ALLOWED_TRANSITIONS, TERMINAL_STATES, JobState, Stage

from .conftest import CHANNEL, GUILD, T0, USER, Clock, NewJobData, make_job, reservation_args

ALL_PAIRS = list(itertools.product(JobState, JobState))


async def test_create_returns_the_stored_job(db: Database) -> None:
    new = NewJobData(
        prompt="@everyone a cat", has_image=True, image_sha256="ab" * 32,
        image_url="https://cdn.discordapp.com/x.png", credits=2, resolution="1080P",
        expected_cost_usd=0.5,
    )  # fmt: skip
    job = await db.create_job_with_reservation(new, **reservation_args())  # type: ignore[arg-type]
    assert job.id > 0
    assert job == await db.get_job(job.id)
    assert (job.state, job.stage, job.credits, job.resolution) == (
        JobState.PENDING, Stage.SUBMITTING, 2, "1080P",
    )  # fmt: skip
    assert (job.guild_id, job.channel_id, job.user_id) == (GUILD, CHANNEL, USER)
    assert job.created_at == job.updated_at == T0
    assert job.created_at.tzinfo is not None and job.created_at.utcoffset() == timedelta(0)
    ledger = await db.ledger_for_job(job.id)
    assert [(e.kind, e.credits, e.created_at) for e in ledger] == [("reserve", 2, T0)]


async def test_create_validates_before_writing(db: Database) -> None:
    with pytest.raises(ValidationError):
        await db.create_job_with_reservation(
            NewJobData(resolution="4K"),
            **reservation_args(),  # type: ignore[arg-type]
        )
    assert await db.jobs_in_flight() == []


async def test_get_missing_job(db: Database) -> None:
    with pytest.raises(JobNotFound):
        await db.get_job(12345)
    with pytest.raises(JobNotFound):
        await db.transition(12345, JobState.SUBMITTING)
    with pytest.raises(JobNotFound):
        await db.update_job(12345, progress=5)


@pytest.mark.parametrize(
    ("start", "to"), ALL_PAIRS, ids=[f"{a.value}->{b.value}" for a, b in ALL_PAIRS]
)
async def test_transition_matrix(db: Database, clock: Clock, start: JobState, to: JobState) -> None:
    job = await make_job(db, start)
    assert job.state is start
    moved_at = clock.advance(seconds=30)
    if to in ALLOWED_TRANSITIONS[start]:
        after = await db.transition(job.id, to)
        assert after.state is to
        assert after.updated_at == moved_at
        assert (after.finished_at == moved_at) == (to in TERMINAL_STATES)
        if to is JobState.RUNNING:
            assert after.submitted_at == moved_at
        if to in TERMINAL_STATES:
            assert after.stage is Stage.DONE
        assert await db.get_job(job.id) == after
    else:
        with pytest.raises(IllegalTransition) as info:
            await db.transition(job.id, to)
        assert (info.value.job_id, info.value.current, info.value.wanted) == (job.id, start, to)
        assert await db.get_job(job.id) == job  # nothing written


def test_terminal_states_have_no_way_out() -> None:
    for state in TERMINAL_STATES:
        assert ALLOWED_TRANSITIONS[state] == frozenset()
    assert set(ALLOWED_TRANSITIONS) == set(JobState)


async def test_transition_sets_fields_atomically(db: Database, clock: Clock) -> None:
    job = await make_job(db, JobState.SUBMITTING)
    started = clock.advance(seconds=5)
    job = await db.transition(
        job.id, JobState.RUNNING, wiro_task_id="t-1", wiro_task_token="tok", stage=Stage.QUEUED,
        submit_attempts=1, started_at=started,
    )  # fmt: skip
    assert (job.wiro_task_id, job.wiro_task_token, job.stage) == ("t-1", "tok", Stage.QUEUED)
    assert job.started_at == started and job.submit_attempts == 1
    done = await db.transition(
        job.id, JobState.CANCELLED, cancelled_by=42, outcome_reason="cancelled by a moderator"
    )
    assert (done.cancelled_by, done.outcome_reason) == (42, "cancelled by a moderator")
    assert done == await db.get_job(job.id)


async def test_transition_rejects_bad_fields_without_writing(db: Database) -> None:
    job = await make_job(db, JobState.SUBMITTING)
    with pytest.raises(ValueError, match="cannot set job field"):
        await db.transition(job.id, JobState.RUNNING, credits=0)
    with pytest.raises(ValueError, match="cannot set job field"):
        await db.transition(job.id, JobState.RUNNING, wiro_taskid="typo")
    with pytest.raises(ValidationError):
        await db.transition(job.id, JobState.RUNNING, progress="lots")
    assert await db.get_job(job.id) == job


async def test_racing_finishers_from_two_connections_only_one_wins(
    db: Database, db_path: Path
) -> None:
    job = await make_job(db, JobState.RUNNING)
    async with Database(db_path) as other:
        results = await asyncio.gather(
            db.transition(job.id, JobState.CANCELLED),
            other.transition(job.id, JobState.TIMED_OUT),
            return_exceptions=True,
        )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, IllegalTransition)]
    assert len(wins) == 1 and len(losses) == 1
    assert (await db.get_job(job.id)).state is wins[0].state  # type: ignore[union-attr]


async def test_update_job(db: Database, clock: Clock) -> None:
    job = await make_job(db, JobState.RUNNING)
    at = clock.advance(minutes=1)
    updated = await db.update_job(
        job.id, stage=Stage.GENERATING, progress=40, card_message_id=987654321012345678,
        card_posted_at=at, delivery_nonce="n-1",
    )  # fmt: skip
    assert (updated.stage, updated.progress, updated.card_message_id) == (
        Stage.GENERATING, 40, 987654321012345678,
    )  # fmt: skip
    assert updated.card_posted_at == at and updated.updated_at == at
    assert updated.state is JobState.RUNNING
    assert await db.get_job(job.id) == updated
    assert await db.update_job(job.id) == updated  # nothing to change


@pytest.mark.parametrize("field", ["state", "id", "guild_id", "user_id", "credits", "created_at"])
async def test_update_job_refuses_fixed_fields(db: Database, field: str) -> None:
    job = await make_job(db)
    with pytest.raises(ValueError):
        await db.update_job(job.id, **{field: 1})
    assert await db.get_job(job.id) == job


async def test_naive_datetimes_are_refused(db: Database) -> None:
    from datetime import datetime

    job = await make_job(db)
    with pytest.raises(ValueError, match="naive"):
        await db.update_job(job.id, card_posted_at=datetime(2026, 1, 1))


async def test_in_flight_queries(db: Database, clock: Clock) -> None:
    other_guild = GUILD + 1
    old = await make_job(db, JobState.RUNNING, now=T0 - timedelta(hours=2))
    done = await make_job(db, JobState.SUCCEEDED, now=T0 - timedelta(hours=3))
    waiting = await make_job(db, JobState.WAITING, now=T0 - timedelta(hours=1))
    mine_elsewhere = await make_job(db, JobState.DELIVERING, guild_id=other_guild)
    someone = await make_job(db, JobState.PENDING, user_id=USER + 1)

    assert [j.id for j in await db.jobs_in_flight()] == [
        old.id, waiting.id, mine_elsewhere.id, someone.id,
    ]  # fmt: skip
    assert [j.id for j in await db.jobs_in_flight(GUILD)] == [old.id, waiting.id, someone.id]
    assert done.id not in [j.id for j in await db.jobs_in_flight()]
    assert await db.count_in_flight(GUILD) == 3
    assert await db.count_in_flight(GUILD, USER) == 2
    assert await db.count_in_flight(other_guild, USER) == 1
    assert await db.count_in_flight(GUILD + 2) == 0


async def test_jobs_for_user_and_guild(db: Database) -> None:
    ids = [
        (await make_job(db, JobState.SUCCEEDED, now=T0 + timedelta(minutes=i))).id for i in range(5)
    ]
    other = await make_job(db, user_id=USER + 1, now=T0 + timedelta(minutes=10))
    assert [j.id for j in await db.jobs_for_user(GUILD, USER)] == ids[::-1]
    assert [j.id for j in await db.jobs_for_user(GUILD, USER, limit=2)] == ids[:2:-1]
    assert await db.jobs_for_user(GUILD + 1, USER) == []
    assert [j.id for j in await db.jobs_for_guild(GUILD)] == [other.id, *ids[::-1]]
    since = T0 + timedelta(minutes=3)
    assert [j.id for j in await db.jobs_for_guild(GUILD, since=since)] == [
        other.id, ids[4], ids[3],
    ]  # fmt: skip
    assert len(await db.jobs_for_guild(GUILD, limit=3)) == 3


async def test_medians(db: Database, clock: Clock) -> None:
    assert await db.median_duration_seconds("768P", 6) is None
    assert await db.median_cost_usd("768P", 6) is None
    for minutes, cost in [(2, 0.2), (4, 0.3), (9, 0.9)]:
        job = await make_job(db, JobState.DELIVERING)
        await db.transition(
            job.id, JobState.SUCCEEDED, finished_at=T0 + timedelta(minutes=minutes),
            total_cost_usd=cost,
        )  # fmt: skip
    # Ignored: other settings, failed jobs, another guild for the per-guild median.
    failed = await make_job(db, JobState.RUNNING)
    await db.transition(failed.id, JobState.FAILED, total_cost_usd=5.0)
    other = await make_job(db, JobState.DELIVERING, duration=10, credits=2)
    await db.transition(other.id, JobState.SUCCEEDED, total_cost_usd=7.0)
    elsewhere = await make_job(db, JobState.DELIVERING, guild_id=GUILD + 1)
    await db.transition(
        elsewhere.id, JobState.SUCCEEDED, finished_at=T0 + timedelta(minutes=60),
        total_cost_usd=0.3,
    )  # fmt: skip

    assert await db.median_duration_seconds("768P", 6, guild_id=GUILD) == 240.0
    assert await db.median_duration_seconds("768P", 6) == (240.0 + 540.0) / 2
    assert await db.median_cost_usd("768P", 6) == pytest.approx(0.3)
    assert await db.median_cost_usd("768P", 10) == pytest.approx(7.0)
    assert await db.median_cost_usd("1080P", 6) is None


async def test_medians_use_the_latest_200(db: Database) -> None:
    for i in range(205):
        job = await make_job(db, JobState.DELIVERING)
        cost = 100.0 if i < 5 else 1.0  # the five oldest are outliers that must drop out
        await db.transition(
            job.id, JobState.SUCCEEDED, finished_at=T0 + timedelta(seconds=i),
            total_cost_usd=cost,
        )  # fmt: skip
    assert await db.median_cost_usd("768P", 6) == 1.0


# --- whether each card shows its job's latest state -------------------------------------------
async def test_every_state_change_marks_the_card_in_the_same_write(db: Database) -> None:
    job = await make_job(db)
    assert job.card_pending == 0
    await db.update_job(job.id, card_message_id=55)  # not a change the card must show
    assert (await db.get_job(job.id)).card_pending == 0
    moved = await db.transition(job.id, JobState.SUBMITTING)
    assert moved.card_pending == 1 == (await db.get_job(job.id)).card_pending
    with pytest.raises(ValueError, match="card_pending"):
        await db.update_job(job.id, card_pending=0)


async def test_a_card_edit_clears_the_mark_only_if_nothing_changed_since_it_read_the_job(
    db: Database,
) -> None:
    job = await make_job(db)
    await db.update_job(job.id, card_message_id=55)
    await db.transition(job.id, JobState.SUBMITTING)
    read_by_the_edit = await db.get_job(job.id)
    await db.transition(job.id, JobState.RUNNING)  # lands while the edit is on its way
    assert not await db.card_shown(job.id, read_by_the_edit.card_pending)
    assert [j.id for j in await db.stale_cards(T0 - timedelta(hours=1))] == [job.id]
    await db.request_card(job.id)
    latest = await db.get_job(job.id)
    assert latest.card_pending == 3
    assert await db.card_shown(job.id, latest.card_pending)
    assert await db.stale_cards(T0 - timedelta(hours=1)) == []
    assert not await db.card_shown(job.id, 0)  # nothing to clear


async def test_stale_cards_are_posted_cards_changed_in_the_window_and_old_ones_are_given_up(
    db: Database, clock: Clock
) -> None:
    never_posted = await make_job(db, JobState.FAILED)  # marked, but it has no card
    old = await make_job(db)
    await db.update_job(old.id, card_message_id=1)
    await db.transition(old.id, JobState.CANCELLED)
    clock.advance(hours=30)
    recent = await make_job(db, now=clock())
    await db.update_job(recent.id, card_message_id=2)
    await db.transition(recent.id, JobState.FAILED)
    window = clock() - timedelta(hours=24)
    assert [j.id for j in await db.stale_cards(window)] == [recent.id]
    assert await db.forget_stale_cards(window) == 2  # `old` and `never_posted`
    assert (await db.get_job(never_posted.id)).card_pending == 0
    assert [j.id for j in await db.stale_cards(T0 - timedelta(days=9))] == [recent.id]
