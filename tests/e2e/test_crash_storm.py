"""End to end: a crash storm. The real bot process is SIGKILLed at random moments while twelve
jobs of three members run (text, image, one that fails at Wiro, one cancelled, one extension),
and restarted each time on the same database. Afterwards the books must balance:

- every job ended, and every card shows its job's final state;
- every clip Wiro made was posted exactly once (attached or linked), and no other;
- no Run was sent twice for one job;
- every member's used credits are what `/quota` shows and what the ledger explains, and a job
  whose card was never posted cost nothing;
- the server's recorded spending is what Wiro billed.

Seeds make a storm reproducible: `CRASH_STORM_SEEDS=7,8,9 pytest tests/e2e/test_crash_storm.py`
(CI runs the default seeds below).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.wiro.simulator.tasks import TaskScript
from cogs.words import OUTCOME_TITLE
from storage.models import JobState
from tests.discord_double.world import Member
from tests.e2e.conftest import Stack, fake_clip, png, running_stack
from tests.video.clips import clip_parts

SEEDS = tuple(int(s) for s in os.environ.get("CRASH_STORM_SEEDS", "101,202").split(","))
ENV = {
    "DEFAULT_QUOTA_CREDITS": "100",
    "MAX_JOBS_PER_USER": "10",
    "MAX_JOBS_PER_GUILD": "30",
    "MAX_CLIP_SECONDS": "12",
}
KILLS = 5
COST = "0.28"  # what Wiro bills for each 768P/6 s run here: the bot's own price for that setting
T = TypeVar("T")


@dataclass
class Planned:
    """One job the storm asks for."""

    prompt: str
    member: Member
    image: bytes | None = None
    cancel: bool = False


class Storm:
    """Kills and restarts the bot on a schedule; member actions wait while it is down."""

    def __init__(self, stack: Stack, rng: random.Random) -> None:
        self.stack = stack
        self.rng = rng
        self.up = asyncio.Event()
        self.up.set()
        self.all_asked = asyncio.Event()  # every /video of the plan was sent
        self.kills = 0

    async def crash_at(self, moments: list[float]) -> None:
        start = time.monotonic()
        for moment in moments:
            await asyncio.sleep(max(0.0, start + moment - time.monotonic()))
            self.up.clear()
            assert self.stack.bot is not None
            await self.stack.bot.kill()
            self.kills += 1
            await asyncio.sleep(self.rng.uniform(0.0, 0.6))
            await self.stack.start_bot()
            self.up.set()

    async def act(self, action: Callable[[], Awaitable[T]]) -> T | None:
        """Do a member's action once the bot is up; None when the bot died under it."""
        await self.up.wait()
        try:
            return await action()
        except (TimeoutError, RuntimeError):
            return None  # no answer: the process was killed while handling it


def rows(stack: Stack, sql: str, *args: Any) -> list[sqlite3.Row]:
    uri = f"{(stack.tmp / 'bot.sqlite3').resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, args))


async def start_jobs(stack: Stack, storm: Storm, plan: list[Planned]) -> None:
    for job in plan:
        await storm.act(
            lambda j=job: stack.video(j.prompt, user=j.member, image=j.image, timeout=6)
        )
        await asyncio.sleep(storm.rng.uniform(0.1, 1.0))
    storm.all_asked.set()


async def cancel_when_running(stack: Stack, storm: Storm, planned: Planned) -> None:
    """Press Cancel on the job's card until the job has ended (clicks may die with the bot)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = rows(
            stack, "SELECT id, state, card_message_id FROM jobs WHERE prompt = ?", planned.prompt
        )
        if found and found[0]["state"] in {s.value for s in JobState if s.is_terminal}:
            return
        if found and found[0]["card_message_id"] is not None:
            job_id, card_id = found[0]["id"], found[0]["card_message_id"]
            card = stack.dd.world.messages.get(int(card_id))
            if card is not None and f"video:cancel:{job_id}" in card.custom_ids():
                await storm.act(
                    lambda c=card, j=job_id: stack.click(
                        c, f"video:cancel:{j}", user=planned.member
                    )
                )
        elif not found and storm.all_asked.is_set():
            return  # its /video died with the bot before a job was written
        await asyncio.sleep(0.5)


async def extend_when_ready(stack: Stack, storm: Storm, base: Planned, prompt: str) -> None:
    """Extend the base job once its clip is posted (forms may die with the bot: try again)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if rows(stack, "SELECT id FROM jobs WHERE prompt = ?", prompt):
            return  # the extension exists
        found = rows(
            stack,
            "SELECT id, state, card_message_id, result_message_id FROM jobs WHERE prompt = ?",
            base.prompt,
        )
        if found and found[0]["state"] not in ("pending", "waiting", "submitting", "running",
                                                "delivering", "succeeded"):  # fmt: skip
            return  # the base did not succeed: nothing to extend
        card = None
        if found and found[0]["state"] == "succeeded" and found[0]["card_message_id"]:
            card = stack.dd.world.messages.get(int(found[0]["card_message_id"]))
        # A member presses Extend once the card shows it (card edits are paced).
        if card is not None and f"video:extend:{found[0]['id']}" in card.custom_ids():
            job_id, card_id = found[0]["id"], card.id

            async def extend(j: int = job_id, c: int = card_id) -> None:
                card = stack.dd.world.messages[c]
                opened = await stack.dd.click(card, f"video:extend:{j}", user=base.member)
                await stack.dd.wait_for(lambda: opened.ack_type == 9, 8)
                submitted = await stack.dd.submit_modal(
                    opened, {"next": prompt, "length": "6"}, user=base.member
                )
                await stack.answer(submitted, timeout=15)

            await storm.act(extend)
        await asyncio.sleep(0.5)


async def settle(stack: Stack, storm: Storm) -> None:
    """Wait until no job is in flight, restarting the bot if the storm left it down."""
    await storm.up.wait()
    await stack.wait_no_jobs_in_flight(timeout=120)


def final_titles_match(stack: Stack) -> list[str]:
    """Cards whose title is not their job's final state (empty when all tell the truth)."""
    wrong = []
    for job in rows(stack, "SELECT id, state, card_message_id FROM jobs"):
        if job["card_message_id"] is None:
            continue
        card = stack.dd.world.messages.get(int(job["card_message_id"]))
        want = OUTCOME_TITLE[JobState(job["state"])]
        if card is None or stack.title(card) != want:
            wrong.append(f"job {job['id']}: {stack.title(card) if card else 'no card'} != {want}")
    return wrong


@pytest.mark.e2e
@pytest.mark.parametrize("seed", SEEDS)
async def test_crash_storm(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    parts = clip_parts(tmp_path, 2)
    (tmp_path / "stack").mkdir()
    async with running_stack(tmp_path / "stack", ENV) as stack:
        members = [stack.member(f"stormer{i}") for i in range(3)]
        plan: list[Planned] = []
        for k in range(10):
            image = png(640, 360, rng.choice(["teal", "navy", "olive"])) if k % 3 == 0 else None
            plan.append(Planned(f"storm {seed} job {k}", rng.choice(members), image))
        base = Planned(f"storm {seed} base", members[0])
        failing = plan[4]
        to_cancel = plan[7]
        to_cancel.cancel = True
        extension = f"storm {seed} extension"
        # Wiro's side of each job, bound to its prompt (Runs may arrive in any order).
        for job in plan:
            stack.sim.prompt_scripts[job.prompt] = TaskScript(
                generate=rng.uniform(0.5, 3.0), clip=fake_clip(80_000), totalcost=COST
            )
        stack.sim.prompt_scripts[failing.prompt] = TaskScript(generate=1.0, outcome="fail")
        stack.sim.prompt_scripts[to_cancel.prompt] = TaskScript(generate=30.0, totalcost=COST)
        stack.sim.prompt_scripts[base.prompt] = TaskScript(
            generate=0.5, clip=parts[0], totalcost=COST
        )
        stack.sim.prompt_scripts[extension] = TaskScript(
            generate=0.5, clip=parts[1], totalcost=COST
        )

        storm = Storm(stack, rng)
        moments = sorted(rng.uniform(0.3, 12.0) for _ in range(KILLS))
        t0 = time.monotonic()

        async def timed(name: str, aw: Awaitable[None]) -> None:
            await aw
            print(f"{name} done at {time.monotonic() - t0:.1f} s", flush=True)

        await asyncio.gather(
            timed("crashes", storm.crash_at(moments)),
            timed("jobs", start_jobs(stack, storm, [base, *plan])),
            timed("cancel", cancel_when_running(stack, storm, to_cancel)),
            timed("extend", extend_when_ready(stack, storm, base, extension)),
        )
        assert storm.kills == KILLS
        await settle(stack, storm)
        print(f"settled at {time.monotonic() - t0:.1f} s", flush=True)

        jobs = rows(stack, "SELECT * FROM jobs ORDER BY id")
        for j in jobs:
            print(j["id"], j["prompt"], j["state"], j["outcome_reason"], flush=True)
        assert jobs, "no job was created"
        terminal = {s.value for s in JobState if s.is_terminal}
        assert [j["id"] for j in jobs if j["state"] not in terminal] == []

        # Every card ends up telling the truth (card edits are paced: give them time).
        try:
            await stack.dd.wait_for(lambda: not final_titles_match(stack), 30)
        except TimeoutError:
            pytest.fail(f"seed {seed}: cards left behind: {final_titles_match(stack)}")

        # No Run twice for one job: each prompt reached Wiro at most once.
        accepted = Counter(r.fields.get("prompt") for r in stack.sim.runs if r.task_id)
        assert [p for p, n in accepted.items() if n > 1] == [], f"seed {seed}"

        by_task = {j["wiro_task_id"]: j for j in jobs if j["wiro_task_id"]}
        made = [t for t in stack.sim.tasks.values() if t.pexit == "0" and t.clip is not None]
        for task in made:
            job = by_task.get(task.task_id)
            assert job is not None, f"seed {seed}: task {task.task_id} made a clip for no job"
            clips = stack.clip_messages(job["id"])
            assert len(clips) == 1, f"seed {seed}: job {job['id']} clip posted {len(clips)}×"
            assert job["state"] == JobState.SUCCEEDED.value
        for job in jobs:
            if job["state"] != JobState.SUCCEEDED.value:
                assert stack.clip_messages(job["id"]) == [], f"seed {seed}: job {job['id']}"

        # Credits: each job's ledger matches its outcome, a job without a card cost nothing,
        # and /quota shows what the ledger adds up to.
        for job in jobs:
            kinds = sorted(
                r["kind"]
                for r in rows(stack, "SELECT kind FROM ledger WHERE job_id = ?", job["id"])
            )
            if job["state"] == JobState.SUCCEEDED.value:
                assert kinds == ["charge", "reserve"], (seed, job["id"], kinds)
            else:
                assert kinds == ["refund", "reserve"], (seed, job["id"], kinds)
            if job["card_message_id"] is None:
                assert job["state"] != JobState.SUCCEEDED.value, (seed, job["id"])
                assert accepted.get(job["prompt"], 0) == 0, f"seed {seed}: {job['id']} ran unseen"
        for member in members:
            (ledger,) = rows(
                stack,
                "SELECT COALESCE(SUM(credits), 0) AS used FROM ledger"
                " WHERE user_id = ? AND kind IN ('reserve', 'refund')",
                member.user.id,
            )
            assert await stack.used_credits(member) == ledger["used"], f"seed {seed}"

        # Spending: what the server recorded is what Wiro billed.
        billed = sum(float(t.totalcost or 0) for t in stack.sim.tasks.values())
        (recorded,) = rows(
            stack, "SELECT COALESCE(SUM(total_cost_usd), 0) AS usd FROM jobs WHERE guild_id = ?",
            stack.dd.guild.id,  # type: ignore[union-attr]
        )  # fmt: skip
        assert recorded["usd"] == pytest.approx(billed), f"seed {seed}"

        # Nothing left running at Wiro that a job does not follow.
        running = [t for t in stack.sim.tasks.values() if t.status not in _ENDED]
        assert running == [], f"seed {seed}: tasks still running at Wiro: {running}"
        assert stack.bot is not None
        await stack.bot.terminate()


_ENDED = {"task_postprocess_end", "task_cancel"}
