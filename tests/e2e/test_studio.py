"""End to end: the studio, part 1. Animate with Hailuo (message context menu and its form), the
`model` and `camera` options of /video, images fixed instead of refused, and their refusals.

The real bot process against the Discord double and the Wiro simulator, as in test_flow.py.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.catalogue import DEFAULT_ANIMATE_PROMPT
from bot.media.images import MAX_SOURCE_BYTES
from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Interaction, Member, Message
from tests.e2e.conftest import (
    CARD_LINK,
    JOB_ID,
    ROOMY_LIMITS,
    Stack,
    fake_clip,
    gif,
    png,
    running_stack,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = ROOMY_LIMITS
MENU = "Animate with Hailuo"
FAST_RUN = "/Run/minimax/hailuo-2-3-fast"


def jpeg(width: int, height: int, colour: str = "purple") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "JPEG", quality=90)
    return buf.getvalue()


async def open_form(stack: Stack, message: Message, member: Member) -> Interaction:
    inter = await stack.dd.message_command(MENU, message, user=member)
    await stack.dd.wait_for_ack(inter)
    return inter


async def animate(
    stack: Stack, message: Message, member: Member, values: dict[str, Any] | None = None
) -> tuple[str, Message | None, int | None]:
    """Apps → Animate with Hailuo, fill in the form, submit; return the answer, card and job."""
    opened = await open_form(stack, message, member)
    assert opened.ack_type == 9, stack.dd.ephemeral_replies(opened)
    submitted = await stack.dd.submit_modal(opened, values or {}, user=member)
    text = await stack.answer(submitted, timeout=20)
    card_id, job = CARD_LINK.search(text), JOB_ID.search(text)
    card = stack.dd.world.messages[int(card_id.group(1))] if card_id else None
    return text, card, int(job.group(1)) if job and card else None


def runs_to(stack: Stack, path: str) -> int:
    return sum(1 for p, _ in stack.sim.requests if p == path)


async def test_animate_an_attached_image_with_fast_and_camera_moves(stack: Stack) -> None:
    poster, member = stack.member("poster"), stack.member("animator")
    # Another member's picture: this server lets anyone's be animated (the default, own
    # images only, is tested in test_consent.py).
    assert "anyone" in await stack.admin("animate", {"who": "anyone"})
    frame = jpeg(720, 480)
    source = await stack.dd.post_message(
        "my drawing", user=poster, attachments=[("drawing.jpg", frame, "image/jpeg")]
    )
    stack.sim.script_next(TaskScript(clip=fake_clip(90_000), totalcost="0.32"))
    fast_runs = runs_to(stack, FAST_RUN)
    text, card, job_id = await animate(
        stack,
        source,
        member,
        {"clip": "768P:10", "model": "hailuo-2.3-fast", "camera": ["Pan left", "Zoom in"]},
    )
    assert card is not None and job_id is not None, text
    assert await stack.wait_final(card) == "✅ Video ready"
    await stack.wait_clip(job_id)
    # Wiro: the Fast slug, the moves as one bracketed group before the default prompt, the
    # member's picture as the first frame (a plain JPEG is sent as it is).
    assert runs_to(stack, FAST_RUN) == fast_runs + 1
    record = stack.sim.runs[-1]
    assert record.fields["prompt"] == f"[Pan left,Zoom in] {DEFAULT_ANIMATE_PROMPT}"
    assert record.fields["duration"] == "10" and record.fields["resolution"] == "768P"
    assert record.image == frame
    # The card: default prompt said so, model named, moves apart from the prompt, the source.
    embed = card.embeds[0]
    assert "(default)" in embed["description"] and DEFAULT_ANIMATE_PROMPT in embed["description"]
    assert "[Pan left" not in embed["description"]
    assert "Hailuo 2.3 Fast" in (stack.field(card, "Settings") or "")
    assert stack.field(card, "Camera") == "Pan left + Zoom in"
    assert f"/{source.channel_id}/{source.id}" in (stack.field(card, "Source") or "")
    assert stack.field(card, "Charged") == "1 credit"  # Fast: 1 credit whatever the setting

    # Re-roll keeps the model and the camera moves.
    stack.sim.script_next(TaskScript(clip=fake_clip(80_000)))
    answer = await stack.click(card, f"video:reroll:{job_id}", user=member)
    assert "Re-rolling as job" in answer, answer
    await stack.dd.wait_for(lambda: runs_to(stack, FAST_RUN) == fast_runs + 2, timeout=20)
    assert stack.sim.runs[-1].fields["prompt"] == f"[Pan left,Zoom in] {DEFAULT_ANIMATE_PROMPT}"


async def test_animate_fixes_the_image_and_shows_what_was_sent(stack: Stack) -> None:
    member = stack.member("panorama")
    source = await stack.dd.post_message(
        "panorama", user=member, attachments=[("pano.gif", gif(1500, 400), "image/gif")]
    )
    stack.sim.script_next(TaskScript(clip=fake_clip(70_000)))
    text, card, job_id = await animate(stack, source, member, {"prompt": "waves roll in"})
    assert card is not None and job_id is not None, text
    assert "Centre-cropped" in text
    assert await stack.wait_final(card) == "✅ Video ready"
    sent = Image.open(io.BytesIO(stack.sim.runs[-1].image or b""))
    assert sent.format == "PNG" and sent.size == (999, 400)
    assert stack.sim.runs[-1].fields["prompt"] == "waves roll in"
    note = stack.field(card, "First frame") or ""
    assert "Animated GIF" in note and "999×400" in note
    # The thumbnail is the frame sent (cropped), not the member's original.
    [thumb] = [a for a in card.attachments if a["filename"] == "first-frame.jpg"]
    shown = Image.open(io.BytesIO(stack.dd.blob(thumb["url"])))
    assert abs(shown.width / shown.height - 999 / 400) < 0.02


async def test_animate_an_embed_image(stack: Stack) -> None:
    member = stack.member("linker")
    url = stack.dd.cdn_url("preview.png", png(800, 600, "navy"), "image/png")
    source = await stack.dd.post_message(
        "look at this",
        user=member,
        embeds=[{"type": "image", "thumbnail": {"url": url, "proxy_url": url}}],
    )
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    text, card, job_id = await animate(stack, source, member, {"prompt": "the sea moves"})
    assert card is not None and job_id is not None, text
    assert await stack.wait_final(card) == "✅ Video ready"
    assert stack.sim.runs[-1].image == png(800, 600, "navy")


async def test_a_prompt_of_invisible_characters_gets_the_default(stack: Stack) -> None:
    member = stack.member("invisible")
    source = await stack.dd.post_message(
        "a photo", user=member, attachments=[("photo.jpg", jpeg(640, 480, "teal"), "image/jpeg")]
    )
    stack.sim.script_next(TaskScript(clip=fake_clip(60_000)))
    text, card, job_id = await animate(stack, source, member, {"prompt": "\u200b \u200d"})
    assert card is not None and job_id is not None, text
    assert await stack.wait_final(card) == "✅ Video ready"
    assert stack.sim.runs[-1].fields["prompt"] == DEFAULT_ANIMATE_PROMPT
    assert "(default)" in card.embeds[0]["description"]


async def test_a_message_without_an_image_is_refused_before_the_form(stack: Stack) -> None:
    member = stack.member("textonly")
    runs = len(stack.sim.runs)
    plain = await stack.dd.post_message("just words", user=member)
    video = await stack.dd.post_message(
        "a clip", user=member, attachments=[("clip.mp4", fake_clip(5000), "video/mp4")]
    )
    for message in (plain, video):
        opened = await open_form(stack, message, member)
        assert opened.ack_type == 4  # answered, no form
        text = await stack.answer(opened)
        assert "no image to animate" in text
    assert len(stack.sim.runs) == runs


async def test_a_member_who_cannot_generate_hears_it_before_the_form(stack: Stack) -> None:
    member = stack.member("blockedanimator")
    await stack.admin("block", {"user": member.user.id, "reason": "spam"})
    source = await stack.dd.post_message(
        "pic", user=member, attachments=[("ok.png", png(640, 480), "image/png")]
    )
    opened = await open_form(stack, source, member)
    assert opened.ack_type == 4  # no form: the refusal itself
    assert "blocked" in await stack.answer(opened)


@pytest.mark.parametrize(
    ("attachment", "words"),
    [
        (("small.png", png(400, 299), "image/png"), "at least 300"),
        (("notes.png", b"not a picture at all", "image/png"), "not an image"),
    ],
    ids=["too-small", "not-an-image"],
)
async def test_animate_refuses_an_unusable_image_after_the_form(
    stack: Stack, attachment: tuple[str, bytes, str], words: str
) -> None:
    member = stack.member("unusable")
    source = await stack.dd.post_message("pic", user=member, attachments=[attachment])
    runs, messages = len(stack.sim.runs), len(stack.dd.messages_in())
    text, card, _ = await animate(stack, source, member, {"prompt": "move"})
    assert card is None and words in text, text
    assert len(stack.sim.runs) == runs
    assert len(stack.dd.messages_in()) == messages  # no card
    assert await stack.used_credits(member) == 0


async def test_animate_refuses_an_image_the_bot_cannot_fetch(stack: Stack) -> None:
    member = stack.member("gone")
    source = await stack.dd.post_message(
        "pic", user=member, attachments=[("gone.png", png(640, 480), "image/png")]
    )
    opened = await open_form(stack, source, member)
    # The file disappears from the CDN between the menu and the submission.
    path = "/" + source.attachments[0]["url"].split("/", 3)[3]
    del stack.dd.world.blobs[path]
    runs = len(stack.sim.runs)
    submitted = await stack.dd.submit_modal(opened, {"prompt": "move"}, user=member)
    text = await stack.answer(submitted, timeout=20)
    assert "couldn't fetch the image" in text and "Nothing was spent" in text
    assert len(stack.sim.runs) == runs
    assert await stack.used_credits(member) == 0


async def test_animate_says_an_embed_image_too_large_is_too_large(stack: Stack) -> None:
    member = stack.member("huge-embed")
    huge = bytes(MAX_SOURCE_BYTES + 10 * 2**20)  # refused on its length, never downloaded
    url = stack.dd.cdn_url("huge.png", huge, "image/png")
    source = await stack.dd.post_message(
        "look", user=member, embeds=[{"type": "image", "image": {"url": url, "proxy_url": url}}]
    )
    runs, messages = len(stack.sim.runs), len(stack.dd.messages_in())
    text, card, _ = await animate(stack, source, member, {"prompt": "move"})
    assert card is None and "too large" in text and "60.0 MB" in text, text
    assert "couldn't fetch" not in text
    assert len(stack.sim.runs) == runs and len(stack.dd.messages_in()) == messages
    assert await stack.used_credits(member) == 0


async def test_fast_without_an_image_is_refused_with_the_reason(stack: Stack) -> None:
    member = stack.member("nofast")
    runs = len(stack.sim.runs)
    run = await stack.video("a cat", user=member, model="hailuo-2.3-fast")
    assert run.card is None
    assert "only animates an image" in run.reply and "hailuo-2.3" in run.reply
    assert len(stack.sim.runs) == runs


@pytest.mark.parametrize(
    ("camera", "words"),
    [
        ("barrel roll", ("“barrel roll” is not a camera move", "Truck left", "Static shot")),
        ("Pan left, Pan right, Zoom in, Zoom out", ("at most 3",)),
    ],
    ids=["unknown", "four"],
)
async def test_bad_camera_moves_are_refused(
    stack: Stack, camera: str, words: tuple[str, ...]
) -> None:
    runs = len(stack.sim.runs)
    run = await stack.video("a cat", user=stack.member("camera"), camera=camera)
    assert run.card is None
    for word in words:
        assert word in run.reply
    assert len(stack.sim.runs) == runs


def bomb() -> bytes:
    """A small file that decodes to 64 megapixels."""
    out = io.BytesIO()
    Image.new("L", (8000, 8000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("options", "image", "words"),
    [
        ({"resolution": "1080P", "duration": 10}, None, "1080P videos can only be 6 seconds"),
        ({}, ("broken.png", png()[:200], "image/png"), "damaged or incomplete"),
        ({}, ("tiny.png", png(200, 200), "image/png"), "at least 300"),
        ({}, ("bomb.png", bomb(), "image/png"), "too many to decode safely"),
        ({"model": "hailuo-2.3-fast"}, ("tiny.png", png(200, 320), "image/png"), "at least 300"),
    ],
    ids=["1080p-10s", "corrupt", "too-small", "bomb", "fast-too-small"],
)
async def test_bad_video_inputs_are_refused_privately_and_spend_nothing(
    stack: Stack, options: dict[str, object], image: tuple[str, bytes, str] | None, words: str
) -> None:
    member = stack.member("trier")
    runs, messages = len(stack.sim.runs), len(stack.dd.messages_in())
    run = await stack.video("a lighthouse", user=member, image=image, **options)
    assert run.card is None and words in run.reply, run.reply
    assert len(stack.sim.runs) == runs and len(stack.dd.messages_in()) == messages
    assert await stack.used_credits(member) == 0


async def test_video_with_camera_moves_sends_one_group_and_shows_them_apart(stack: Stack) -> None:
    member = stack.member("director")
    stack.sim.script_next(TaskScript(clip=fake_clip(50_000)))
    run = await stack.video("a lighthouse at dusk", user=member, camera="tilt up,  SHAKE")
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert stack.sim.runs[-1].fields["prompt"] == "[Tilt up,Shake] a lighthouse at dusk"
    assert stack.field(run.card, "Camera") == "Tilt up + Shake"
    assert "Hailuo 2.3 ·" in (stack.field(run.card, "Settings") or "")
    assert "Tilt up" not in run.card.embeds[0]["description"]


async def test_camera_autocomplete_completes_after_a_comma(stack: Stack) -> None:
    inter = await stack.dd.autocomplete(
        "video", {"prompt": "x", "camera": "Pan left, zo"}, focused="camera"
    )
    await stack.dd.wait_for_ack(inter)
    values = [c["value"] for c in (inter.response_data or {}).get("choices", [])]
    assert values == ["Pan left, Zoom in", "Pan left, Zoom out"]


async def test_quota_and_jobs_name_the_model(stack: Stack) -> None:
    member = stack.member("counter")
    inter = await stack.dd.slash("quota", user=member)
    text = await stack.answer(inter)
    assert "Hailuo 2.3 Fast" in text and "1 credit" in text
    stack.sim.script_next(TaskScript(clip=fake_clip(40_000)))
    run = await stack.video(
        "a boat", user=member, model="hailuo-2.3-fast", image=png(640, 480, "white")
    )
    assert run.card is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    inter = await stack.dd.slash("jobs", user=member)
    jobs = await stack.answer(inter)
    assert "Hailuo 2.3 Fast" in jobs, jobs


async def test_sandbox_mode_runs_the_studio(tmp_path: Path) -> None:
    # No Wiro account: the bot's own simulator answers for both slugs and makes a sample clip.
    async with running_stack(tmp_path, {**STACK_ENV, "WIRO_SANDBOX": "true"}) as stack:
        member = stack.member("sandboxer")
        source = await stack.dd.post_message(
            "try me", user=member, attachments=[("me.gif", gif(900, 300), "image/gif")]
        )
        text, card, job_id = await animate(
            stack, source, member, {"model": "hailuo-2.3-fast", "camera": ["Static shot"]}
        )
        assert card is not None and job_id is not None, text
        await stack.wait_log("submitted to hailuo-2-3-fast", timeout=30)
        assert "Sandbox clip" in card.embeds[0]["footer"]["text"]
        assert await stack.wait_final(card, timeout=120) == "✅ Video ready"
        clip = await stack.wait_clip(job_id, timeout=30)
        assert clip.attachments and clip.attachments[0]["filename"].endswith(".mp4")
        assert stack.accepted_runs() == 0  # the external simulator was never asked


async def test_a_form_open_across_a_restart_is_answered(tmp_path: Path) -> None:
    async with running_stack(tmp_path, STACK_ENV) as stack:
        member = stack.member("patient")
        source = await stack.dd.post_message(
            "pic", user=member, attachments=[("ok.png", png(640, 480), "image/png")]
        )
        opened = await open_form(stack, source, member)
        assert opened.ack_type == 9
        assert stack.bot is not None
        await stack.bot.terminate()
        await stack.start_bot()
        submitted = await stack.dd.submit_modal(opened, {"prompt": "move"}, user=member)
        text = await stack.answer(submitted)
        assert "form expired" in text and "Nothing was spent" in text
        assert stack.sim.runs == []
        # A form opened by the new process works as usual.
        text, card, _ = await animate(stack, source, member, {"prompt": "move"})
        assert card is not None, text
