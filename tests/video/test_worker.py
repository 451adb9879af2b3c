"""The worker: video work off the event loop, bounded, cancellable, leaving no files behind."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.media.video.probe import VideoCancelled
from bot.media.video.worker import VideoWorker
from tests.factories import TEST_TIMING
from tests.video.clips import write_clip


@pytest.fixture
async def worker(tmp_path: Path):
    w = VideoWorker(tmp_path / "work", slots=2, niceness=TEST_TIMING.video_niceness)
    yield w
    w.close()


async def test_last_frame_stitch_and_fit_through_the_worker(worker: VideoWorker, tmp_path: Path):
    part = write_clip(tmp_path / "part.mp4", seconds=2, fps=24, crf=12, grain=True)
    png = await worker.last_frame(part)
    assert Image.open(io.BytesIO(png)).size == (320, 180)
    async with worker.scratch() as joined:
        result = await worker.stitch(part, part, joined)
        assert result.remuxed and joined.exists()
        limit = 400_000
        assert joined.stat().st_size > 2 * limit
        async with worker.scratch() as small:
            fitted = await worker.fit(joined, small, limit)
            assert small.stat().st_size <= limit
            assert fitted.info.duration == pytest.approx(result.info.duration, abs=0.1)
        assert not small.exists()
    assert not joined.exists()
    assert list((worker.work_dir).iterdir()) == []


async def test_the_event_loop_keeps_running_during_an_encode(worker: VideoWorker, tmp_path: Path):
    src = write_clip(tmp_path / "src.mp4", seconds=4, fps=24, crf=12, grain=True)
    ticks: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            ticks.append(time.perf_counter() - before)

    beat = asyncio.create_task(heartbeat())
    async with worker.scratch() as out:
        started = time.perf_counter()
        await worker.fit(src, out, 400_000)
        took = time.perf_counter() - started
    done.set()
    await beat
    # The loop ran all along: many beats, and none held up for most of the encode.
    assert len(ticks) >= 10
    assert max(ticks) < max(0.5, took / 2)


async def test_at_most_one_job_per_slot(tmp_path: Path):
    worker = VideoWorker(tmp_path, slots=2, niceness=TEST_TIMING.video_niceness)
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def job(cancel: threading.Event) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1

    tasks = [asyncio.create_task(worker._run(job)) for _ in range(5)]
    for _ in range(200):  # bounded wait for the pool to pick up what it can
        if running == 2:
            break
        await asyncio.sleep(0.01)
    assert running == 2 and worker.busy == 5
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2 and worker.busy == 0
    worker.close()


async def test_a_cancelled_fit_stops_and_leaves_no_file(worker: VideoWorker, tmp_path: Path):
    src = write_clip(tmp_path / "src.mp4", seconds=6, fps=24, crf=12, grain=True)
    async with worker.scratch() as out:
        task = asyncio.create_task(worker.fit(src, out, 300_000))
        for _ in range(500):  # wait until the encode has started writing
            if any(worker.work_dir.glob(".video-*.part*")):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert worker.busy == 0
    assert list(worker.work_dir.iterdir()) == []


async def test_cancel_flag_raises_in_the_engine(plain: Path, tmp_path: Path):
    from bot.media.video.fit import fit
    from bot.media.video.stitch import stitch

    flag = threading.Event()
    flag.set()
    with pytest.raises(VideoCancelled):
        fit(plain, tmp_path / "out.mp4", 1_000_000, cancel=flag)
    with pytest.raises(VideoCancelled):
        stitch(plain, plain, tmp_path / "out.mp4", cancel=flag)
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 (a test's tmp dir)


def test_leftovers_of_a_killed_process_are_removed(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "video-abc123.mp4").write_bytes(b"half")
    (work / ".video-abc123-1a2b.part.mp4").write_bytes(b"half")
    (work / "job-7-aa.mp4").write_bytes(b"a download: not ours")
    worker = VideoWorker(work, slots=1, niceness=TEST_TIMING.video_niceness)
    assert worker.remove_leftovers() == 2
    assert [p.name for p in work.iterdir()] == ["job-7-aa.mp4"]
