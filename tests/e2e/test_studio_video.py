"""End to end, the studio's video work: clips fitted to the upload limit, Extend, Remake.

The simulator serves real H.264 clips here (the video engine decodes them), made once per module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.video import probe
from bot.wiro.sandbox import TaskScript
from tests.e2e.conftest import Stack, fake_clip
from tests.video.clips import write_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {"DEFAULT_QUOTA_CREDITS": "1000", "MAX_JOBS_PER_USER": "10"}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real H.264 clip over Discord's default 10 MiB (lossless film grain, 720p)."""
    path = write_clip(
        tmp_path_factory.mktemp("clips") / "big.mp4",
        width=1280,
        height=720,
        seconds=1.25,
        fps=12,
        crf=0,
        grain=True,
    )
    data = path.read_bytes()
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
    assert run.card is not None and run.job_id is not None, run.reply
    message = await stack.wait_clip(run.job_id, timeout=30)
    assert message.attachments == []
    assert f"/files/{stack.sim.runs[-1].task_id}/" in message.content
    assert "upload limit" in message.content
    assert await stack.wait_final(run.card) == "✅ Video ready"
