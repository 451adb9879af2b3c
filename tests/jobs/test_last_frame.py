"""The last frame of a kept clip is decoded in the background after delivery, stored beside the
clip, and read by Extend (real PyAV on small clips, the Wiro simulator, a real database)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from bot.jobs.contracts import Refused
from bot.jobs.service import JobService
from bot.media.video.frames import last_frame_png
from bot.media.video.probe import VideoError
from bot.media.video.store import ClipStore
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import JobState
from tests.factories import MakeService
from tests.jobs.doubles import RecordingPresenter, extend
from tests.jobs.waits import succeeded, wait_terminal
from tests.video.clips import write_clip


@pytest.fixture(scope="module")
def part_clips(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    base = tmp_path_factory.mktemp("lf-parts")
    # Two lengths: the parts' last frames differ.
    return [
        write_clip(base / f"part{i}.mp4", width=640, height=360, seconds=s).read_bytes()
        for i, s in enumerate((1.0, 1.5))
    ]


class DecodeSpy:
    """Counts the worker's last-frame decodes; with `hold`, each waits until `release`."""

    def __init__(self, service: JobService, *, hold: bool = False) -> None:
        self._real = service.video.last_frame
        self.calls: list[Path] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_first = False  # the first decode fails as on a vanished file
        if not hold:
            self.release.set()

    async def __call__(self, clip: Path) -> bytes:
        self.calls.append(clip)
        self.started.set()
        await asyncio.wait_for(self.release.wait(), 15)
        if self.fail_first and len(self.calls) == 1:
            raise VideoError(f"cannot decode {clip.name}: No such file or directory")
        return await self._real(clip)


def spy_on(service: JobService, monkeypatch: pytest.MonkeyPatch, **kw: bool) -> DecodeSpy:
    spy = DecodeSpy(service, **kw)
    monkeypatch.setattr(service.video, "last_frame", spy)
    return spy


async def settled(service: JobService, job_id: int, timeout: float = 15.0) -> None:
    """Wait (bounded) until no background decode runs for the job."""
    end = time.monotonic() + timeout
    while service.last_frames.pending(job_id):
        assert time.monotonic() < end, f"the last frame of job {job_id} is still decoding"
        await asyncio.sleep(0.02)


async def _extend(service: JobService, job_id: int) -> int:
    return (await extend(service, job_id)).id


async def _sent_image(db: Database, ext_id: int, sim: WiroSimulator) -> bytes | None:
    """The first frame the extension's run sent to Wiro (once it has finished)."""
    done = await wait_terminal(db, ext_id)
    assert done.state is JobState.SUCCEEDED, done.outcome_reason
    return sim.runs[-1].image


async def test_the_last_frame_is_stored_after_delivery_and_extend_reads_it_without_decoding(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    part_clips: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    await settled(service, first.id)
    kept = service.clips.get(first.id)
    assert kept is not None
    stored = service.clips.frame_path(first.id).read_bytes()
    assert stored == await asyncio.to_thread(last_frame_png, kept)

    spy = spy_on(service, monkeypatch)
    sim.script_next(TaskScript(clip=part_clips[1]))
    ext_id = await _extend(service, first.id)
    assert spy.calls == []  # read from the store, not decoded
    assert await _sent_image(db, ext_id, sim) == stored

    # The stitched clip is kept, and the frame stored beside it is the stitched clip's last
    # frame (the new part's): what an Extend of the extension starts from.
    await settled(service, ext_id)
    stitched = service.clips.get(ext_id)
    assert stitched is not None and stitched.read_bytes() == presenter.deliveries[-1][1]
    assert [c.name for c in spy.calls] == [stitched.name]  # the background decode, once
    assert service.clips.last_frame(ext_id) == await asyncio.to_thread(last_frame_png, stitched)
    assert service.clips.last_frame(ext_id) != stored


async def test_extend_during_the_background_decode_waits_for_it(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    part_clips: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = spy_on(service, monkeypatch, hold=True)
    first = await succeeded(service, sim, db, part_clips[0])  # posted while the decode waits
    await asyncio.wait_for(spy.started.wait(), 15)
    assert service.last_frames.pending(first.id)

    seen: list[bool] = []
    entered = asyncio.Event()
    real_get = service.last_frames.get

    async def get(job_id: int) -> bytes:
        seen.append(service.last_frames.pending(job_id))
        entered.set()
        return await real_get(job_id)

    monkeypatch.setattr(service.last_frames, "get", get)
    sim.script_next(TaskScript(clip=part_clips[1]))
    extending = asyncio.create_task(_extend(service, first.id))
    await asyncio.wait_for(entered.wait(), 15)
    assert seen == [True] and not extending.done()
    spy.release.set()
    ext_id = await asyncio.wait_for(extending, 15)
    assert len(spy.calls) == 1  # the Extend waited for the same decode
    assert await _sent_image(db, ext_id, sim) == service.clips.last_frame(first.id)


async def test_a_background_decode_that_fails_under_an_extend_is_done_again(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    part_clips: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An Extend joins a background decode that then fails (it met the clip's file removed
    before Extend fetched the clip from Wiro again): the Extend decodes the clip as it is
    now, once, instead of refusing."""
    spy = spy_on(service, monkeypatch, hold=True)
    spy.fail_first = True
    first = await succeeded(service, sim, db, part_clips[0])
    await asyncio.wait_for(spy.started.wait(), 15)

    joined = asyncio.Event()
    real_get = service.last_frames.get

    async def get(job_id: int) -> bytes:
        assert service.last_frames.pending(job_id)  # the background decode is under way
        joined.set()
        return await real_get(job_id)

    monkeypatch.setattr(service.last_frames, "get", get)
    sim.script_next(TaskScript(clip=part_clips[1]))
    extending = asyncio.create_task(_extend(service, first.id))
    await asyncio.wait_for(joined.wait(), 15)
    spy.release.set()  # the joined decode fails now
    ext_id = await asyncio.wait_for(extending, 15)
    assert len(spy.calls) == 2  # the failed background decode, then the Extend's own
    assert await _sent_image(db, ext_id, sim) == last_frame_png(service.clips.path(first.id))


async def test_a_missing_or_damaged_frame_is_decoded_again_and_stored(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    part_clips: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    await settled(service, first.id)
    frame = service.clips.frame_path(first.id)
    good = frame.read_bytes()
    frame.unlink()  # a clip kept by an older version, or the file removed

    spy = spy_on(service, monkeypatch)
    sim.script_next(TaskScript(clip=part_clips[1]))
    ext_id = await _extend(service, first.id)
    assert len(spy.calls) == 1
    assert frame.read_bytes() == good  # stored for the next time
    assert await _sent_image(db, ext_id, sim) == good
    await settled(service, ext_id)

    frame.write_bytes(good[: len(good) // 2])  # damaged on disk
    spy.calls.clear()
    sim.script_next(TaskScript(clip=part_clips[1]))
    again = await _extend(service, first.id)
    assert len(spy.calls) == 1
    assert frame.read_bytes() == good
    assert await _sent_image(db, again, sim) == good


async def test_a_corrupt_clip_is_delivered_and_its_failed_decode_only_logged(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    part_clips: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    corrupt = part_clips[0][:48] + bytes(len(part_clips[0]) - 48)
    with caplog.at_level(logging.WARNING, logger="bot.media.video.last_frames"):
        first = await succeeded(service, sim, db, corrupt)
        await settled(service, first.id)
    assert presenter.deliveries[-1][1] == corrupt  # posted as Wiro made it
    assert service.clips.get(first.id) is not None
    assert service.clips.last_frame(first.id) is None
    failures = [r for r in caplog.records if r.name == "bot.media.video.last_frames"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING and failures[0].exc_info is None
    assert f"job={first.id}" in failures[0].getMessage()
    # An Extend tries once more and answers in plain words; nothing is charged.
    runs = len(sim.runs)
    with pytest.raises(Refused, match="last frame of this clip could not be read"):
        await _extend(service, first.id)
    assert len(sim.runs) == runs
    assert await db.count_in_flight(first.guild_id) == 0


async def test_shutdown_cancels_a_running_decode(
    make_service: MakeService,
    sim: WiroSimulator,
    db: Database,
    part_clips: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = make_service()
    spy = spy_on(service, monkeypatch, hold=True)
    first = await succeeded(service, sim, db, part_clips[0])
    await asyncio.wait_for(spy.started.wait(), 15)
    await service.shutdown(timeout=2)
    assert not service.last_frames.pending(first.id)
    assert service.clips.last_frame(first.id) is None
    service.last_frames.prepare(first.id)  # refused after shutdown: nothing new starts
    assert not service.last_frames.pending(first.id)


def test_prune_removes_a_frame_with_its_clip_and_orphans(tmp_path: Path) -> None:
    store = ClipStore(tmp_path / "clips")
    for job_id in (1, 2, 3):
        src = tmp_path / f"src{job_id}.mp4"
        src.write_bytes(b"clip")
        store.put(job_id, src)
        store.put_last_frame(job_id, b"png %d" % job_id)
    now = time.time()
    old = now - store.keep_for.total_seconds() - 60
    os.utime(store.path(1), (old, old))
    store.path(3).unlink()  # its frame is an orphan
    (store.directory / f".{store.frame_path(2).name}.abcd.part").write_bytes(b"half")

    assert store.prune(now) == 1
    names = sorted(p.name for p in store.directory.iterdir())
    assert names == [".job-2.last.png.abcd.part", "job-2.last.png", "job-2.mp4"]
    assert store.last_frame(2) == b"png 2" and store.last_frame(1) is None
    assert store.remove_leftovers() == 1
    assert sorted(p.name for p in store.directory.iterdir()) == ["job-2.last.png", "job-2.mp4"]

    # A new clip for the job replaces the frame decoded from the old one.
    src = tmp_path / "again.mp4"
    src.write_bytes(b"other clip")
    store.put(2, src)
    assert store.last_frame(2) is None and not store.frame_path(2).exists()
