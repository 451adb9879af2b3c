"""End to end, the studio part 3: Delete, Remix through its form, and server styles.

The real bot process against the Discord double and the Wiro simulator, as in test_flow.py.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Member, Message
from tests.e2e.conftest import Stack, fake_clip, png, running_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {"DEFAULT_QUOTA_CREDITS": "1000", "MAX_JOBS_PER_USER": "10"}
DELETED = "🗑️ Clip deleted"


def job_in(answer: str) -> int:
    found = re.search(r"as job (\d+)", answer)
    assert found, answer
    return int(found.group(1))


def ledger_kinds(stack: Stack, job_id: int) -> list[str]:
    uri = f"{(stack.tmp / 'bot.sqlite3').resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute("SELECT kind FROM ledger WHERE job_id = ? ORDER BY id", [job_id])
        return [kind for (kind,) in rows]


async def finished(stack: Stack, member: Member, prompt: str = "a kite", **options: object):
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    run = await stack.video(prompt, user=member, **options)
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    clip = await stack.wait_clip(run.job_id)
    return run.card, run.job_id, clip


async def next_run(stack: Stack, runs: int):
    """The Run Wiro got after the first `runs` (it is sent just after the member's answer)."""
    await stack.dd.wait_for(lambda: len(stack.sim.runs) > runs or None, 10)
    return stack.sim.runs[runs]


def card_of(stack: Stack, job_id: int) -> Message:
    return next(m for m in stack.dd.messages_in() if m.embeds and f"Job {job_id}" in str(m.embeds))


# -------------------------------------------------------------------------------------- Delete
async def test_delete_by_the_requester_from_the_clip_message(stack: Stack) -> None:
    member = stack.member("deleter")
    card, job_id, clip = await finished(stack, member)
    assert f"video:delete:{job_id}" in clip.custom_ids()
    assert f"video:delete:{job_id}" in card.custom_ids()
    # Two clicks at once (the clip message's and the card's): one deletes, one is told so.
    first = await stack.dd.click(clip, f"video:delete:{job_id}", user=member)
    second = await stack.dd.click(card, f"video:delete:{job_id}", user=member)
    answers = sorted([await stack.answer(first), await stack.answer(second)])
    assert answers[0].startswith("Deleted the clip of job") and "not refunded" in answers[0]
    assert f"already deleted by <@{member.user.id}>" in answers[1]
    assert stack.clip_messages(job_id) == []  # the clip message is gone
    await stack.dd.wait_for(lambda: stack.title(card) == DELETED or None, 10)
    assert f"<@{member.user.id}>" in (stack.field(card, "Deleted") or "")
    assert card.custom_ids() == []  # no Re-roll, Extend, Remix, Remake, Delete any more
    assert ledger_kinds(stack, job_id) == ["reserve", "charge"]  # nothing refunded
    # Still in /jobs.
    inter = await stack.dd.slash("jobs", user=member)
    assert str(job_id) in await stack.answer(inter)


async def test_delete_by_a_moderator_and_not_by_anyone_else(stack: Stack) -> None:
    member = stack.member("owner")
    card, job_id, _ = await finished(stack, member)
    answer = await stack.click(card, f"video:delete:{job_id}", user=stack.member("stranger"))
    assert "or a moderator can delete it" in answer
    assert len(stack.clip_messages(job_id)) == 1 and stack.title(card) == "✅ Video ready"
    answer = await stack.click(card, f"video:delete:{job_id}", user=stack.moderator)
    assert answer.startswith("Deleted the clip of job"), answer
    await stack.dd.wait_for(lambda: stack.title(card) == DELETED or None, 10)
    assert f"<@{stack.moderator.user.id}>" in (stack.field(card, "Deleted") or "")
    assert stack.clip_messages(job_id) == []


async def test_delete_after_a_restart(tmp_path: Path) -> None:
    async with running_stack(tmp_path, STACK_ENV) as stack:
        member = stack.member("later")
        card, job_id, _ = await finished(stack, member)
        assert stack.bot is not None
        await stack.bot.kill()
        await stack.start_bot()
        answer = await stack.click(card, f"video:delete:{job_id}", user=member)
        assert answer.startswith("Deleted the clip of job"), answer
        await stack.dd.wait_for(lambda: stack.title(card) == DELETED or None, 10)
        assert stack.clip_messages(job_id) == []


# --------------------------------------------------------------------------------------- Remix
async def test_remix_through_its_form(stack: Stack) -> None:
    member = stack.member("remixer")
    frame = png(640, 480, "teal")
    card, job_id, _ = await finished(
        stack, member, "a boat on a lake", image=frame, duration=10, camera="Pan left"
    )
    original = stack.sim.runs[-1]
    # Someone else's click is refused; the requester gets the form, prefilled.
    answer = await stack.click(card, f"video:remix:{job_id}", user=stack.member("nosy"))
    assert "Only the member who asked" in answer
    opened = await stack.dd.click(card, f"video:remix:{job_id}", user=member)
    await stack.dd.wait_for(lambda: opened.ack_type == 9, 10)
    form = str(opened.response_data or {})
    assert "a boat on a lake" in form and "Pan left" in form
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    submitted = await stack.dd.submit_modal(
        opened, {"prompt": "a boat in a storm", "camera": ["Zoom in"]}, user=member
    )
    answer = await stack.answer(submitted)
    assert "Remixing as job" in answer, answer
    remix_id = job_in(answer)
    await stack.wait_clip(remix_id)
    run = stack.sim.runs[-1]
    assert run.fields["prompt"] == "[Zoom in] a boat in a storm"
    assert run.image == original.image == frame  # the clip's own first frame
    assert (run.fields["resolution"], run.fields["duration"]) == ("768P", "10")
    remix_card = card_of(stack, remix_id)
    assert await stack.wait_final(remix_card) == "✅ Video ready"
    assert f"/{card.id})" in (stack.field(remix_card, "Remix") or "")
    assert f"job {job_id}" in (stack.field(remix_card, "Remix") or "")
    assert ledger_kinds(stack, remix_id) == ["reserve", "charge"]


# -------------------------------------------------------------------------------------- Styles
async def test_a_style_added_by_a_moderator_and_used_by_a_member(stack: Stack) -> None:
    answer = await stack.admin(
        "style add",
        {
            "name": "Noir",
            "prompt": "{prompt}, in black and white",
            "resolution": "768P",
            "duration": 10,
            "camera": "Push in",
        },
    )
    assert "Added the style “Noir”" in answer, answer
    assert "Noir" in await stack.admin("style list")
    member = stack.member("stylist")
    # The member's duration overrides the style's 10 s; the camera comes from the style.
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    runs = len(stack.sim.runs)
    run = await stack.video("a cat on a roof", user=member, style="noir", duration=6)
    assert run.card is not None and run.job_id is not None, run.reply
    record = await next_run(stack, runs)
    assert record.fields["prompt"] == "[Push in] a cat on a roof, in black and white"
    assert (record.fields["resolution"], record.fields["duration"]) == ("768P", "6")
    assert stack.field(run.card, "Style") == "Noir"
    assert "black and white" not in run.card.embeds[0]["description"]
    assert await stack.wait_final(run.card) == "✅ Video ready"
    # Re-roll keeps the style.
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    answer = await stack.click(run.card, f"video:reroll:{run.job_id}", user=member)
    await stack.wait_clip(job_in(answer))
    assert stack.sim.runs[-1].fields["prompt"] == record.fields["prompt"]


async def test_a_style_that_makes_the_prompt_too_long_is_named(stack: Stack) -> None:
    await stack.admin("style add", {"name": "Epic", "prompt": "epic cinematic lighting " * 4})
    member = stack.member("verbose")
    runs, messages = len(stack.sim.runs), len(stack.dd.messages_in())
    run = await stack.video("a" * 1950, user=member, style="Epic")
    assert run.card is None
    assert "With the style “Epic”" in run.reply and "2000" in run.reply, run.reply
    assert len(stack.sim.runs) == runs and len(stack.dd.messages_in()) == messages
    run = await stack.video("a dog", user=member, style="Nope")
    assert run.card is None and "no style “Nope”" in run.reply and "Epic" in run.reply


async def test_the_animate_form_offers_the_servers_styles(stack: Stack) -> None:
    await stack.admin("style add", {"name": "Dreamy", "prompt": "soft focus", "duration": 10})
    member = stack.member("animator")
    source = await stack.dd.post_message(
        "pic", user=member, attachments=[("p.png", png(640, 480, "navy"), "image/png")]
    )
    opened = await stack.dd.message_command("Animate with Hailuo", source, user=member)
    await stack.dd.wait_for(lambda: opened.ack_type == 9, 10)
    assert "Dreamy" in str(opened.response_data or {})
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    runs = len(stack.sim.runs)
    # The clip left alone: the style's 10 s.
    submitted = await stack.dd.submit_modal(
        opened, {"prompt": "waves roll in", "style": ["Dreamy"]}, user=member
    )
    answer = await stack.answer(submitted, timeout=20)
    assert "on its way" in answer, answer
    record = await next_run(stack, runs)
    assert record.fields["prompt"] == "waves roll in soft focus"
    assert record.fields["duration"] == "10"
