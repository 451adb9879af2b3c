"""End to end, the studio's video work: clips fitted to the upload limit, Extend, Remake.

The simulator serves real H.264 clips here (the video engine decodes them), made once per module.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from bot.media.video.probe import probe
from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Member, Message
from tests.e2e.conftest import Stack, fake_clip, running_stack
from tests.video.clips import clip_parts, decode_all, grainy_720p_clip, mean_abs_diff, write_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A 6 s clip may grow once by 6 s: the chain limit shows on the second card.
STACK_ENV = {"DEFAULT_QUOTA_CREDITS": "1000", "MAX_JOBS_PER_USER": "10", "MAX_CLIP_SECONDS": "12"}
MIB = 1024 * 1024
FRAMES = 12  # each part: 1 s at 12 fps, 640×360


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Real H.264 parts with the same streams (as one model's outputs are)."""
    return clip_parts(tmp_path_factory.mktemp("parts"), 3)


def job_in(answer: str) -> int:
    """The new job's id in an answer such as 'Extending as job 12. Your video is on its way…'."""
    found = re.search(r"as job (\d+)", answer)
    assert found, answer
    return int(found.group(1))


def frames_of(data: bytes, tmp: Path, name: str) -> list:
    path = tmp / name
    path.write_bytes(data)
    return decode_all(path)


async def finished_clip(stack: Stack, member: Member, clip: bytes, prompt: str):
    stack.sim.script_next(TaskScript(clip=clip))
    run = await stack.video(prompt, user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    assert await stack.wait_final(run.card) == "✅ Video ready"
    await stack.wait_clip(run.job_id)
    return run


async def open_extend_form(stack: Stack, card: Message, job_id: int, member: Member):
    opened = await stack.dd.click(card, f"video:extend:{job_id}", user=member)
    await stack.dd.wait_for(lambda: opened.ack_type == 9, 10)
    return opened


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real H.264 clip over Discord's default 10 MiB (lossless film grain, 720p)."""
    data = grainy_720p_clip(tmp_path_factory.mktemp("clips"))
    assert len(data) > 10 * MIB
    return data


async def test_a_clip_over_the_upload_limit_is_compressed_and_attached(
    stack: Stack, big_clip: bytes, tmp_path: Path
) -> None:
    stack.sim.script_next(TaskScript(clip=big_clip))
    run = await stack.video("a grainy old film", user=stack.member())
    assert run.card is not None and run.job_id is not None, run.reply
    message = await stack.wait_clip(run.job_id, timeout=60)
    [attachment] = message.attachments
    posted = stack.dd.blob(attachment["url"])
    assert len(posted) <= 10 * MIB
    clip = tmp_path / "posted.mp4"
    await asyncio.to_thread(clip.write_bytes, posted)
    info = await asyncio.to_thread(probe, clip)
    assert (info.codec, info.width, info.height) == ("h264", 1280, 720)
    assert info.duration > 1.0
    # The message and the card say it was compressed and link the original at Wiro.
    original = f"/files/{stack.sim.runs[-1].task_id}/"
    assert "Compressed to fit the upload limit" in message.content
    assert original in message.content
    assert await stack.wait_final(run.card) == "✅ Video ready"
    note = stack.field(run.card, "Note") or ""
    assert "Compressed to fit the upload limit" in note and original in note
    assert [c for c in stack.dd.world.calls if c.status == 413] == []


async def test_a_clip_that_cannot_be_compressed_is_linked(stack: Stack) -> None:
    stack.sim.script_next(TaskScript(clip=fake_clip(11 * MIB)))
    run = await stack.video("not really a video", user=stack.member())
    message = await stack.wait_linked_clip(run)
    assert "upload limit" in message.content
    assert await stack.wait_final(run.card) == "✅ Video ready"


async def test_extend_posts_one_stitched_clip_with_its_own_buttons(
    stack: Stack, parts: list[bytes], tmp_path: Path
) -> None:
    member = stack.member("extender")
    first = await finished_clip(stack, member, parts[0], "a fox walks through snow")
    assert first.card is not None and first.job_id is not None
    ids = first.card.custom_ids()
    assert f"video:extend:{first.job_id}" in ids and f"video:remake:{first.job_id}" in ids

    # Someone else's click is refused, privately.
    answer = await stack.click(first.card, f"video:extend:{first.job_id}", user=stack.member())
    assert "Only the member who asked" in answer

    # Its last frame was decoded in the background once the clip was posted.
    await stack.wait_log(f"job={first.job_id} stored the last frame", timeout=10)
    opened = await open_extend_form(stack, first.card, first.job_id, member)
    form = opened.response_data or {}
    assert "a fox walks through snow" in str(form)  # the same prompt, ready to edit
    runs = len(stack.sim.runs)
    stack.sim.script_next(TaskScript(clip=parts[1]))
    submitted = await stack.dd.submit_modal(opened, {"next": "the fox leaps", "length": "6"})
    answer = await stack.answer(submitted)
    assert "Extending as job" in answer, answer
    ext_id = job_in(answer)

    message = await stack.wait_clip(ext_id, timeout=30)
    [attachment] = message.attachments
    frames = frames_of(stack.dd.blob(attachment["url"]), tmp_path, "stitched.mp4")
    assert len(frames) == 2 * FRAMES - 1  # one clip; the repeated boundary frame dropped
    assert len(stack.sim.runs) == runs + 1
    run = stack.sim.runs[-1]
    assert run.fields["prompt"] == "the fox leaps"
    sent = Image.open(io.BytesIO(run.image or b""))
    last = frames_of(parts[0], tmp_path, "first.mp4")[-1].to_image()
    assert mean_abs_diff(sent, last) < 1  # the new run started from the last frame
    assert stack.bot is not None
    assert f"job={first.job_id} no stored last frame" not in stack.bot.output  # read, not decoded

    # The stitched clip's card: Extend (disabled: 12 s is the limit here) and Re-roll.
    card = next(m for m in stack.dd.messages_in() if m.embeds and f"Job {ext_id}" in str(m.embeds))
    assert await stack.wait_final(card) == "✅ Video ready"
    assert card.custom_ids() == [
        f"video:reroll:{ext_id}",
        f"video:extend:{ext_id}",
        f"video:remix:{ext_id}",
        f"video:delete:{ext_id}",
    ]
    button = [c for row in card.components for c in row["components"]][1]
    assert button["disabled"] and "12 s" in button["label"]
    assert f"job {first.job_id}" in (stack.field(card, "Extends") or "")

    # Re-roll of the stitched clip: the last part again, stitched anew after the first clip.
    stack.sim.script_next(TaskScript(clip=parts[2]))
    answer = await stack.click(card, f"video:reroll:{ext_id}", user=member)
    assert "Re-rolling as job" in answer, answer
    again_id = job_in(answer)
    message = await stack.wait_clip(again_id, timeout=30)
    frames = frames_of(stack.dd.blob(message.attachments[0]["url"]), tmp_path, "again.mp4")
    assert len(frames) == 2 * FRAMES - 1
    assert stack.sim.runs[-1].image == run.image


async def test_extend_of_a_small_clip_scales_its_last_frame_up(
    stack: Stack, tmp_path: Path
) -> None:
    # 320×180: its last frame is under Hailuo's 300 px short side; no traceback, no refusal.
    small = write_clip(tmp_path / "small.mp4", width=320, height=180, seconds=1).read_bytes()
    member = stack.member("small")
    first = await finished_clip(stack, member, small, "a tiny boat")
    assert first.card is not None and first.job_id is not None
    opened = await open_extend_form(stack, first.card, first.job_id, member)
    stack.sim.script_next(TaskScript(clip=small))
    answer = await stack.answer(await stack.dd.submit_modal(opened, {"length": "6"}))
    assert "Extending as job" in answer, answer
    ext_id = job_in(answer)
    await stack.wait_clip(ext_id, timeout=30)
    assert Image.open(io.BytesIO(stack.sim.runs[-1].image or b"")).size == (533, 300)
    card = next(m for m in stack.dd.messages_in() if m.embeds and f"Job {ext_id}" in str(m.embeds))
    assert await stack.wait_final(card) == "✅ Video ready"
    assert "scaled up from 320×180" in (stack.field(card, "First frame") or "")


async def test_remake_in_1080p(stack: Stack, parts: list[bytes]) -> None:
    member = stack.member("remaker")
    first = await finished_clip(stack, member, parts[0], "a lighthouse at dusk")
    assert first.card is not None and first.job_id is not None
    stack.sim.script_next(TaskScript(clip=parts[1]))
    answer = await stack.click(first.card, f"video:remake:{first.job_id}", user=member)
    assert "Remaking in 1080P as job" in answer, answer
    remake_id = job_in(answer)
    await stack.wait_clip(remake_id, timeout=30)
    run = stack.sim.runs[-1]
    assert (run.fields["resolution"], run.fields["duration"]) == ("1080P", "6")
    assert run.fields["prompt"] == "a lighthouse at dusk"


async def test_an_extension_survives_restarts(tmp_path: Path, parts: list[bytes]) -> None:
    env = {"DEFAULT_QUOTA_CREDITS": "100"}
    (tmp_path / "stack").mkdir()
    async with running_stack(tmp_path / "stack", env) as stack:
        member = stack.member("steady")
        first = await finished_clip(stack, member, parts[0], "waves on a shore")
        assert first.card is not None and first.job_id is not None
        # The form was opened before a restart and is submitted after it.
        opened = await open_extend_form(stack, first.card, first.job_id, member)
        assert stack.bot is not None
        await stack.bot.kill()
        await stack.start_bot()
        stack.sim.script_next(TaskScript(clip=parts[1], generate=4))
        submitted = await stack.dd.submit_modal(opened, {"length": "10"})
        answer = await stack.answer(submitted)
        assert "Extending as job" in answer, answer
        ext_id = job_in(answer)
        card = next(
            m for m in stack.dd.messages_in() if m.embeds and f"Job {ext_id}" in str(m.embeds)
        )
        # Killed while the extension generates: the next process stitches and posts it once.
        await stack.dd.wait_for(lambda: "Generating" in stack.title(card), 15)
        await stack.bot.kill()
        await stack.start_bot()
        await stack.wait_log("resumed 1 jobs")
        message = await stack.wait_clip(ext_id, timeout=30)
        frames = frames_of(stack.dd.blob(message.attachments[0]["url"]), tmp_path, "s.mp4")
        assert len(frames) == 2 * FRAMES - 1
        assert stack.sim.runs[-1].fields["duration"] == "10"
        assert await stack.wait_final(card) == "✅ Video ready"
        await asyncio.sleep(0.5)  # settle: a second delivery would show up by now
        assert len(stack.clip_messages(ext_id)) == 1
        assert stack.accepted_runs() == 2


@pytest.mark.timeout(300)
async def test_sandbox_mode_extends_with_real_stitching(tmp_path: Path) -> None:
    # No Wiro account: the bot's own simulator makes real H.264 sample clips (640×360), so the
    # last frame, the stitch and the post are the real thing.
    (tmp_path / "stack").mkdir()
    async with running_stack(tmp_path / "stack", {**STACK_ENV, "WIRO_SANDBOX": "true"}) as stack:
        member = stack.member("sandboxer")
        run = await stack.video("a paper boat on a pond", user=member)
        assert run.card is not None and run.job_id is not None, run.reply
        assert await stack.wait_final(run.card, timeout=120) == "✅ Video ready"
        first = await stack.wait_clip(run.job_id, timeout=30)
        first_frames = frames_of(stack.dd.blob(first.attachments[0]["url"]), tmp_path, "a.mp4")

        opened = await open_extend_form(stack, run.card, run.job_id, member)
        answer = await stack.answer(await stack.dd.submit_modal(opened, {"next": "it sails"}))
        ext_id = job_in(answer)
        message = await stack.wait_clip(ext_id, timeout=150)
        stitched = frames_of(stack.dd.blob(message.attachments[0]["url"]), tmp_path, "s.mp4")
        # 6 s + 6 s at the sample clips' 12 fps, the repeated frame at the join left out.
        assert len(first_frames) == 72
        assert len(stitched) == 2 * 72 - 1
        assert "remuxed" in await stack.wait_log(f"job={ext_id} stitched onto job", timeout=5)
        assert stack.accepted_runs() == 0  # the external simulator was never asked
