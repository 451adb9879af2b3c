"""End to end: credits with a 1-credit daily quota: refusal wording, refunds, reservation races."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {"DEFAULT_QUOTA_CREDITS": "1", "DEFAULT_QUOTA_PERIOD": "day"}


async def test_exhausted_credits_are_refused_with_used_limit_cost_and_reset(stack: Stack) -> None:
    member = stack.member("spender")
    run = await stack.video("the only one today", user=member)
    assert run.card is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"

    runs = len(stack.sim.runs)
    refused = await stack.video("one more please", user=member)
    assert refused.card is None
    assert "used 1 of 1" in refused.reply and "costs 1" in refused.reply, refused.reply
    stamp = re.search(r"<t:(\d+):R>", refused.reply)
    assert stamp, refused.reply
    assert time.time() < int(stamp.group(1)) <= time.time() + 86_400 + 60
    assert len(stack.sim.runs) == runs


async def test_wiro_failure_refunds_so_the_member_can_run_again(stack: Stack) -> None:
    member = stack.member("retry")
    stack.sim.script_next(TaskScript(outcome="fail"))
    failed = await stack.video("first try fails", user=member)
    assert failed.card is not None, failed.reply
    assert await stack.wait_final(failed.card) == "❌ Video failed"
    again = await stack.video("second try works", user=member)
    assert again.card is not None, again.reply
    assert await stack.wait_final(again.card) == "✅ Video ready"
    third = await stack.video("third is over the limit", user=member)
    assert third.card is None and "used 1 of 1" in third.reply


async def test_five_at_once_with_credit_for_one_run_exactly_once(stack: Stack) -> None:
    member = stack.member("racer")
    accepted = stack.accepted_runs()
    runs = await asyncio.gather(*(stack.video(f"race {i}", user=member) for i in range(5)))
    cards = [r.card for r in runs if r.card is not None]
    assert len(cards) == 1, [r.reply for r in runs]
    for r in runs:
        if r.card is None:
            assert "credits" in r.reply or "in progress" in r.reply, r.reply
    assert await stack.wait_final(cards[0]) == "✅ Video ready"
    assert stack.accepted_runs() == accepted + 1
    assert len([r for r in stack.sim.runs if r.fields.get("prompt", "").startswith("race")]) == 1
