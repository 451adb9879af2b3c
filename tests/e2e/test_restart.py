"""End to end: the bot killed or stopped mid-job, then started again on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.wiro.simulator.server import TaskScript
from tests.e2e.conftest import Stack, fake_clip, running_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A stack of its own per test: these tests kill and restart the bot."""
    async with running_stack(tmp_path, {"DEFAULT_QUOTA_CREDITS": "100"}) as s:
        yield s


async def test_sigkill_mid_job_resumes_delivers_once_and_old_buttons_answer(stack: Stack) -> None:
    member = stack.member("patient")
    clip = fake_clip(100_000)
    stack.sim.script_next(TaskScript(generate=4, clip=clip))
    stack.sim.script_next(TaskScript(generate=120))
    done = await stack.video("survives a crash", user=member)
    stuck = await stack.video("will be cancelled after the crash", user=member)
    assert done.card is not None and stuck.card is not None
    assert done.job_id is not None and stuck.job_id is not None
    for card in (done.card, stuck.card):
        await stack.dd.wait_for(lambda c=card: "Generating" in stack.title(c), 10)
    assert stack.bot is not None
    await stack.bot.kill()
    assert stack.clip_messages(done.job_id) == []

    await stack.start_bot()
    await stack.wait_log("resumed 2 jobs")
    message = await stack.wait_clip(done.job_id, timeout=20)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert await stack.wait_final(done.card) == "✅ Video ready"
    assert stack.accepted_runs() == 2  # nothing was resubmitted

    # The card posted by the killed process still answers: Cancel...
    answer = await stack.click(stuck.card, f"video:cancel:{stuck.job_id}", user=member)
    assert "ancel" in answer, answer
    assert await stack.wait_final(stuck.card) == "🚫 Video cancelled"
    # ...and Re-roll.
    answer = await stack.click(done.card, f"video:reroll:{done.job_id}", user=member)
    assert "Re-rolling as job" in answer, answer
    assert stack.accepted_runs() == 3 or await stack.dd.wait_for(
        lambda: stack.accepted_runs() == 3, 5
    )
    # Once the process has exited nothing more can come: a second delivery would be here.
    await stack.bot.terminate()
    assert len(stack.clip_messages(done.job_id)) == 1


async def test_sigterm_exits_promptly_and_the_job_resumes(stack: Stack) -> None:
    member = stack.member("graceful")
    clip = fake_clip(60_000)
    stack.sim.script_next(TaskScript(generate=4, clip=clip))
    run = await stack.video("in flight at shutdown", user=member)
    assert run.card is not None and run.job_id is not None
    card = run.card
    await stack.dd.wait_for(lambda: "Generating" in stack.title(card), 10)
    assert stack.bot is not None
    code, seconds = await stack.bot.terminate(timeout=15)
    assert code == 0 and seconds < 10, (code, seconds)
    assert "Traceback" not in stack.bot.output

    await stack.start_bot()
    await stack.wait_log("resumed 1 jobs")
    message = await stack.wait_clip(run.job_id, timeout=20)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert await stack.wait_final(card) == "✅ Video ready"
    assert stack.accepted_runs() == 1
    await stack.bot.terminate()  # once it has exited, a second delivery would be here
    assert len(stack.clip_messages(run.job_id)) == 1
