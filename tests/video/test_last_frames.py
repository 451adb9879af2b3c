"""LastFrames: background decodes of kept clips' last frames leave the worker a free thread, and
a member's Extend does not queue behind them (real PyAV on small clips)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.media.video.frames import last_frame_png
from bot.media.video.last_frames import LastFrames
from bot.media.video.store import ClipStore
from bot.media.video.worker import VideoWorker
from tests.factories import TEST_TIMING


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[VideoWorker]:
    w = VideoWorker(tmp_path / "work", slots=2, niceness=TEST_TIMING.video_niceness)
    yield w
    w.close()


def _kept(tmp_path: Path, *clips: Path) -> ClipStore:
    """A clip store holding copies of `clips` as the kept clips of jobs 1, 2, …"""
    store = ClipStore(tmp_path / "clips")
    for job_id, clip in enumerate(clips, start=1):
        copy = tmp_path / f"copy{job_id}.mp4"
        shutil.copyfile(clip, copy)
        store.put(job_id, copy)
    return store


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) until `condition` holds."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not hold in time")


async def test_background_decodes_leave_a_thread_free_and_an_extend_goes_first(
    worker: VideoWorker,
    plain: Path,
    plain2: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _kept(tmp_path, plain, plain2)
    calls: list[str] = []
    release = asyncio.Event()
    real = worker.last_frame

    async def held(clip: Path) -> bytes:
        calls.append(clip.name)
        await asyncio.wait_for(release.wait(), 15)
        return await real(clip)

    monkeypatch.setattr(worker, "last_frame", held)
    frames = LastFrames(store, worker)
    frames.prepare(1)
    frames.prepare(2)
    for _ in range(50):  # let both tasks run as far as they can (no clock involved)
        await asyncio.sleep(0)
    # Two worker threads: one background decode at a time, the other thread stays free.
    assert calls == ["job-1.mp4"]
    assert frames.pending(2)

    # An Extend of job 2 does not wait behind job 1: its decode starts now, on the free thread.
    extend = asyncio.create_task(frames.get(2))
    await _until(lambda: len(calls) == 2)
    assert calls == ["job-1.mp4", "job-2.mp4"]
    release.set()
    png = await asyncio.wait_for(extend, 15)
    assert png == await asyncio.to_thread(last_frame_png, store.path(2))
    assert store.last_frame(2) == png
    await _until(lambda: not frames.pending(1))  # job 1's background decode is stored
    assert store.last_frame(1) == await asyncio.to_thread(last_frame_png, store.path(1))
    assert len(calls) == 2  # the queued background decode of job 2 never ran
    await frames.close()


async def test_an_extend_right_after_the_clip_is_kept_does_not_queue_either(
    worker: VideoWorker,
    plain: Path,
    plain2: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _kept(tmp_path, plain, plain2)
    calls: list[str] = []
    release = asyncio.Event()
    real = worker.last_frame

    async def held(clip: Path) -> bytes:  # job 1's decode holds the one background turn
        calls.append(clip.name)
        if clip.name == "job-1.mp4":
            await asyncio.wait_for(release.wait(), 15)
        return await real(clip)

    monkeypatch.setattr(worker, "last_frame", held)
    frames = LastFrames(store, worker)
    frames.prepare(1)
    await _until(lambda: bool(calls))
    frames.prepare(2)
    png = await frames.get(2)  # before job 2's background task has even started
    assert frames.pending(1)  # job 1 still holds its turn: job 2 did not wait for it
    assert calls == ["job-1.mp4", "job-2.mp4"]
    assert png == store.last_frame(2)
    release.set()
    await frames.close()
