"""create_job_with_reservation: every refusal, and the race it exists to win."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from storage.api import FollowUpInFlight, ReservationRefused
from storage.db import Database
from storage.models import FollowUp, JobState

from .conftest import GUILD, T0, USER, Clock, NewJobData, make_job, reservation_args

REPO = Path(__file__).resolve().parents[2]


async def reserve(db: Database, new: NewJobData | None = None, **policy: object):  # type: ignore[no-untyped-def]
    return await db.create_job_with_reservation(new or NewJobData(), **reservation_args(**policy))  # type: ignore[arg-type]


async def assert_nothing_written(db: Database, jobs_before: int) -> None:
    assert len(await db.jobs_for_guild(GUILD)) == jobs_before


async def test_credits_refused_with_used_limit_and_reset(db: Database) -> None:
    await reserve(db, NewJobData(credits=2), credits=3, period="week")
    with pytest.raises(ReservationRefused) as info:
        await reserve(db, NewJobData(credits=2), credits=3, period="week")
    err = info.value.refusal
    assert (err.what, err.used, err.limit, err.needs) == ("credits", 2, 3, 2)
    assert err.resets_at == T0.replace(day=30, hour=0)  # next Monday, 2026-11-30
    await assert_nothing_written(db, 1)
    # Exactly filling the limit is fine.
    await reserve(db, NewJobData(credits=1), credits=3, period="week")


async def test_refund_gives_credits_back_for_the_next_run(db: Database) -> None:
    job = await reserve(db, credits=1)
    with pytest.raises(ReservationRefused):
        await reserve(db, credits=1)
    await db.transition(job.id, JobState.FAILED)
    assert await db.refund(job.id)
    await reserve(db, credits=1)


async def test_zero_credits_means_no_access(db: Database) -> None:
    with pytest.raises(ReservationRefused) as info:
        await reserve(db, credits=0)
    assert info.value.refusal.what == "no_access"
    await assert_nothing_written(db, 0)


async def test_member_concurrency(db: Database) -> None:
    first = await reserve(db, max_jobs_per_user=2)
    await reserve(db, max_jobs_per_user=2)
    with pytest.raises(ReservationRefused) as info:
        await reserve(db, max_jobs_per_user=2)
    refusal = info.value.refusal
    assert (refusal.what, refusal.used, refusal.limit) == ("user_concurrency", 2, 2)
    await assert_nothing_written(db, 2)
    # Someone else may still start one; and a finished job frees the slot.
    await reserve(db, NewJobData(user_id=USER + 1), max_jobs_per_user=2)
    await db.transition(first.id, JobState.CANCELLED)
    await reserve(db, max_jobs_per_user=2)


async def test_guild_concurrency(db: Database) -> None:
    for i in range(3):
        await reserve(db, NewJobData(user_id=USER + i), max_jobs_per_guild=3)
    with pytest.raises(ReservationRefused) as info:
        await reserve(db, NewJobData(user_id=USER + 9), max_jobs_per_guild=3)
    refusal = info.value.refusal
    assert (refusal.what, refusal.used, refusal.limit) == ("guild_concurrency", 3, 3)
    await assert_nothing_written(db, 3)
    await reserve(db, NewJobData(guild_id=GUILD + 1), max_jobs_per_guild=3)  # other server


async def test_budget_counts_spent_in_flight_and_this_run(db: Database) -> None:
    done = await make_job(db, JobState.DELIVERING)
    await db.charge(done.id, total_cost_usd=0.6)
    await db.transition(done.id, JobState.SUCCEEDED)
    await reserve(db, NewJobData(expected_cost_usd=0.25), monthly_budget_usd=1.0)  # 0.85
    with pytest.raises(ReservationRefused) as info:
        await reserve(db, NewJobData(expected_cost_usd=0.25), monthly_budget_usd=1.0)
    err = info.value.refusal
    assert err.what == "budget" and err.needs == 0.25
    assert err.used == pytest.approx(0.85) and err.limit == 1.0
    assert err.resets_at == T0.replace(month=12, day=1, hour=0)
    await assert_nothing_written(db, 2)
    await reserve(db, NewJobData(expected_cost_usd=0.15), monthly_budget_usd=1.0)  # exactly 1.0
    # No budget: anything goes.
    await reserve(db, NewJobData(expected_cost_usd=50.0), monthly_budget_usd=None)


async def test_budget_with_unknown_cost(db: Database) -> None:
    # Unknown cost passes while money is left, and is refused once the budget is used up.
    await reserve(db, NewJobData(expected_cost_usd=None), monthly_budget_usd=0.5)
    await reserve(db, NewJobData(expected_cost_usd=0.5), monthly_budget_usd=0.5)
    with pytest.raises(ReservationRefused) as info:
        await reserve(db, NewJobData(expected_cost_usd=None), monthly_budget_usd=0.5)
    assert info.value.refusal.what == "budget"
    assert info.value.refusal.resets_at == T0.replace(month=12, day=1, hour=0)


async def test_last_months_spending_does_not_count(db: Database) -> None:
    old = await make_job(db, JobState.DELIVERING, now=T0 - timedelta(days=40))
    await db.transition(
        old.id, JobState.SUCCEEDED, total_cost_usd=100.0, finished_at=T0 - timedelta(days=40)
    )
    await reserve(db, NewJobData(expected_cost_usd=0.3), monthly_budget_usd=1.0)


async def test_the_credit_window_is_respected(db: Database, clock: Clock) -> None:
    await reserve(db, credits=1, now=T0)
    with pytest.raises(ReservationRefused):
        await reserve(db, credits=1, now=T0 + timedelta(hours=11, minutes=59))
    await reserve(db, credits=1, now=T0 + timedelta(hours=12))  # the next UTC day


# --- the race ---------------------------------------------------------------------------------
N, K = 20, 3

CHILD = """
import asyncio, json, sys
from pathlib import Path
from tests.storage.conftest import NewJobData, reservation_args
from storage.api import ReservationRefused
from storage.db import Database

async def main():
    db = Database(Path(sys.argv[1]))
    await db.open()
    print("ready", flush=True)
    sys.stdin.readline()
    async def one():
        try:
            args = reservation_args(credits=int(sys.argv[3]))
            await db.create_job_with_reservation(NewJobData(), **args)
            return 1
        except ReservationRefused:
            return 0
    got = await asyncio.gather(*(one() for _ in range(int(sys.argv[2]))))
    await db.close()
    print(json.dumps(sum(got)), flush=True)

asyncio.run(main())
"""


async def try_many(db: Database, n: int) -> int:
    async def one() -> int:
        try:
            await reserve(db, credits=K)
        except ReservationRefused as err:
            assert err.refusal.what == "credits"
            return 0
        return 1

    return sum(await asyncio.gather(*(one() for _ in range(n))))


async def test_race_for_the_last_credits_across_tasks_threads_and_processes(
    db: Database, db_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(db_path), str(N), str(K),
        cwd=REPO, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        ready = await asyncio.wait_for(child.stdout.readline(), 30)
        assert ready == b"ready\n"

        go = threading.Event()
        thread_granted: list[int] = []

        def in_thread() -> None:
            async def run() -> None:
                async with Database(db_path) as other:
                    await asyncio.to_thread(go.wait)
                    thread_granted.append(await try_many(other, N))

            asyncio.run(run())

        thread = threading.Thread(target=in_thread)
        thread.start()
        await asyncio.sleep(0.2)  # let the thread open its connection
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        go.set()
        here = await try_many(db, N)
        await asyncio.to_thread(thread.join, 30)
        out, _ = await asyncio.wait_for(child.communicate(), 30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    granted = here + thread_granted[0] + json.loads(out)
    assert granted == K
    windows = reservation_args()["windows"]
    assert await db.credits_used(GUILD, USER, windows.credits_start, windows.credits_end) == K  # type: ignore[attr-defined]
    assert len(await db.jobs_for_guild(GUILD)) == K
    assert child.returncode == 0


async def test_race_for_concurrency_slots(db: Database) -> None:
    async def one() -> str:
        try:
            await reserve(db, max_jobs_per_user=2)
        except ReservationRefused as err:
            return str(err.refusal.what)
        return "ok"

    results = await asyncio.gather(*(one() for _ in range(N)))
    assert results.count("ok") == 2
    assert set(results) == {"ok", "user_concurrency"}


# --- follow-ups: one of each kind per clip at a time (a double click makes one job) ----------
FOLLOW_UPS = {
    FollowUp.REROLL: {"reroll_of": 0},
    FollowUp.EXTEND: {"extends_job_id": 0},
    FollowUp.REMAKE: {"remake_of": 0, "resolution": "1080P"},
}


def follow_up(kind: FollowUp, parent: int) -> NewJobData:
    fields = {k: (parent if v == 0 else v) for k, v in FOLLOW_UPS[kind].items()}
    return NewJobData(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(FollowUp))
async def test_two_simultaneous_follow_ups_of_one_clip_make_one_job(
    db: Database, db_path: Path, kind: FollowUp
) -> None:
    parent = await reserve(db)
    await db.transition(parent.id, JobState.FAILED)
    # Two connections, as two clicks handled by two processes (or two tasks) would be.
    async with Database(db_path) as other:

        async def one(store: Database) -> str:
            try:
                await reserve(store, follow_up(kind, parent.id), max_jobs_per_user=5)
            except FollowUpInFlight as err:
                assert (err.kind, err.parent_id) == (kind, parent.id)
                return "on its way"
            return "ok"

        results = await asyncio.gather(*(one(s) for s in (db, other, db, other)))
    assert sorted(results) == ["ok", "on its way", "on its way", "on its way"]
    assert len(await db.jobs_for_guild(GUILD)) == 2  # the parent and one follow-up
    assert await db.follow_up_in_flight(kind, parent.id) is not None


async def test_a_follow_up_is_refused_before_the_limits_and_allowed_again_once_it_ends(
    db: Database,
) -> None:
    parent = await reserve(db, credits=2)
    await db.transition(parent.id, JobState.FAILED)
    first = await reserve(db, follow_up(FollowUp.REROLL, parent.id), credits=2)
    with pytest.raises(FollowUpInFlight) as info:  # not "credits": the click is a repeat
        await reserve(db, follow_up(FollowUp.REROLL, parent.id), credits=2)
    assert info.value.job_id == first.id
    # Other kinds of follow-up of the same clip, and the same kind of another clip, may run.
    other = await reserve(db, NewJobData(user_id=USER + 1), credits=9)
    await reserve(db, follow_up(FollowUp.EXTEND, parent.id), credits=9)
    await reserve(db, follow_up(FollowUp.REROLL, other.id), credits=9)
    await db.transition(first.id, JobState.CANCELLED)
    assert await db.follow_up_in_flight(FollowUp.REROLL, parent.id) is None
    await reserve(db, follow_up(FollowUp.REROLL, parent.id), credits=9)


async def test_a_reroll_of_an_extension_is_not_an_extension(db: Database) -> None:
    """A re-roll of extension E names the clip E continues (extends_job_id) and E (reroll_of):
    it is one re-roll of E, and does not block another Extend of that clip."""
    clip = await reserve(db)
    await db.transition(clip.id, JobState.FAILED)
    extension = await reserve(db, follow_up(FollowUp.EXTEND, clip.id))
    await db.transition(extension.id, JobState.FAILED)
    await reserve(db, NewJobData(reroll_of=extension.id, extends_job_id=clip.id))
    assert await db.follow_up_in_flight(FollowUp.EXTEND, clip.id) is None
    await reserve(db, follow_up(FollowUp.EXTEND, clip.id), max_jobs_per_user=5)


async def test_remixes_are_not_limited_and_a_remix_of_an_extension_is_not_an_extension(
    db: Database,
) -> None:
    """A remix (new words) may be asked several times at once; a remix of extension E names
    the clip E continues (extends_job_id) without being another Extend of it."""
    clip = await reserve(db)
    await db.transition(clip.id, JobState.FAILED)
    extension = await reserve(db, follow_up(FollowUp.EXTEND, clip.id))
    await db.transition(extension.id, JobState.FAILED)
    for _ in range(2):
        await reserve(
            db, NewJobData(remix_of=extension.id, extends_job_id=clip.id), max_jobs_per_user=5
        )
    assert await db.follow_up_in_flight(FollowUp.EXTEND, clip.id) is None
    await reserve(db, follow_up(FollowUp.EXTEND, clip.id), max_jobs_per_user=5)
