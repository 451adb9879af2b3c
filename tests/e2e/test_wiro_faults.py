"""End to end: Wiro as it documents itself today, and its faults, as a member sees them.

The simulator sends socket frames keyed by the task `id` only (no `tasktoken`), like Wiro's
current documentation; each fault is one the documentation describes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from bot.governance.admission import IMAGE_RUNS_PAUSED
from bot.wiro.simulator.tasks import SENSITIVE_OUTPUT, TaskScript
from tests.e2e.conftest import ROOMY_LIMITS, Stack, fake_clip, png, running, running_stack, window

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = ROOMY_LIMITS
RETRYING = "Wiro hit a problem and is retrying"


def card_edits(stack: Stack, card_id: int) -> list[dict[str, Any]]:
    """Every embed the bot sent for one card, in order."""
    found = []
    for call in stack.dd.calls("PATCH", f"/channels/*/messages/{card_id}"):
        if call.status == 200 and isinstance(call.json, dict) and call.json.get("embeds"):
            found.append(call.json["embeds"][0])
    return found


def stage_values(stack: Stack, card_id: int) -> list[str]:
    return [
        f["value"]
        for embed in card_edits(stack, card_id)
        for f in embed.get("fields", [])
        if f["name"] == "Stage"
    ]


async def test_live_progress_comes_through_id_keyed_frames(stack: Stack) -> None:
    assert stack.sim.frame_keys == "id"
    stack.sim.script_next(TaskScript(generate=4.0, clip=fake_clip(50_000)))
    run = await stack.video("a kite over the dunes", user=stack.member("kite"))
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    # While frames come, the bot polls Task/Detail only every SOCKET_POLL_SECONDS (30 s): a
    # percentage within 4 s came over the socket.
    assert any(re.search(r"\d+%", value) for value in stage_values(stack, run.card.id))
    token = stack.sim.tasks[stack.sim.runs[-1].task_id or ""].token
    polls = [
        b for p, b in stack.sim.requests if p == "/Task/Detail" and b.get("tasktoken") == token
    ]
    assert len(polls) <= 3  # the opening read and the final one: the socket did the rest


async def test_task_error_is_shown_as_retrying_and_the_clip_still_comes(stack: Stack) -> None:
    member = stack.member("patient")
    stack.sim.script_next(TaskScript(task_error=2.5, generate=0.5, clip=fake_clip(50_000)))
    run = await stack.video("a lantern festival", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    await stack.dd.wait_for(
        lambda: RETRYING in (stack.field(run.card, "Stage") or ""),  # type: ignore[arg-type]
        10,
    )
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert await stack.wait_clip(run.job_id)
    assert stack.field(run.card, "Charged") == "1 credit"


async def test_billed_run_without_a_video_is_refunded_but_counted(stack: Stack) -> None:
    before = await stack.admin("budget show")
    stack.sim.script_next(TaskScript(outcome="empty_outputs", totalcost="0.37"))
    run = await stack.video("an empty promise", user=stack.member("empty"))
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "❌ Video failed"
    assert stack.field(run.card, "What happened") == "The model returned no video."
    assert stack.field(run.card, "Credits") == "1 refunded"
    after = await stack.admin("budget show")

    def spent(text: str) -> float:
        found = re.search(r"Spent this month: \$([0-9.]+)", text)
        assert found, text
        return float(found.group(1))

    # The member got their credits back; the server's spending counts what Wiro billed.
    assert spent(after) - spent(before) == pytest.approx(0.37, abs=0.01)


async def test_sensitive_content_refusal_is_explained(stack: Stack) -> None:
    stack.sim.script_next(TaskScript(outcome="fail", debugerror="", debugoutput=SENSITIVE_OUTPUT))
    run = await stack.video("something Hailuo refuses", user=stack.member("flagged"))
    assert run.card is not None, run.reply
    assert await stack.wait_final(run.card) == "❌ Video failed"
    what = stack.field(run.card, "What happened")
    assert what == "Hailuo refused this prompt (or its image) as sensitive content."


async def test_cancel_says_cancelled_only_once_wiro_confirms(stack: Stack) -> None:
    member = stack.member("quitter")
    stack.sim.script_next(TaskScript(queue=0.0, start=0.2, generate=30.0, kill_refusals=2))
    run = await stack.video("a very long take", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    task_id = await stack.dd.wait_for(
        lambda: next(
            (r.task_id for r in stack.sim.runs if r.fields.get("prompt") == "a very long take"),
            None,
        ),
        10,
    )
    await stack.dd.wait_for(lambda: stack.sim.tasks[task_id].status == "task_start", 10)
    answer = await stack.click(run.card, f"video:cancel:{run.job_id}", user=member)
    assert "Cancelling" in answer
    assert await stack.wait_final(run.card, timeout=30) == "🚫 Video cancelled"
    kills = [p for p, _ in stack.sim.requests if p == "/Task/Kill"]
    assert len(kills) >= 3  # two refusals, then accepted
    assert stack.sim.tasks[task_id].status == "task_cancel"
    assert any("Cancelling" in v for v in stage_values(stack, run.card.id))


async def test_permission_error_fails_the_job_at_once(stack: Stack) -> None:
    member = stack.member("stranger")
    stack.sim.script_next(TaskScript(queue=20.0))
    run = await stack.video("a task we may not see", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    await stack.dd.wait_for(lambda: any(r.task_id for r in stack.sim.runs[-1:]), 10)
    stack.sim.detail_permission_denied = True
    try:
        # Within the 10 s poll (plus margin), not the 20-minute deadline.
        assert await stack.wait_final(run.card, timeout=25) == "❌ Video failed"
    finally:
        stack.sim.detail_permission_denied = False
    assert "may not see this task" in (stack.field(run.card, "What happened") or "")
    assert stack.field(run.card, "Credits") == "1 refunded"


async def test_image_runs_wait_for_tool_detail_text_runs_do_not(tmp_path: Path) -> None:
    s = Stack(tmp_path, STACK_ENV)
    s.sim.tool_parameters_null = True  # Wiro's answer names no file field
    async with running(s):
        await s.wait_log("image runs are refused until it names one")
        refused = await s.video("from this photo", image=png(), user=s.member("photo"))
        assert refused.card is None and refused.reply == IMAGE_RUNS_PAUSED
        assert [r for r in s.sim.runs if r.image is not None] == []
        text = await s.video("no photo needed", user=s.member("words"))
        assert text.card is not None, text.reply
        assert await s.wait_final(text.card) == "✅ Video ready"


async def test_task_error_past_the_deadline_is_stopped_and_refunded(tmp_path: Path) -> None:
    env = {**STACK_ENV, "JOB_TIMEOUT_MINUTES": "1"}
    async with running_stack(tmp_path, env) as s:
        s.sim.script_next(TaskScript(task_error=math.inf))
        run = await s.video("stuck at Wiro", user=s.member("stuck"))
        assert run.card is not None, run.reply
        await s.dd.wait_for(lambda: RETRYING in (s.field(run.card, "Stage") or ""), 15)  # type: ignore[arg-type]
        # The stack runs the one-minute deadline at E2E_TIME_SCALE (12 s); the card still says
        # "1 minute", the operator's setting, not the scaled real time.
        assert await s.wait_final(run.card, timeout=window(60) + 30) == "⌛ Video timed out"
        what = s.field(run.card, "What happened") or ""
        assert "Wiro hit a problem and was still retrying after 1 minute" in what
        assert s.field(run.card, "Credits") == "1 refunded"
        task = s.sim.tasks[s.sim.runs[-1].task_id or ""]
        assert task.status == "task_cancel"  # stopped at Wiro, not left to run and bill
