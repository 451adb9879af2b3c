"""A finished clip over the upload limit is re-encoded to fit it; linked only if that fails.

A 413 for a clip the bot believed would fit is learned from: fitted to the base limit and tried
once more, and the next clip in that server is fitted at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from bot.jobs.contracts import ClipToPost, Delivery, UploadTooLarge
from bot.jobs.service import JobService
from bot.media.video.probe import probe
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import Job, JobState
from tests.factories import MakeService
from tests.jobs.doubles import RecordingPresenter, request
from tests.jobs.waits import succeeded, wait_terminal
from tests.video.clips import decode_all, write_clip


@pytest.fixture(scope="module")
def grainy_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 2 s H.264 clip of film grain at 24 fps: big for its length, costly to fit."""
    path = tmp_path_factory.mktemp("fit") / "grainy.mp4"
    return write_clip(path, seconds=2, fps=24, crf=12, grain=True).read_bytes()


async def test_a_clip_over_the_limit_is_compressed_and_attached(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    tmp_path: Path,
    grainy_clip: bytes,
) -> None:
    data = grainy_clip
    presenter.upload_limit = len(data) // 3
    done = await succeeded(service, sim, db, data)
    [(_, posted, size)] = presenter.deliveries
    assert posted is not None and size == len(posted) <= presenter.upload_limit
    assert presenter.original_sizes == [len(data)]
    assert done.outcome_reason == "compressed"  # the presenter's note reaches the card
    # What was posted is a real H.264 clip of the same length.
    fitted = tmp_path / "posted.mp4"
    fitted.write_bytes(posted)
    info = probe(fitted)
    assert (info.codec, info.width, info.height) == ("h264", 320, 180)
    assert len(decode_all(fitted)) == 48
    # No scratch file is left behind; the original is kept (full quality) for Extend.
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["clips"]
    assert service.clips.path(done.id).read_bytes() == data


async def test_a_clip_that_cannot_be_compressed_is_linked(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    clip = b"\x00\x00\x00\x18ftypmp42" + b"x" * 50_000  # not decodable
    presenter.upload_limit = 10_000
    done = await succeeded(service, sim, db, clip)
    assert [d[1] for d in presenter.deliveries] == [clip]
    assert presenter.original_sizes == [None]
    assert done.outcome_reason == "linked"


async def test_a_clip_within_the_limit_is_posted_untouched(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    tmp_path: Path,
) -> None:
    source = await asyncio.to_thread(write_clip, tmp_path / "small.mp4", seconds=1)
    data = source.read_bytes()
    await succeeded(service, sim, db, data)
    assert [d[1] for d in presenter.deliveries] == [data]
    assert presenter.original_sizes == [None]


@dataclass
class ShrunkPresenter(RecordingPresenter):
    """The server lost its boosts: Discord refuses files over `real_limit` (413), while the
    bot still believes its `upload_limit`."""

    real_limit: int = 0
    refused: list[int] = field(default_factory=list)

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        size = post.size
        if post.clip is not None and size is not None and size > self.real_limit:
            self.refused.append(size)
            raise UploadTooLarge(size)
        return await super().deliver_clip(job, post)


@pytest.fixture
def shrunk(
    make_service: MakeService, grainy_clip: bytes
) -> tuple[JobService, ShrunkPresenter, bytes]:
    """A service whose "base" upload limit is half a real clip, the clip, and a presenter that
    believes 10 MiB while Discord takes only up to that base limit."""
    data = grainy_clip
    presenter = ShrunkPresenter(real_limit=len(data) // 2)
    service = make_service(
        presenter=presenter, base_upload_limit=len(data) // 2, timeout=timedelta(minutes=20)
    )
    return service, presenter, data


async def test_a_413_below_the_believed_limit_is_fitted_and_tried_once_more(
    shrunk: tuple[JobService, ShrunkPresenter, bytes], sim: WiroSimulator, db: Database
) -> None:
    service, presenter, data = shrunk
    sim.script_next(TaskScript(clip=data))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id, timeout=60)

    assert done.state is JobState.SUCCEEDED
    assert presenter.refused == [len(data)]  # the upload Discord refused, once
    [(_, posted, size)] = presenter.deliveries
    assert posted is not None and size == len(posted) <= presenter.real_limit
    assert presenter.original_sizes == [len(data)] and done.outcome_reason == "compressed"
    assert [e.kind for e in await db.ledger_for_job(job.id)] == ["reserve", "charge"]

    # The next clip in this server is fitted at once: Discord refuses nothing more.
    sim.script_next(TaskScript(clip=data))
    again = await service.submit(request(), None)
    assert (await wait_terminal(db, again.id, timeout=60)).state is JobState.SUCCEEDED
    assert presenter.refused == [len(data)]
    assert len(presenter.deliveries[1][1] or b"") <= presenter.real_limit

    # The server got its boosts back: the bot believes a new limit, and the lesson is dropped.
    presenter.upload_limit, presenter.real_limit = 20 * 1024 * 1024, 20 * 1024 * 1024
    sim.script_next(TaskScript(clip=data))
    third = await service.submit(request(), None)
    assert (await wait_terminal(db, third.id, timeout=60)).state is JobState.SUCCEEDED
    assert presenter.deliveries[2][1] == data  # attached as it is


async def test_a_second_413_after_the_fit_links_the_clip(
    shrunk: tuple[JobService, ShrunkPresenter, bytes], sim: WiroSimulator, db: Database
) -> None:
    service, presenter, data = shrunk
    presenter.real_limit = 100  # below anything a clip can be fitted to
    sim.script_next(TaskScript(clip=data))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id, timeout=60)

    assert done.state is JobState.SUCCEEDED
    assert len(presenter.refused) == 2 and presenter.refused[0] == len(data)
    assert presenter.refused[1] <= len(data) // 2  # the fitted copy, refused too
    [(_, posted, _)] = presenter.deliveries
    assert posted is None  # then the link
    assert done.outcome_reason == "Discord refused the upload as too large, so the clip is linked."
    assert [e.kind for e in await db.ledger_for_job(job.id)] == ["reserve", "charge"]
