"""ClipStore's size cap on its own: what it counts, what it may remove, in which order."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bot.media.video.store import ClipStore


def _file(path: Path, size: int, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_first_frames_count_but_go_only_when_known_not_in_use(tmp_path: Path) -> None:
    frames = tmp_path / "bot.sqlite3-frames"
    store = ClipStore(tmp_path / "clips", cap_bytes=1000, frames_dir=frames)
    in_use = _file(frames / "job-1.frame", 600, age_s=500)
    finished = _file(frames / "job-2.frame", 300, age_s=400)
    clip = _file(store.path(3), 300, age_s=100)

    # At start-up nobody has asked storage which frames are in use: only clips may go.
    assert store.prune() == 1
    assert not clip.exists() and in_use.exists() and finished.exists()

    _file(store.path(4), 300, age_s=100)
    fresh = _file(frames / "job-5.frame", 300, age_s=0)  # saved after the question was asked
    asked_at = time.time() - 50
    assert store.prune(frames_in_use={in_use}, fresh_after=asked_at) == 2
    assert in_use.exists() and fresh.exists()
    assert not finished.exists() and store.get(4) is None


def test_a_clip_over_the_cap_is_left_where_it_was(tmp_path: Path) -> None:
    store = ClipStore(tmp_path / "clips", cap_bytes=100)
    big = _file(tmp_path / "download.mp4", 101, age_s=0)
    assert store.put(7, big) is None
    assert big.exists() and store.get(7) is None
    small = _file(tmp_path / "small.mp4", 100, age_s=0)
    assert store.put(7, small) == store.path(7)


async def test_trim_without_an_answer_from_storage_still_keeps_clips_under_the_cap(
    tmp_path: Path,
) -> None:
    """The database closing (shutdown) never fails a delivery's trim: only clips go then."""

    async def closed() -> frozenset[Path]:
        raise RuntimeError("the database is not open")

    frames = tmp_path / "bot.sqlite3-frames"
    store = ClipStore(tmp_path / "clips", cap_bytes=500, frames_dir=frames, frames_in_use=closed)
    frame = _file(frames / "job-1.frame", 300, age_s=900)
    old = _file(store.path(2), 300, age_s=600)
    new = _file(store.path(3), 100, age_s=0)
    assert await store.trim() == 1
    assert frame.exists() and not old.exists() and new.exists()
