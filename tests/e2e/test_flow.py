"""End to end: /video from the slash command to the posted clip, failures, cancel, delivery paths.

One bot, double and simulator for the module; every test uses its own member (and channel where
card pacing matters) so their credits and limits do not interact.
"""

from __future__ import annotations

import pytest

from bot.wiro.sandbox import TaskScript
from tests.e2e.conftest import Stack, fake_clip, gif, png

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {
    "DEFAULT_QUOTA_CREDITS": "1000",
    "MAX_JOBS_PER_USER": "25",
    "MAX_JOBS_PER_GUILD": "40",
}


async def test_text_to_video_posts_the_clip_and_a_done_card(stack: Stack) -> None:
    member = stack.member("alice")
    clip = fake_clip(150_000)
    stack.sim.script_next(TaskScript(clip=clip, totalcost="0.28"))
    runs = len(stack.sim.runs)
    run = await stack.video("a red fox running through snow", user=member)

    assert run.interaction.ack_latency is not None and run.interaction.ack_latency < 3.0
    assert run.card is not None and run.job_id is not None, run.reply
    assert str(run.card.id) in run.reply  # the ephemeral answer links the card
    assert await stack.wait_final(run.card) == "✅ Video ready"
    message = await stack.wait_clip(run.job_id)
    [attachment] = message.attachments
    assert attachment["filename"].endswith(".mp4")
    assert stack.dd.blob(attachment["url"]) == clip
    assert f"<@{member.user.id}>" in message.content
    # The card: done, time taken, credits charged, a link to the clip and Re-roll.
    assert stack.field(run.card, "Time taken")
    assert stack.field(run.card, "Charged") == "1 credit"
    assert str(message.id) in (stack.field(run.card, "Clip") or "")
    assert run.card.custom_ids() == [f"video:reroll:{run.job_id}"]
    assert len(stack.sim.runs) == runs + 1
    assert stack.sim.runs[-1].fields["prompt"] == "a red fox running through snow"
    assert stack.sim.runs[-1].image is None


async def test_image_to_video_sends_the_attached_frame_to_wiro(stack: Stack) -> None:
    member = stack.member("bob")
    frame = png(720, 480, "orange")
    clip = fake_clip(120_000)
    stack.sim.script_next(TaskScript(clip=clip))
    run = await stack.video("the sun sets", user=member, image=frame, resolution="1080P")

    assert run.card is not None and run.job_id is not None, run.reply
    assert run.interaction.ack_latency is not None and run.interaction.ack_latency < 3.0
    assert await stack.wait_final(run.card) == "✅ Video ready"
    message = await stack.wait_clip(run.job_id)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    record = stack.sim.runs[-1]
    assert record.image == frame  # the bytes the member attached, fetched from the CDN
    assert record.fields["resolution"] == "1080P"
    assert stack.field(run.card, "Charged") == "2 credits"
    assert run.card.custom_ids() == [f"video:reroll:{run.job_id}"]
    # The card keeps the first-frame thumbnail it was posted with.
    assert run.card.embeds[0]["thumbnail"]["url"].startswith(("attachment://", "http"))


BAD_IMAGES = {
    "not an image": (("notes.png", b"just some text, not a picture", "image/png"), "not an image"),
    "gif": (("anim.gif", gif(), "image/gif"), "GIF"),
    "too small": (("small.png", png(400, 299), "image/png"), "at least 300"),
    "too wide": (("wide.png", png(1000, 400), "image/png"), "too wide"),
    "too tall": (("tall.png", png(400, 1000), "image/png"), "too tall"),
    "over 20 MB": (("huge.png", b"\x89PNG" + bytes(21 * 1024 * 1024), "image/png"), "20 MB"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
async def test_bad_image_is_refused_before_anything_is_spent(stack: Stack, case: str) -> None:
    spec, words = BAD_IMAGES[case]
    runs = len(stack.sim.runs)
    messages = len(stack.dd.messages_in())
    run = await stack.video("a cat", user=stack.member(), image=spec)
    assert run.card is None, run.reply
    assert words.lower() in run.reply.lower()
    assert len(stack.sim.runs) == runs
    assert len(stack.dd.messages_in()) == messages  # no public card


@pytest.mark.parametrize(
    ("prompt", "options", "words"),
    [
        ("   ", {}, "empty"),
        ("x" * 2001, {}, "2000"),
        ("a cat", {"resolution": "1080P", "duration": 10}, "6 seconds"),
    ],
    ids=["whitespace", "too long", "1080P 10 s"],
)
async def test_bad_request_is_refused_before_anything_is_spent(
    stack: Stack, prompt: str, options: dict[str, object], words: str
) -> None:
    runs = len(stack.sim.runs)
    run = await stack.video(prompt, user=stack.member(), **options)
    assert run.card is None, run.reply
    assert words in run.reply
    assert len(stack.sim.runs) == runs
