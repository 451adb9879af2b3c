"""First-frame images kept with their job (schema version 2)."""

from __future__ import annotations

import pytest

from storage.api import JobNotFound
from storage.db import FRAME_KEEP, Database
from storage.models import JobState, StoredFrame

from .conftest import Clock, make_job

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


async def test_save_load_replace(db: Database) -> None:
    job = await make_job(db, has_image=True)
    assert await db.load_frame(job.id) is None
    await db.save_frame(job.id, PNG, "image/png", "frame.png")
    frame = await db.load_frame(job.id)
    assert frame == StoredFrame(PNG, "image/png", "frame.png")
    assert frame is not None and frame[0] == PNG and frame[2] == "frame.png"  # tuple access
    await db.save_frame(job.id, b"\xff\xd8\xff" + b"x" * 10, "image/jpeg", "a.jpg")
    again = await db.load_frame(job.id)
    assert again is not None and again.content_type == "image/jpeg"


async def test_save_for_a_missing_job(db: Database) -> None:
    with pytest.raises(JobNotFound):
        await db.save_frame(4242, PNG, "image/png", "frame.png")


async def test_delete_now_or_keep_for_a_while(db: Database, clock: Clock) -> None:
    failed = await make_job(db, JobState.FAILED, has_image=True)
    done = await make_job(db, JobState.SUCCEEDED, has_image=True)
    running = await make_job(db, JobState.RUNNING, has_image=True)
    for job in (failed, done, running):
        await db.save_frame(job.id, PNG, "image/png", "frame.png")

    await db.delete_frame(failed.id)
    await db.delete_frame(done.id, keep_for_reroll=True)
    assert await db.load_frame(failed.id) is None
    assert await db.load_frame(done.id) is not None

    clock.advance(seconds=FRAME_KEEP.total_seconds() + 1)
    await db.delete_frame(12345)  # any call sweeps frames past their keep time
    assert await db.load_frame(done.id) is None
    assert await db.load_frame(running.id) is not None  # jobs in flight keep theirs
