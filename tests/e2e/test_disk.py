"""The real bot on a disk under its free-space floor: new videos are refused before anything is
spent (MIN_FREE_DISK_MB set far above any disk's free space, so the floor is always crossed)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack, png

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {"MIN_FREE_DISK_MB": "1000000"}  # 1 TB: more than this machine has free


async def test_a_nearly_full_disk_refuses_new_videos_before_anything_is_spent(
    stack: Stack,
) -> None:
    member = stack.member()
    runs = len(stack.sim.runs)
    messages = len(stack.dd.messages_in())
    run = await stack.video("a lighthouse at night", user=member, image=png(640, 360))
    assert run.card is None, run.reply
    assert "nearly out of disk space" in run.reply and "Nothing was spent" in run.reply
    assert len(stack.sim.runs) == runs
    assert len(stack.dd.messages_in()) == messages  # no public card
    assert stack.bot is not None
    await stack.bot.wait_for_line("disk nearly full", 5)  # the operator is told, once
    assert await stack.used_credits(member) == 0
