"""End to end: Discord refuses (413) a clip the bot believed would fit, because the server lost
its boosts and no update reached the bot. The clip is fitted to Discord's base limit and posted
on the second try, and the next clip in that server is fitted at once.
"""

from __future__ import annotations

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Member, Message
from tests.e2e.conftest import Stack, VideoRun
from tests.video.clips import grainy_720p_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

PREMIUM_TIER = 2  # the bot starts believing 50 MiB per file
STACK_ENV = {"DEFAULT_QUOTA_CREDITS": "100", "MAX_JOBS_PER_USER": "5"}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real H.264 clip over Discord's base 10 MiB (lossless film grain, 720p)."""
    data = grainy_720p_clip(tmp_path_factory.mktemp("clips"))
    assert 10 * MIB < len(data) < 50 * MIB
    return data


def refused(stack: Stack) -> int:
    return sum(1 for c in stack.dd.world.calls if c.status == 413)


async def posted_within_base_limit(
    stack: Stack, member: Member, prompt: str, clip: bytes
) -> tuple[VideoRun, Message]:
    """Run a /video whose Wiro task yields `clip`; its clip message must attach one file within
    Discord's base 10 MiB."""
    stack.sim.script_next(TaskScript(clip=clip))
    run = await stack.video(prompt, user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    message = await stack.wait_clip(run.job_id, timeout=120)
    [attachment] = message.attachments
    assert len(stack.dd.blob(attachment["url"])) <= 10 * MIB
    return run, message


async def test_a_413_below_the_believed_limit_is_fitted_and_posted_on_the_second_try(
    stack: Stack, big_clip: bytes
) -> None:
    assert stack.dd.guild is not None
    stack.dd.guild.premium_tier = 0  # boosts lost: Discord takes 10 MiB; the bot's cache says 50
    member = stack.member()
    run, message = await posted_within_base_limit(stack, member, "a grainy old film", big_clip)
    assert "Compressed to fit the upload limit" in message.content
    assert refused(stack) == 1  # the first, unfitted upload
    assert await stack.wait_final(run.card) == "✅ Video ready"

    # The next clip in this server is fitted before its upload: no second 413.
    again, _ = await posted_within_base_limit(stack, member, "the same film again", big_clip)
    assert refused(stack) == 1
    assert await stack.wait_final(again.card) == "✅ Video ready"
