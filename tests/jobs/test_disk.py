"""A bounded disk: the size cap of kept clips and first frames (CLIP_STORE_MB) and the free-space
floor (MIN_FREE_DISK_MB), against the Wiro simulator, a real database and real files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from bot.governance.admission import DISK_NEARLY_FULL
from bot.jobs.contracts import Asker, Refused
from bot.jobs.service import JobService
from bot.ops.disk import DiskSpace
from bot.wiro.client import WiroClient
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import JobState
from tests.factories import MakeService
from tests.jobs.doubles import RecordingPresenter, png_frame, request
from tests.jobs.waits import succeeded, wait_terminal

MIB = 1024 * 1024
CLIP = b"\x00\x00\x00\x18ftypmp42" + b"x" * (300 * 1024)  # a 300 KiB "clip"


def _old_clip(service: JobService, job_id: int, size: int, age_hours: float) -> Path:
    """A clip kept `age_hours` ago (within the 72 h age rule), with its last frame."""
    service.clips.directory.mkdir(parents=True, exist_ok=True)
    clip = service.clips.path(job_id)
    clip.write_bytes(b"v" * size)
    service.clips.frame_path(job_id).write_bytes(b"p" * 30 * 1024)
    then = time.time() - age_hours * 3600
    os.utime(clip, (then, then))
    return clip


async def test_a_full_store_evicts_the_oldest_and_never_blocks_delivery(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    service = make_service(clip_store_bytes=1 * MIB)
    oldest = _old_clip(service, 9001, 400 * 1024, age_hours=30)
    middle = _old_clip(service, 9002, 400 * 1024, age_hours=20)
    newer = _old_clip(service, 9003, 300 * 1024, age_hours=10)  # 1100 KiB + 3 frames of 30 KiB

    done = await succeeded(service, sim, db, CLIP)
    assert presenter.deliveries[-1][1] == CLIP  # posted, whole
    assert service.clips.get(done.id) is not None  # and kept for Extend
    # With the new 300 KiB clip: 1490 KiB. Oldest first until under the cap: dropping one
    # (430 KiB with its frame) leaves 1060 KiB, still over 1 MiB, so the two oldest went.
    assert not oldest.exists() and not service.clips.frame_path(9001).exists()
    assert not middle.exists()
    assert newer.exists()
    total = sum(f.stat().st_size for f in service.clips.directory.iterdir())
    assert total <= 1 * MIB


async def test_a_clip_bigger_than_the_cap_is_posted_but_not_kept(
    make_service: MakeService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = make_service(clip_store_bytes=100 * 1024)
    done = await succeeded(service, sim, db, CLIP)
    assert presenter.deliveries[-1][1] == CLIP
    assert service.clips.get(done.id) is None
    downloads: list[str] = []
    real_download = WiroClient.download

    async def counted(self: WiroClient, url: str, *args: object, **kwargs: object) -> int:
        downloads.append(url)
        return await real_download(self, url, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(WiroClient, "download", counted)
    with pytest.raises(Refused, match="no longer stored"):
        await service.extend(done.id, Asker(done.user_id), prompt=None, duration=6)
    assert downloads == []  # not fetched again from Wiro only to be refused by the cap again


async def test_a_store_that_cannot_be_written_never_blocks_delivery(
    make_service: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    service = make_service(clip_store_bytes=1 * MIB)
    service.clips.directory.parent.mkdir(parents=True, exist_ok=True)
    service.clips.directory.write_bytes(b"")  # a file where the store should be: every keep fails
    await succeeded(service, sim, db, CLIP)
    assert presenter.deliveries[-1][1] == CLIP


async def test_finished_first_frames_count_under_the_cap_and_in_flight_ones_stay(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    """Storage keeps first frames as files; the cap removes a finished job's (oldest first, so
    Re-roll then says it is no longer stored) and never the frame a running job needs."""
    service = make_service(clip_store_bytes=1 * MIB)
    frame = png_frame(1600, 900)
    sim.script_next(TaskScript(clip=CLIP))
    finished = await service.submit(request(has_image=True), frame)
    assert (await wait_terminal(db, finished.id)).state is JobState.SUCCEEDED
    finished_file = db.frames_dir / f"job-{finished.id}.frame"
    assert finished_file.exists()  # kept for a re-roll
    then = time.time() - 10 * 3600  # finished ten hours ago: the oldest of all
    os.utime(finished_file, (then, then))

    sim.script_next(TaskScript(clip=CLIP, generate=30))  # stays running
    running = await service.submit(request(has_image=True), frame)
    running_file = db.frames_dir / f"job-{running.id}.frame"
    # Fill the store far past the cap with old clips.
    for n in range(4):
        _old_clip(service, 9100 + n, 400 * 1024, age_hours=5 + n)

    await service.clips.trim()

    assert running_file.exists()  # a job in flight needs it: never evicted
    assert not finished_file.exists()  # the oldest, although a tiny file
    assert await db.load_frame(finished.id) is None
    with pytest.raises(Refused, match="no longer stored"):
        await service.reroll(finished.id, Asker(finished.user_id))
    assert await db.load_frame(running.id) is not None
    await service.cancel(running.id, running.user_id, is_moderator=False)


# ------------------------------------------------------------------------------------------
# The free-space floor
# ------------------------------------------------------------------------------------------
class FreeSpace:
    """An injected free-space reading (bytes), counting how often it is asked."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0

    def __call__(self, path: Path) -> int:
        self.calls += 1
        return self.free


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def with_floor(make_service: MakeService, tmp_path: Path) -> MakeService:
    """Build a service that keeps 500 MiB free on the disk: `with_floor(free, **options)`, the
    free space read through `free`, `options` for DiskSpace."""

    def make(free: FreeSpace, **options: Any) -> JobService:
        return make_service(disk=DiskSpace(tmp_path, 500 * MIB, free_bytes=free, **options))

    return make


async def test_low_disk_refuses_new_jobs_before_anything_is_spent(
    with_floor: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    free = FreeSpace(400 * MIB)
    ticks = Ticks()
    service = with_floor(free, monotonic=ticks)

    with pytest.raises(Refused) as refused:
        await service.submit(request(has_image=True), png_frame())
    assert refused.value.message == DISK_NEARLY_FULL
    assert "disk space" in refused.value.message and "Nothing was spent" in refused.value.message
    with pytest.raises(Refused):
        await service.precheck(request())  # the early check, before the image is read

    assert await db.jobs_in_flight() == []
    assert await db.credits_used(request().guild_id, request().user_id,
                                 *_forever()) == 0  # fmt: skip
    assert sim.runs == [] and presenter.posted == []
    assert not db.frames_dir.exists() or not any(db.frames_dir.iterdir())
    assert free.calls == 1  # cached: one reading for every check within a few seconds

    free.free = 600 * MIB  # space freed: after the cache time, new jobs go again
    ticks.now += 10
    await succeeded(service, sim, db, CLIP)


async def test_jobs_in_flight_still_deliver_when_the_disk_runs_low(
    with_floor: MakeService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    free = FreeSpace(600 * MIB)
    service = with_floor(free, ttl=0)
    sim.script_next(TaskScript(clip=CLIP, generate=0.5))
    job = await service.submit(request(), None)
    free.free = 10 * MIB  # the disk fills while the job runs at Wiro
    with pytest.raises(Refused, match="disk space"):
        await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert presenter.deliveries[-1][1] == CLIP


def _forever() -> tuple[object, object]:
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
