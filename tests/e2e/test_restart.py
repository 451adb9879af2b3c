"""End to end: the bot killed or stopped mid-job, then started again on the same database."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Message
from tests.e2e.conftest import FINAL_TITLES, Stack, fake_clip, running_stack
from tests.e2e.harness import BotProcess


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


def _state(stack: Stack, job_id: int) -> str:
    """The job's state in the bot's database (read-only)."""
    uri = f"{(stack.tmp / 'bot.sqlite3').resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        (state,) = conn.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
    return str(state)


async def test_sigkill_with_card_edits_pending_shows_every_final_state_after_the_restart(
    stack: Stack,
) -> None:
    """Discord refuses card edits (503) while a job is delivered and another cancelled, and the
    bot is killed with those final edits still waiting: the next start shows both."""
    member, quitter = stack.member("witness"), stack.member("quitter")
    stack.sim.script_next(TaskScript(generate=3, clip=fake_clip(50_000)))
    done = await stack.video("delivered while its card cannot change", user=member)
    stack.sim.script_next(TaskScript(generate=120))
    stopped = await stack.video("cancelled while its card cannot change", user=quitter)
    assert done.card is not None and stopped.card is not None
    assert done.job_id is not None and stopped.job_id is not None
    await stack.dd.wait_for(lambda: "Generating" in stack.title(done.card), 10)  # type: ignore[arg-type]
    edits = stack.dd.fail("PATCH", "/channels/*/messages/*", status=503, times=-1)
    await stack.wait_clip(done.job_id, timeout=20)
    answer = await stack.click(stopped.card, f"video:cancel:{stopped.job_id}", user=quitter)
    assert "ancel" in answer, answer
    await stack.dd.wait_for(lambda: _state(stack, stopped.job_id) == "cancelled" or None, 20)  # type: ignore[arg-type]
    await stack.dd.wait_for(lambda: _state(stack, done.job_id) == "succeeded" or None, 10)  # type: ignore[arg-type]
    assert stack.bot is not None
    await stack.bot.kill()
    edits.times = 0
    for card in (done.card, stopped.card):
        assert stack.title(card) not in FINAL_TITLES, stack.title(card)

    await stack.start_bot()
    assert await stack.wait_final(done.card) == "✅ Video ready"
    assert await stack.wait_final(stopped.card) == "🚫 Video cancelled"
    assert len(stack.clip_messages(done.job_id)) == 1
    assert stack.accepted_runs() == 2


async def test_a_second_bot_process_on_the_same_database_exits_2_and_the_first_runs_on(
    stack: Stack,
) -> None:
    first = stack.bot
    assert first is not None and first.proc is not None
    member = stack.member("undisturbed")
    stack.sim.script_next(TaskScript(generate=3, clip=fake_clip(50_000)))
    run = await stack.video("made while a second process tries", user=member)
    assert run.card is not None and run.job_id is not None

    # A second `python -m bot` (a container started by mistake, an overlapping deploy).
    second = BotProcess("bot", env=stack.env(), cwd=stack.tmp)
    stack.processes.append(second)
    await second.start()
    code = await asyncio.wait_for(second.proc.wait(), 10)  # type: ignore[union-attr]
    await second.wait_for_line("another bot process", 5)
    assert code == 2, second.output
    (line,) = [line for line in second.lines if "ERROR" in line]
    assert f"pid {first.proc.pid}" in line and "DATABASE_PATH" in line, line
    assert "database" not in second.output.replace(line, "")  # it never opened the file

    # The first one is unharmed: its job ends with the clip, once, and nothing was resumed.
    message = await stack.wait_clip(run.job_id, timeout=20)
    assert message.attachments
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert first.returncode is None
    assert stack.accepted_runs() == 1
    assert "resum" not in second.output


async def test_sigterm_during_a_slow_run_waits_for_its_answer_and_keeps_the_task(
    stack: Stack,
) -> None:
    member = stack.member("slow-link")
    clip = fake_clip(40_000)
    stack.sim.script_next(TaskScript(generate=2, clip=clip))
    stack.sim.run_delay = 5.0  # Wiro takes this long to answer the Run (the task exists already)
    inter = await stack.dd.slash("video", {"prompt": "sent just before a deploy"}, user=member)
    await stack.dd.wait_for(lambda: stack.sim.runs or None, 15)  # the Run is out
    assert stack.bot is not None
    code, seconds = await stack.bot.terminate(timeout=15)
    assert code == 0 and seconds < 10, (code, seconds)
    stack.sim.run_delay = 0.0
    job_id = int(re.search(r"job (\d+)", await stack.answer(inter)).group(1))  # type: ignore[union-attr]
    with contextlib.closing(sqlite3.connect(stack.tmp / "bot.sqlite3")) as conn:
        state, task_id = conn.execute(
            "SELECT state, wiro_task_id FROM jobs WHERE id = ?", [job_id]
        ).fetchone()
    assert (state, task_id) == ("running", stack.sim.runs[0].task_id)  # saved before the exit

    await stack.start_bot()
    message = await stack.wait_clip(job_id, timeout=20)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert stack.accepted_runs() == 1


async def test_sigkill_while_a_run_is_out_refunds_and_counts_what_wiro_may_bill(
    stack: Stack,
) -> None:
    audit = stack.channel("queue")
    assert "Every finished job" in await stack.admin("audit channel", {"channel": audit.id})
    member = stack.member("unlucky")
    stack.sim.run_delay = 5.0  # Wiro made the task; its answer never reaches this process
    run = await stack.video("killed mid-Run", user=member)
    assert run.card is not None and run.job_id is not None
    await stack.dd.wait_for(lambda: stack.sim.runs or None, 15)
    assert stack.bot is not None
    await stack.bot.kill()
    stack.sim.run_delay = 0.0

    await stack.start_bot()
    assert await stack.wait_final(run.card) == "❌ Video failed"
    line = await stack.dd.wait_for(
        lambda: next(
            (m.content for m in stack.dd.messages_in(audit) if "killed mid-Run" in m.content), None
        ),
        10,
    )
    assert "may have been billed by Wiro" in line and "$0.28 expected" in line, line
    assert "1 credit refunded" in line, line
    usage = await stack.admin("usage", {"user": member.user.id})
    assert "$0.28" in usage and "0 credits" in usage, usage
    assert stack.accepted_runs() == 1 and len(stack.sim.runs) == 1  # never sent twice


async def test_a_spanish_servers_job_survives_sigkill_in_spanish(stack: Stack) -> None:
    # The server's language is read again by the new process: the resumed card, its clip
    # message and the finished card stay Spanish, and the clip is posted once.
    assert "Español" in await stack.admin("language set", {"language": "es-ES"})
    member = stack.member("lucia")
    clip = fake_clip(90_000)
    stack.sim.script_next(TaskScript(generate=4, clip=clip))
    run = await stack.video("un zorro en la nieve", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    card = run.card
    await stack.dd.wait_for(lambda: "Generando" in stack.title(card) or None, 10)
    assert stack.bot is not None
    await stack.bot.kill()

    await stack.start_bot()
    await stack.wait_log("resumed 1 jobs")
    header = f"<@{member.user.id}> tu vídeo está listo (tarea {run.job_id})."

    def clips() -> list[Message]:
        return [m for m in stack.dd.messages_in() if m.content == header]

    [message] = await stack.dd.wait_for(clips, 20)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    await stack.dd.wait_for(lambda: stack.title(card) == "✅ Vídeo listo" or None, 20)
    await stack.bot.terminate()
    assert len(clips()) == 1
