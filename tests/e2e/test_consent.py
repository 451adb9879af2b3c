"""End to end: consent for Animate (whose images may be animated, and the author's say).

The real bot process against the Discord double and the Wiro simulator. The server's rule
starts at its default, `own`; tests that change it set it back at their end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Member, Message
from tests.e2e.conftest import ROOMY_LIMITS, Stack, fake_clip, png
from tests.e2e.test_studio import animate, open_form

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = ROOMY_LIMITS


async def picture(stack: Stack, author: Member, colour: str = "olive") -> Message:
    return await stack.dd.post_message(
        "my photo", user=author, attachments=[("me.png", png(640, 480, colour), "image/png")]
    )


async def refused_before_the_form(stack: Stack, message: Message, member: Member) -> str:
    """Open the form on `message` as `member`; it must be refused at once, with nothing run."""
    runs, messages = len(stack.sim.runs), len(stack.dd.messages_in())
    opened = await open_form(stack, message, member)
    assert opened.ack_type == 4  # an answer, no form
    text = await stack.answer(opened)
    assert len(stack.sim.runs) == runs
    assert len(stack.dd.messages_in()) == messages  # no card
    return text


async def rule(stack: Stack, who: str) -> None:
    assert f"(`{who}`)" in await stack.admin("animate", {"who": who})


@contextlib.asynccontextmanager
async def under_rule(stack: Stack, who: str) -> AsyncIterator[None]:
    """Set the server's Animate rule for the body of an `async with`, then back to `own`."""
    await rule(stack, who)
    try:
        yield
    finally:
        await rule(stack, "own")


async def test_a_member_animates_their_own_image_by_default(stack: Stack) -> None:
    member = stack.member("selfie")
    assert "(`own`, the default)" in await stack.admin("animate")
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    text, card, job_id = await animate(stack, await picture(stack, member), member)
    assert card is not None and job_id is not None, text
    assert await stack.wait_final(card) == "✅ Video ready"
    assert "Image by" not in (stack.field(card, "Source") or "")


async def test_another_members_image_is_refused_under_own_and_runs_under_anyone(
    stack: Stack,
) -> None:
    author, member = stack.member("photographer"), stack.member("borrower")
    photo = await picture(stack, author, "maroon")
    text = await refused_before_the_form(stack, photo, member)
    assert "only images from your own messages" in text and "Nothing was spent" in text

    async with under_rule(stack, "anyone"):
        stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
        text, card, job_id = await animate(stack, photo, member, {"prompt": "wind"})
        assert card is not None and job_id is not None, text
        assert await stack.wait_final(card) == "✅ Video ready"
        # The card names whose image it was, without pinging them.
        assert f"Image by <@{author.user.id}>" in (stack.field(card, "Source") or "")
        assert card.allowed_mentions is None or not card.allowed_mentions.get("users")
        jobs = await stack.answer(await stack.dd.slash("jobs", user=member))
        assert f"from <@{author.user.id}>'s image" in jobs


async def test_moderators_may_animate_anyones_image_under_moderators(stack: Stack) -> None:
    author, member = stack.member("artist"), stack.member("fan")
    photo = await picture(stack, author, "navy")
    async with under_rule(stack, "moderators"):
        text = await refused_before_the_form(stack, photo, member)
        assert "only moderators can animate other members' images" in text
        stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
        text, card, job_id = await animate(stack, photo, stack.moderator, {"prompt": "rain"})
        assert card is not None and job_id is not None, text
        assert await stack.wait_final(card) == "✅ Video ready"


async def test_an_author_who_refused_is_never_animated_by_others(stack: Stack) -> None:
    author, member = stack.member("private"), stack.member("curious")
    answer = await stack.answer(
        await stack.dd.slash("videoprivacy", {"animate": "deny"}, user=author)
    )
    assert "nobody else can animate your images" in answer
    photo = await picture(stack, author, "teal")
    async with under_rule(stack, "anyone"):
        text = await refused_before_the_form(stack, photo, member)
        assert "asked that their images not be animated" in text
        # Not even a moderator; but the author still animates their own picture.
        await refused_before_the_form(stack, photo, stack.moderator)
        stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
        text, card, _ = await animate(stack, photo, author, {"prompt": "smile"})
        assert card is not None, text
        # Allowing again lets the server's rule decide.
        await stack.answer(await stack.dd.slash("videoprivacy", {"animate": "allow"}, user=author))
        stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
        text, card, _ = await animate(stack, photo, member, {"prompt": "smile"})
        assert card is not None, text


async def test_the_author_deletes_a_clip_made_from_their_image(stack: Stack) -> None:
    author, member = stack.member("owner"), stack.member("animator")
    photo = await picture(stack, author, "purple")
    async with under_rule(stack, "anyone"):
        stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
        text, card, job_id = await animate(stack, photo, member, {"prompt": "a wave"})
        assert card is not None and job_id is not None, text
        assert await stack.wait_final(card) == "✅ Video ready"
        await stack.wait_clip(job_id)
        # A third member may not; the picture's author may.
        answer = await stack.click(card, f"video:delete:{job_id}", user=stack.member("third"))
        assert "whose image it animated" in answer
        answer = await stack.click(card, f"video:delete:{job_id}", user=author)
        assert answer.startswith("Deleted the clip of job"), answer
        assert stack.clip_messages(job_id) == []
        await stack.dd.wait_for(
            lambda: f"<@{author.user.id}>" in (stack.field(card, "Deleted") or ""), 10
        )


async def test_the_bots_own_messages_belong_to_the_member_whose_job_posted_them(
    stack: Stack,
) -> None:
    member, other = stack.member("maker"), stack.member("passerby")
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    run = await stack.video("a lighthouse", user=member, image=png(640, 360, "purple"))
    assert run.card is not None and run.job_id is not None, run.text
    assert await stack.wait_final(run.card) == "✅ Video ready"
    card = stack.dd.world.messages[run.card.id]  # with its first-frame thumbnail
    # The card is the member's own: they may animate it; another member may not.
    text = await refused_before_the_form(stack, card, other)
    assert "only images from your own messages" in text
    # The member passes the consent check and reaches the image's own checks (the card's
    # thumbnail is 320 px wide, under the first frame's 300 px short side).
    text, again, _ = await animate(stack, card, member, {"prompt": "waves"})
    assert again is None and "at least 300 px" in text, text
