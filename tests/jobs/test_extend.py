"""Extend and Remake in 1080P against the Wiro simulator serving real H.264 clips."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.jobs.contracts import Asker, Refused
from bot.jobs.followups import extend_blocker, extend_lengths
from bot.jobs.service import JobService
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import JobState
from tests.factories import MakeService
from tests.jobs.doubles import OTHER, USER, RecordingPresenter, extend, png_frame, request
from tests.jobs.waits import succeeded, wait_terminal
from tests.video.clips import clip_parts, decode_all, mean_abs_diff, write_clip

CLIP_FRAMES = 12  # each part: 1 s at 12 fps, 640×360 (a first frame needs a 300 px short side)


@pytest.fixture(scope="module")
def part_clips(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return clip_parts(tmp_path_factory.mktemp("parts"), 3)


def _frames(data: bytes, tmp: Path, name: str) -> list:
    path = tmp / name
    path.write_bytes(data)
    return decode_all(path)


async def test_extend_runs_from_the_last_frame_and_posts_one_stitched_clip(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    part_clips: list[bytes],
    tmp_path: Path,
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    sim.script_next(TaskScript(clip=part_clips[1]))
    ext = await extend(service, first.id, prompt="the fox jumps")
    assert (ext.extends_job_id, ext.chain_seconds, ext.prompt) == (first.id, 12, "the fox jumps")
    assert (ext.resolution, ext.duration, ext.credits) == ("768P", 6, 1)
    done = await wait_terminal(db, ext.id)
    assert done.state is JobState.SUCCEEDED, done.outcome_reason

    # The new run started from the first clip's last frame.
    sent = Image.open(io.BytesIO(sim.runs[-1].image or b""))
    last = _frames(part_clips[0], tmp_path, "a.mp4")[-1].to_image()
    assert sent.size == (640, 360)
    assert mean_abs_diff(sent, last) < 1
    # One stitched clip: the first clip without its last frame, then the new part.
    stitched = presenter.deliveries[-1][1]
    assert stitched is not None
    frames = _frames(stitched, tmp_path, "stitched.mp4")
    assert len(frames) == 2 * CLIP_FRAMES - 1
    assert (await db.ledger_for_job(ext.id))[-1].kind == "charge"
    # The stitched clip is kept (it exists nowhere else), so it can be extended in turn.
    kept = service.clips.get(ext.id)
    assert kept is not None and kept.read_bytes() == stitched


async def test_reroll_of_an_extension_runs_the_part_again_and_stitches_anew(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    part_clips: list[bytes],
    tmp_path: Path,
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    sim.script_next(TaskScript(clip=part_clips[1]))
    ext = await extend(service, first.id)
    await wait_terminal(db, ext.id)
    first_frame = sim.runs[-1].image

    sim.script_next(TaskScript(clip=part_clips[2]))
    again = await service.reroll(ext.id, Asker(USER))
    assert (again.extends_job_id, again.chain_seconds, again.reroll_of) == (first.id, 12, ext.id)
    assert again.prompt == first.prompt  # a blank "what happens next" keeps the prompt
    done = await wait_terminal(db, again.id)
    assert done.state is JobState.SUCCEEDED
    assert sim.runs[-1].image == first_frame  # the same first frame
    frames = _frames(presenter.deliveries[-1][1] or b"", tmp_path, "again.mp4")
    assert len(frames) == 2 * CLIP_FRAMES - 1
    third = _frames(part_clips[2], tmp_path, "c.mp4")
    assert mean_abs_diff(frames[-1].to_image(), third[-1].to_image()) == 0


async def test_a_chain_stops_at_max_clip_seconds(
    make_service: MakeService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    service = make_service(max_clip_seconds=16)
    first = await succeeded(service, sim, db, part_clips[0])
    assert extend_lengths(first, 16) == (6, 10)
    with pytest.raises(Refused, match="6 or 10 seconds"):
        await extend(service, first.id, duration=8)
    sim.script_next(TaskScript(clip=part_clips[1]))
    ext = await extend(service, first.id)
    ext = await wait_terminal(db, ext.id)
    assert ext.clip_seconds == 12
    assert extend_lengths(ext, 16) == ()
    assert "longest a clip may grow to is 16 s" in (extend_blocker(ext, 16) or "")
    runs = len(sim.runs)
    with pytest.raises(Refused, match="16 s"):
        await extend(service, ext.id)
    assert len(sim.runs) == runs  # nothing sent, nothing reserved
    assert await db.count_in_flight(first.guild_id) == 0


async def test_only_the_requester_may_extend_a_finished_clip(
    service: JobService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    with pytest.raises(Refused, match="Only the member who asked"):
        await service.extend(first.id, Asker(OTHER), prompt="", duration=6)
    sim.script_next(TaskScript(outcome="failed"))
    failed = await wait_terminal(db, (await service.submit(request(), None)).id)
    with pytest.raises(Refused, match="finished video"):
        await extend(service, failed.id)


async def test_a_small_clips_last_frame_is_scaled_up_to_the_minimum(
    service: JobService, sim: WiroSimulator, db: Database, tmp_path: Path
) -> None:
    small = write_clip(tmp_path / "small.mp4", width=320, height=180, seconds=1).read_bytes()
    first = await succeeded(service, sim, db, small)
    sim.script_next(TaskScript(clip=small))
    ext = await extend(service, first.id)
    done = await wait_terminal(db, ext.id)
    assert done.state is JobState.SUCCEEDED, done.outcome_reason
    sent = Image.open(io.BytesIO(sim.runs[-1].image or b""))
    assert sent.size == (533, 300)  # the short side brought up to 300 px, the ratio kept
    last = _frames(small, tmp_path, "small-again.mp4")[-1].to_image()
    assert mean_abs_diff(sent.resize(last.size), last) < 3
    assert "scaled up from 320×180 to 533×300" in (done.image_note or "")


async def test_a_clip_no_longer_stored_or_at_wiro_cannot_be_extended(
    service: JobService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    service.clips.path(first.id).unlink()
    # Gone from Wiro too: the bot may not download from anywhere else.
    await db.update_job(first.id, output_url="http://127.0.0.1:9/expired.mp4")
    with pytest.raises(Refused, match="no longer stored"):
        await extend(service, first.id)
    assert await db.count_in_flight(first.guild_id) == 0


async def test_a_clip_too_big_to_download_says_so_instead_of_no_longer_stored(
    make_service: MakeService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    service = make_service(max_clip_bytes=1000)  # every clip is "too big": it is linked
    first = await succeeded(service, sim, db, part_clips[0])
    assert first.output_size is not None and first.output_size > 1000
    assert service.clips.get(first.id) is None  # never downloaded, so never kept
    runs = len(sim.runs)
    with pytest.raises(Refused, match="too big for the bot to download") as refused:
        await extend(service, first.id)
    assert "no longer stored" not in str(refused.value)
    assert "too big" in (extend_blocker(first, 60, 1000) or "")  # the button says so too
    assert extend_blocker(first, 60, first.output_size) is None
    assert len(sim.runs) == runs and await db.count_in_flight(first.guild_id) == 0


async def test_a_clip_no_longer_kept_is_fetched_again_from_wiro(
    service: JobService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    first = await succeeded(service, sim, db, part_clips[0])
    service.clips.path(first.id).unlink()
    sim.script_next(TaskScript(clip=part_clips[1]))
    ext = await extend(service, first.id)
    assert (await wait_terminal(db, ext.id)).state is JobState.SUCCEEDED


async def test_restart_while_an_extension_runs_posts_the_stitched_clip_once(
    make_service: MakeService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    part_clips: list[bytes],
    tmp_path: Path,
) -> None:
    service = make_service()
    first = await succeeded(service, sim, db, part_clips[0])
    sim.script_next(TaskScript(clip=part_clips[1], generate=1.0))
    ext = await extend(service, first.id)
    for _ in range(100):  # bounded: until Wiro has the task
        if (await db.get_job(ext.id)).state is JobState.RUNNING:
            break
        await asyncio.sleep(0.05)
    await service.shutdown(timeout=2)
    assert (await db.get_job(ext.id)).state is JobState.RUNNING

    again = make_service()
    assert await again.resume_all() == 1
    done = await wait_terminal(db, ext.id)
    assert done.state is JobState.SUCCEEDED
    posted = [d for d in presenter.deliveries if d[0].id == ext.id]
    assert len(posted) == 1
    assert len(_frames(posted[0][1] or b"", tmp_path, "r.mp4")) == 2 * CLIP_FRAMES - 1


async def test_remake_in_1080p_uses_the_same_prompt_and_first_frame(
    service: JobService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    sim.script_next(TaskScript(clip=part_clips[0]))
    job = await service.submit(request(), png_frame())
    first = await wait_terminal(db, job.id)
    image = sim.runs[-1].image
    sim.script_next(TaskScript(clip=part_clips[1]))
    remake = await service.remake(first.id, Asker(USER))
    assert (remake.resolution, remake.duration, remake.remake_of) == ("1080P", 6, first.id)
    assert remake.credits == 2  # charged as a 1080P run
    assert remake.prompt == first.prompt
    done = await wait_terminal(db, remake.id)
    assert done.state is JobState.SUCCEEDED
    assert sim.runs[-1].fields["resolution"] == "1080P"
    assert sim.runs[-1].image == image
    with pytest.raises(Refused, match="768P, 6-second"):
        await service.remake(remake.id, Asker(USER))
    with pytest.raises(Refused, match="Only the member"):
        await service.remake(first.id, Asker(OTHER))


async def test_no_remake_of_a_10_second_clip(
    service: JobService, sim: WiroSimulator, db: Database, part_clips: list[bytes]
) -> None:
    first = await succeeded(service, sim, db, part_clips[0], duration=10)
    with pytest.raises(Refused, match="768P, 6-second"):
        await service.remake(first.id, Asker(USER))
