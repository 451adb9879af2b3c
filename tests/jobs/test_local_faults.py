"""A paid clip always reaches the member: faults of the bot's own machine during delivery.

Each test injects a full disk (ENOSPC) or a disk error (EIO) at one step of the delivery by
replacing the one function of that step: saving the download, fitting it to the upload limit,
reading it for the upload, stitching an Extend, keeping the clip. Wiro made and billed the clip,
so the job always ends SUCCEEDED and charged once, the clip attached or linked, and the card says
why in plain words.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.jobs.contracts import ClipToPost, Delivery
from bot.jobs.service import JobService
from bot.media.video.probe import VideoError
from bot.wiro import downloads
from bot.wiro.client import WiroClient
from bot.wiro.errors import WiroTransportError
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import Job, JobState
from tests.factories import MakeService
from tests.jobs.doubles import RecordingPresenter, extend, request
from tests.jobs.waits import wait_final_card, wait_terminal
from tests.video.clips import clip_parts

FAULTS = {
    errno.ENOSPC: "The bot's disk is full",
    errno.EIO: "The bot could not write the clip to its disk",
}


def disk_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


async def kinds(db: Database, job_id: int) -> list[str]:
    return [entry.kind for entry in await db.ledger_for_job(job_id)]


async def final_card(presenter: RecordingPresenter, job_id: int) -> Job:
    return await wait_final_card(presenter, job_id)


async def assert_linked_and_charged(
    db: Database, presenter: RecordingPresenter, job_id: int, why: str
) -> Job:
    """The job succeeded and was charged once; the clip went out as its link, saying why."""
    done = await wait_terminal(db, job_id)
    assert done.state is JobState.SUCCEEDED, done.outcome_reason
    assert await kinds(db, job_id) == ["reserve", "charge"]
    [(posted, data, _)] = [d for d in presenter.deliveries if d[0].id == job_id]
    assert data is None  # the link, not a file
    assert posted.output_url == done.output_url and done.output_url
    assert done.result_message_id is not None
    assert why in (presenter.link_reasons[-1] or "")
    assert why in (done.outcome_reason or "")
    card = await final_card(presenter, job_id)  # the card's last word says why
    assert card.state is JobState.SUCCEEDED and why in (card.outcome_reason or "")
    return done


@pytest.mark.parametrize("code", list(FAULTS))
async def test_a_disk_fault_while_saving_the_download_links_the_clip(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
) -> None:
    async def write_fails(resp: aiohttp.ClientResponse, dest: Path, max_bytes: int) -> int:
        raise disk_error(code)

    monkeypatch.setattr(downloads, "_stream_to", write_fails)
    job = await service.submit(request(), None)
    await assert_linked_and_charged(db, presenter, job.id, FAULTS[code])


async def test_a_download_that_keeps_failing_links_the_clip(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    wiro: WiroClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def unreachable(url: str, dest: Path, *, max_bytes: int) -> int:
        raise WiroTransportError("download failed (ClientConnectorError)")

    monkeypatch.setattr(wiro, "download", unreachable)
    job = await service.submit(request(), None)
    await assert_linked_and_charged(db, presenter, job.id, "could not download the clip")


@pytest.fixture
def over_the_limit(sim: WiroSimulator, presenter: RecordingPresenter) -> bytes:
    """The next clip is over the upload limit: it must be fitted before it is attached."""
    clip = b"\x00\x00\x00\x18ftypmp42" + b"x" * 50_000
    presenter.upload_limit = 10_000
    sim.script_next(TaskScript(clip=clip))
    return clip


@pytest.mark.parametrize("code", list(FAULTS))
async def test_a_disk_fault_while_fitting_the_clip_links_it(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
    over_the_limit: bytes,
    code: int,
) -> None:
    async def encode_fails(clip: Path, out: Path, limit: int) -> None:
        # What PyAV raises for a failed write (av.error.OSError), wrapped by the video engine.
        raise VideoError(f"cannot re-encode {clip.name}") from disk_error(code)

    monkeypatch.setattr(service.video, "fit", encode_fails)
    job = await service.submit(request(), None)
    await assert_linked_and_charged(db, presenter, job.id, FAULTS[code])


@pytest.mark.parametrize("code", list(FAULTS))
async def test_no_room_for_the_fitted_copy_links_the_clip(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
    over_the_limit: bytes,
    code: int,
) -> None:
    def no_scratch(suffix: str = ".mp4") -> AsyncIterator[Path]:
        raise disk_error(code)

    monkeypatch.setattr(service.video, "scratch", no_scratch)
    job = await service.submit(request(), None)
    await assert_linked_and_charged(db, presenter, job.id, FAULTS[code])


@dataclass
class UnreadablePresenter(RecordingPresenter):
    """Reading the clip for the upload fails (discord.File opens it): a disk error."""

    read_error: int = errno.EIO

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        if post.clip is not None:
            raise disk_error(self.read_error)
        return await super().deliver_clip(job, post)


@pytest.mark.parametrize("code", list(FAULTS))
async def test_a_disk_fault_while_reading_the_clip_for_the_upload_links_it(
    make_service: MakeService, db: Database, code: int
) -> None:
    presenter = UnreadablePresenter(read_error=code)
    service = make_service(presenter=presenter)
    job = await service.submit(request(), None)
    await assert_linked_and_charged(db, presenter, job.id, FAULTS[code])


async def test_a_bug_during_delivery_links_the_clip_instead_of_refunding(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(job: Job, *, resumed: bool = False) -> Job:
        raise KeyError("a bug in the delivery")

    monkeypatch.setattr(service.delivery, "deliver", broken)
    job = await service.submit(request(), None)
    await assert_linked_and_charged(db, presenter, job.id, "went wrong on the bot's side")


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return clip_parts(tmp_path_factory.mktemp("parts"), 2)


async def _extension(
    service: JobService, sim: WiroSimulator, db: Database, parts: list[bytes]
) -> Job:
    sim.script_next(TaskScript(clip=parts[0]))
    first = await service.submit(request(), None)
    assert (await wait_terminal(db, first.id)).state is JobState.SUCCEEDED
    sim.script_next(TaskScript(clip=parts[1]))
    return await extend(service, first.id)


@pytest.mark.parametrize("code", list(FAULTS))
@pytest.mark.parametrize("step", ["stitch", "earlier clip"])
async def test_a_disk_fault_while_stitching_posts_the_new_part_alone(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
    parts: list[bytes],
    step: str,
    code: int,
) -> None:
    """Wiro's link would give the new part alone too: the part, on disk, is attached instead,
    and the card says why the parts were not joined."""

    async def stitch_fails(first: Path, second: Path, out: Path) -> None:
        raise VideoError("cannot stitch") from disk_error(code)

    def store_fails(job_id: int) -> Path | None:
        raise disk_error(code)

    if step == "stitch":
        monkeypatch.setattr(service.video, "stitch", stitch_fails)
        ext = await _extension(service, sim, db, parts)
    else:
        ext = await _extension(service, sim, db, parts)  # the first clip was kept first
        monkeypatch.setattr(service.clips, "get", store_fails)
    done = await wait_terminal(db, ext.id)
    assert done.state is JobState.SUCCEEDED, done.outcome_reason
    assert await kinds(db, ext.id) == ["reserve", "charge"]
    [(_, data, _)] = [d for d in presenter.deliveries if d[0].id == ext.id]
    assert data == parts[1]  # the new part, attached
    why = f"{FAULTS[code]}, so only the new part is posted."
    assert why in (done.outcome_reason or "")
    assert why in ((await final_card(presenter, ext.id)).outcome_reason or "")


@pytest.mark.parametrize("code", list(FAULTS))
async def test_keeping_the_clip_after_the_post_never_fails_the_job(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    code: int,
) -> None:
    def copy_fails(job_id: int, clip: Path) -> Path:
        raise disk_error(code)

    monkeypatch.setattr(service.clips, "put", copy_fails)
    job = await service.submit(request(), None)
    with caplog.at_level(logging.WARNING, logger="bot.jobs.service"):
        done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED and done.outcome_reason is None
    assert await kinds(db, job.id) == ["reserve", "charge"]
    assert presenter.deliveries[0][1] is not None  # attached
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"job={job.id} could not keep the clip for Extend: {disk_error(code)}"
    ]


async def test_a_failing_last_frame_after_the_post_never_fails_the_job(
    service: JobService,
    db: Database,
    presenter: RecordingPresenter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def prepare_fails(job_id: int) -> None:
        raise RuntimeError("the last-frame decoder is closed")

    monkeypatch.setattr(service.last_frames, "prepare", prepare_fails)
    job = await service.submit(request(), None)
    with caplog.at_level(logging.WARNING, logger="bot.jobs.service"):
        done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert await kinds(db, job.id) == ["reserve", "charge"]
    assert presenter.deliveries[0][1] is not None
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_a_clip_on_a_host_the_bot_does_not_trust_is_never_linked(
    make_service: MakeService,
    db: Database,
    presenter: RecordingPresenter,
    wiro: WiroClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The link fallback checks the host too: a bug during the delivery of a clip on a host
    the bot does not trust refunds rather than post that link."""
    service = make_service()

    async def broken(job: Job, *, resumed: bool = False) -> Job:
        raise KeyError("a bug in the delivery")

    monkeypatch.setattr(service.delivery, "deliver", broken)
    monkeypatch.setattr(wiro, "output_hosts", ("cdn.example",))
    job = await service.submit(request(), None)
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.FAILED and presenter.deliveries == []
    assert await kinds(db, job.id) == ["reserve", "refund"]
