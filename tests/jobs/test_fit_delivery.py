"""A finished clip over the upload limit is re-encoded to fit it; linked only if that fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs import JobService
from bot.video import probe
from bot.wiro.sandbox import TaskScript, WiroSimulator
from storage.db import Database
from storage.models import JobState
from tests.jobs.conftest import RecordingPresenter, request, wait_terminal
from tests.video.clips import decode_all, write_clip


async def test_a_clip_over_the_limit_is_compressed_and_attached(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    tmp_path: Path,
) -> None:
    source = await asyncio.to_thread(
        write_clip, tmp_path / "big.mp4", seconds=2, fps=24, crf=12, grain=True
    )
    data = source.read_bytes()
    presenter.upload_limit = len(data) // 3
    sim.script_next(TaskScript(clip=data))
    job = await service.submit(request(), None)

    done = await wait_terminal(db, job.id)

    assert done.state is JobState.SUCCEEDED
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
    assert service.clips.path(job.id).read_bytes() == data


async def test_a_clip_that_cannot_be_compressed_is_linked(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    clip = b"\x00\x00\x00\x18ftypmp42" + b"x" * 50_000  # not decodable
    presenter.upload_limit = 10_000
    sim.script_next(TaskScript(clip=clip))
    job = await service.submit(request(), None)

    done = await wait_terminal(db, job.id)

    assert done.state is JobState.SUCCEEDED
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
    sim.script_next(TaskScript(clip=data))
    job = await service.submit(request(), None)

    done = await wait_terminal(db, job.id)

    assert done.state is JobState.SUCCEEDED
    assert [d[1] for d in presenter.deliveries] == [data]
    assert presenter.original_sizes == [None]
