"""End to end: the bot's disk takes no file over 8 MiB (RLIMIT_FSIZE, set by launch_bot.py), so
saving a 12 MiB clip fails half way, as on a full disk. The member still gets the clip, as its
link with the reason, and is charged once; a small clip is attached as usual.
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.e2e.conftest import Stack, fake_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

MIB = 1024 * 1024
STACK_ENV = {"E2E_MAX_FILE_BYTES": str(8 * MIB), "DEFAULT_QUOTA_CREDITS": "100"}


def ledger(stack: Stack, job_id: int) -> list[str]:
    uri = f"{(stack.tmp / 'bot.sqlite3').resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute("SELECT kind FROM ledger WHERE job_id = ? ORDER BY id", [job_id])
        return [kind for (kind,) in rows]


async def test_a_clip_the_disk_cannot_hold_is_linked_with_the_reason_and_charged(
    stack: Stack,
) -> None:
    stack.sim.script_next(TaskScript(clip=fake_clip(12 * MIB)))
    run = await stack.video("a long clip for a small disk", user=stack.member())
    message = await stack.wait_linked_clip(run)
    assert "The bot's disk is full, so the clip is linked." in message.content
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert "The bot's disk is full" in (stack.field(run.card, "Note") or "")
    assert ledger(stack, run.job_id) == ["reserve", "charge"]
    await stack.wait_log("could not save the clip")


async def test_a_clip_the_disk_can_hold_is_attached(stack: Stack) -> None:
    clip = fake_clip(200_000)
    stack.sim.script_next(TaskScript(clip=clip))
    run = await stack.video("a short clip", user=stack.member())
    assert run.card is not None and run.job_id is not None, run.reply
    message = await stack.wait_clip(run.job_id, timeout=30)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert await stack.wait_final(run.card) == "✅ Video ready"
    assert ledger(stack, run.job_id) == ["reserve", "charge"]
