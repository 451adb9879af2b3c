"""LastFrames: background decodes of kept clips' last frames leave the worker a free thread, and
a member's Extend does not queue behind them (real PyAV on small clips)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.media.video.frames import last_frame_png
from bot.media.video.last_frames import LastFrames
from bot.media.video.store import ClipStore
from bot.media.video.worker import VideoWorker
from tests.factories import TEST_TIMING, until


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[VideoWorker]:
    w = VideoWorker(tmp_path / "work", slots=2, niceness=TEST_TIMING.video_niceness)
    yield w
    w.close()


@pytest.fixture
def store(tmp_path: Path, plain: Path, plain2: Path) -> ClipStore:
    """A clip store holding copies of two clips as the kept clips of jobs 1 and 2."""
    kept = ClipStore(tmp_path / "clips")
    for job_id, clip in enumerate((plain, plain2), start=1):
        copy = tmp_path / f"copy{job_id}.mp4"
        shutil.copyfile(clip, copy)
        kept.put(job_id, copy)
    return kept


class HeldDecodes:
    """The worker's last_frame, recording the name of each clip it decodes; the decodes of the
    clips named in `held` (all of them if None) wait until `release` is set."""

    def __init__(self, worker: VideoWorker, held: set[str] | None = None) -> None:
        self.real = worker.last_frame
        self.held = held
        self.calls: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, clip: Path) -> bytes:
        self.calls.append(clip.name)
        if self.held is None or clip.name in self.held:
            await asyncio.wait_for(self.release.wait(), 15)
        return await self.real(clip)


async def test_background_decodes_leave_a_thread_free_and_an_extend_goes_first(
    worker: VideoWorker, store: ClipStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = HeldDecodes(worker)
    calls, release = decodes.calls, decodes.release
    monkeypatch.setattr(worker, "last_frame", decodes)
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
    await until(lambda: len(calls) == 2)
    assert calls == ["job-1.mp4", "job-2.mp4"]
    release.set()
    png = await asyncio.wait_for(extend, 15)
    assert png == await asyncio.to_thread(last_frame_png, store.path(2))
    assert store.last_frame(2) == png
    await until(lambda: not frames.pending(1))  # job 1's background decode is stored
    assert store.last_frame(1) == await asyncio.to_thread(last_frame_png, store.path(1))
    assert len(calls) == 2  # the queued background decode of job 2 never ran
    await frames.close()


async def test_an_extend_right_after_the_clip_is_kept_does_not_queue_either(
    worker: VideoWorker, store: ClipStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = HeldDecodes(
        worker, held={"job-1.mp4"}
    )  # job 1's decode holds the one background turn
    calls, release = decodes.calls, decodes.release
    monkeypatch.setattr(worker, "last_frame", decodes)
    frames = LastFrames(store, worker)
    frames.prepare(1)
    await until(lambda: bool(calls))
    frames.prepare(2)
    png = await frames.get(2)  # before job 2's background task has even started
    assert frames.pending(1)  # job 1 still holds its turn: job 2 did not wait for it
    assert calls == ["job-1.mp4", "job-2.mp4"]
    assert png == store.last_frame(2)
    release.set()
    await frames.close()
