"""First-frame images kept with their job: rows in the frames table, bytes in files beside the
database (schema version 8)."""

# Tests look at small files between awaits; blocking for a stat() is fine here.
# ruff: noqa: ASYNC240

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlite_utils import Database as SqliteUtilsDatabase

from storage import migrations
from storage.api import JobNotFound
from storage.db import FRAME_KEEP, Database
from storage.models import Job, JobState, StoredFrame

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


async def _three_framed_jobs_after_the_deletes(db: Database) -> tuple[Job, Job, Job]:
    """A failed, a succeeded and a running job, each saved with its first frame; then the failed
    job's frame deleted at once and the succeeded one's kept for a re-roll."""
    failed = await make_job(db, JobState.FAILED, has_image=True)
    done = await make_job(db, JobState.SUCCEEDED, has_image=True)
    running = await make_job(db, JobState.RUNNING, has_image=True)
    for job in (failed, done, running):
        await db.save_frame(job.id, PNG, "image/png", "frame.png")
    await db.delete_frame(failed.id)
    await db.delete_frame(done.id, keep_for_reroll=True)
    return failed, done, running


async def test_delete_now_or_keep_for_a_while(db: Database, clock: Clock) -> None:
    failed, done, running = await _three_framed_jobs_after_the_deletes(db)
    assert await db.load_frame(failed.id) is None
    assert await db.load_frame(done.id) is not None

    clock.advance(seconds=FRAME_KEEP.total_seconds() + 1)
    await db.delete_frame(12345)  # any call sweeps frames past their keep time
    assert await db.load_frame(done.id) is None
    assert await db.load_frame(running.id) is not None  # jobs in flight keep theirs


async def test_frames_are_files_beside_the_database_not_rows(db: Database) -> None:
    job = await make_job(db, has_image=True)
    await db.save_frame(job.id, PNG, "image/png", "frame.png")
    file = db.frames_dir / f"job-{job.id}.frame"
    assert db.frames_dir == db.path.with_name(db.path.name + "-frames")
    assert file.read_bytes() == PNG
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # a member's picture
    conn = sqlite3.connect(db.path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(frames)")]
    finally:
        conn.close()
    assert "data" not in columns
    assert await db.frames_in_use() == {file}

    file.unlink()  # evicted by the size cap of kept media
    assert await db.load_frame(job.id) is None


async def test_finished_frames_are_not_in_use_and_go_with_their_row(
    db: Database, clock: Clock
) -> None:
    failed, _, running = await _three_framed_jobs_after_the_deletes(db)
    assert not (db.frames_dir / f"job-{failed.id}.frame").exists()
    assert await db.frames_in_use() == {db.frames_dir / f"job-{running.id}.frame"}

    clock.advance(seconds=FRAME_KEEP.total_seconds() + 1)
    await db.delete_frame(12345)
    assert sorted(p.name for p in db.frames_dir.iterdir()) == [f"job-{running.id}.frame"]


async def test_a_frame_that_cannot_be_written_leaves_no_row(db: Database) -> None:
    job = await make_job(db, has_image=True)
    db.frames_dir.write_bytes(b"")  # a file where the directory should be: every write fails
    with pytest.raises(OSError):
        await db.save_frame(job.id, PNG, "image/png", "frame.png")
    db.frames_dir.unlink()
    assert await db.frames_in_use() == frozenset()
    assert await db.load_frame(job.id) is None


async def test_upgrade_moves_frames_out_and_the_file_shrinks(db_path: Path, clock: Clock) -> None:
    """A version-7 file holding 24 MB of first frames: after the upgrade the images are files,
    the database gives the pages back, and the frames still load."""
    async with Database(db_path, clock=clock):
        pass  # today's schema, only to learn the job layout below
    db_path.unlink()
    conn = sqlite3.connect(db_path, isolation_level=None)
    sdb = SqliteUtilsDatabase(conn)
    migrations.migrate(sdb, target=7)
    conn.execute("PRAGMA journal_mode = DELETE")
    images = {}
    ts = "2026-01-02T03:04:05.000000+00:00"
    for n in range(1, 7):
        conn.execute(
            "INSERT INTO jobs (guild_id, channel_id, user_id, prompt, resolution, duration,"
            " prompt_optimizer, has_image, credits, state, stage, created_at, updated_at)"
            " VALUES (1, 2, 3, 'p', '768P', 6, 1, 1, 1, 'running', 'generating', ?, ?)",
            [ts, ts],
        )
        images[n] = os.urandom(4 * 1024 * 1024)
        conn.execute(
            "INSERT INTO frames (job_id, data, content_type, filename, size, created_at)"
            " VALUES (?, ?, 'image/png', 'first-frame.png', ?, ?)",
            [n, images[n], len(images[n]), ts],
        )
    conn.close()
    before = db_path.stat().st_size
    assert before > 24 * 1024 * 1024

    async with Database(db_path, clock=clock) as db:
        assert await db.schema_version() == migrations.LATEST_VERSION
        for n, data in images.items():
            frame = await db.load_frame(n)
            assert frame is not None and frame.data == data
    after = db_path.stat().st_size
    assert after < 1024 * 1024, (before, after)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental from now on
    finally:
        conn.close()


async def test_deleted_rows_give_their_pages_back(db_path: Path, clock: Clock) -> None:
    """auto_vacuum=INCREMENTAL: once many pages are free, the sweep at a job's end hands them
    back, so the file shrinks instead of only ever growing."""
    async with Database(db_path, clock=clock) as db:
        job = await make_job(db, has_image=True)
        conn = sqlite3.connect(db.path, isolation_level=None)
        try:  # many pages of rows (the audit log is the table that grows), then freed
            conn.execute("CREATE TABLE filler (x BLOB)")
            for _ in range(40):
                conn.execute("INSERT INTO filler VALUES (randomblob(256 * 1024))")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            grown = db.path.stat().st_size
            conn.execute("DROP TABLE filler")
        finally:
            conn.close()
        await db.delete_frame(job.id)  # a job's end: the sweep reclaims free pages
    assert grown > 10 * 1024 * 1024
    assert db_path.stat().st_size < grown / 4
