"""The operator's side of a bounded disk: doctor's disk line, and backups of a database whose
first frames are files and whose pages are given back (auto_vacuum=INCREMENTAL)."""

from __future__ import annotations

import io
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ops.backup import backup_database
from bot.ops.checklist import Checklist
from bot.ops.disk import DiskSpace, free_bytes_at
from bot.ops.doctor import check_disk
from bot.settings import Settings, load_settings
from storage.db import Database
from storage.models import NewJob
from tests.factories import reservation_args

MIB = 1024 * 1024


def _settings(tmp_path: Path, **env: object) -> Settings:
    return load_settings(
        None,
        discord_token="x.y.z",
        wiro_sandbox=True,
        database_path=tmp_path / "data" / "bot.sqlite3",
        **env,
    )


async def test_doctor_fails_the_disk_line_under_the_floor_and_says_how_much(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, min_free_disk_mb=500, clip_store_mb=100)
    clips = tmp_path / "data" / "clips"
    clips.mkdir(parents=True)
    (clips / "job-1.mp4").write_bytes(b"x" * 3 * MIB)

    out = io.StringIO()
    checklist = Checklist(out)
    await check_disk(settings, checklist, free_bytes=lambda path: 320 * MIB)
    assert not checklist.passed
    text = out.getvalue()
    assert text.startswith("✗ Disk: only 320 MB free at")
    assert "MIN_FREE_DISK_MB=500" in text and "new videos are refused" in text
    assert "3 MB of CLIP_STORE_MB=100" in text
    assert "fix:" in text

    out = io.StringIO()
    checklist = Checklist(out)
    await check_disk(settings, checklist, free_bytes=lambda path: 20_000 * MIB)
    assert checklist.passed
    assert out.getvalue().startswith("✓ Disk: 20,000 MB free at")


async def test_backup_still_works_with_frames_as_files_and_incremental_vacuum(
    tmp_path: Path,
) -> None:
    src = tmp_path / "data" / "bot.sqlite3"
    async with Database(src) as db:
        job = await db.create_job_with_reservation(
            NewJob(guild_id=1, channel_id=2, user_id=3, prompt="p", has_image=True),
            **reservation_args(now=datetime.now(UTC), credits=10),
        )
        await db.save_frame(job.id, b"\x89PNG" + b"x" * 1000, "image/png", "first-frame.png")
        await db.delete_frame(job.id)  # the row goes, its pages become free, then reclaimed
        written = await backup_database(src, tmp_path / "copy.sqlite3")

    conn = sqlite3.connect(f"{written.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert conn.execute("SELECT id, prompt FROM jobs").fetchall() == [(job.id, "p")]
    finally:
        conn.close()
    async with Database(written) as restored:  # a restored copy opens and migrates as usual
        assert (await restored.get_job(job.id)).prompt == "p"


def test_free_space_is_read_on_the_nearest_existing_folder_and_cached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert free_bytes_at(tmp_path / "not" / "yet" / "data") > 0  # before the first start

    readings = iter([100 * MIB, 100 * MIB, 900 * MIB])
    now = [0.0]
    disk = DiskSpace(
        tmp_path, 500 * MIB, free_bytes=lambda path: next(readings), monotonic=lambda: now[0]
    )
    with caplog.at_level(logging.INFO, logger="bot.ops.disk"):
        assert disk.low() and disk.low()  # one reading for both
        now[0] += 6
        assert disk.low()  # read again after the cache time: still low, not logged again
        now[0] += 6
        assert not disk.low()  # space freed: taken again without a restart
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if "disk nearly full" in m]) == 1
    assert any("back above the floor" in m for m in lines)


def test_a_disk_that_cannot_be_measured_refuses_nothing(tmp_path: Path) -> None:
    def broken(path: Path) -> int:
        raise OSError("statvfs failed")

    assert not DiskSpace(tmp_path, 500 * MIB, free_bytes=broken).low()
    assert not DiskSpace(tmp_path, 0, free_bytes=lambda path: 0).low()  # 0 turns it off
