"""The studio, part 3, in the job lifecycle: Delete, Remix and server styles, against the Wiro
simulator serving real H.264 clips and a real database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import bot.governance.styles as styles
from bot.jobs.contracts import Asker, Refused
from bot.jobs.followups import can_remake, extend_blocker
from bot.jobs.service import JobService
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import AnimateRule, Job, JobState
from tests.jobs.doubles import (
    GUILD,
    MOD,
    OTHER,
    USER,
    RecordingPresenter,
    extend,
    png_frame,
    request,
)
from tests.jobs.test_last_frame import settled
from tests.jobs.waits import succeeded, wait_terminal
from tests.video.clips import decode_all, mean_abs_diff, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("s3") / "clip.mp4"
    return write_clip(path, width=640, height=360, seconds=1).read_bytes()


async def _finished(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes, **req: object
) -> Job:
    frame = png_frame() if req.get("has_image") else None
    done = await succeeded(service, sim, db, clip, frame, **req)
    await settled(service, done.id)  # its last frame decoded and stored
    return done


# -------------------------------------------------------------------------------------- Delete
async def test_delete_by_the_requester_removes_the_files_and_refunds_nothing(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    presenter: RecordingPresenter,
    clip: bytes,
) -> None:
    job = await _finished(service, sim, db, clip, has_image=True)
    assert service.clips.get(job.id) is not None
    assert service.clips.last_frame(job.id) is not None
    assert await db.load_frame(job.id) is not None
    ledger = await db.ledger_for_job(job.id)

    done = await service.delete_clip(job.id, USER, is_moderator=False)
    assert done.now and done.job.deleted_by == USER and done.job.deleted_at is not None
    assert service.clips.get(job.id) is None and not service.clips.frame_path(job.id).exists()
    assert await db.load_frame(job.id) is None
    # Kept: the job (state, charge), its ledger untouched, and the moderators' log has it.
    again = await db.get_job(job.id)
    assert again.state is JobState.SUCCEEDED and again.credits == job.credits
    assert await db.ledger_for_job(job.id) == ledger
    assert [j.id for j in await db.jobs_for_user(GUILD, USER)] == [job.id]
    [entry] = [e for e in await db.audit_log(GUILD) if e.action == "job.delete"]
    assert entry.actor_id == USER and f"job {job.id}" in entry.detail
    # The card was redrawn as deleted.
    assert presenter.updates[-1][0].deleted_at is not None

    # A second click finds it deleted already (and who did it); nothing changes.
    second = await service.delete_clip(job.id, USER, is_moderator=False)
    assert not second.now and second.job.deleted_at == again.deleted_at
    assert len([e for e in await db.audit_log(GUILD) if e.action == "job.delete"]) == 1


async def test_delete_by_a_moderator_and_not_by_anyone_else(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    job = await _finished(service, sim, db, clip)
    with pytest.raises(Refused, match="or a moderator can delete"):
        await service.delete_clip(job.id, OTHER, is_moderator=False)
    assert (await db.get_job(job.id)).deleted_at is None
    assert service.clips.get(job.id) is not None
    done = await service.delete_clip(job.id, MOD, is_moderator=True)
    assert done.now and done.job.deleted_by == MOD


async def test_the_author_of_an_animated_image_may_delete_the_clip(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    """Consent: a clip made from another member's picture may be deleted by that member."""
    await db.set_animate_rule(GUILD, AnimateRule.ANYONE, MOD)
    job = await _finished(
        service, sim, db, clip, has_image=True, source_url="https://x/1", image_author_id=OTHER
    )
    with pytest.raises(Refused, match="whose image it animated"):
        await service.delete_clip(job.id, MOD, is_moderator=False)  # a third member
    done = await service.delete_clip(job.id, OTHER, is_moderator=False)
    assert done.now and done.job.deleted_by == OTHER


async def test_only_a_finished_clip_can_be_deleted(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    sim.script_next(TaskScript(outcome="failed"))
    failed = await wait_terminal(db, (await service.submit(request(), None)).id)
    with pytest.raises(Refused, match="no clip"):
        await service.delete_clip(failed.id, USER, is_moderator=False)
    sim.script_next(TaskScript(generate=30))
    running = await service.submit(request(), None)
    with pytest.raises(Refused, match="cancel it instead"):
        await service.delete_clip(running.id, USER, is_moderator=False)
    assert (await db.get_job(running.id)).deleted_at is None
    await service.cancel(running.id, USER, is_moderator=False)


async def test_a_deleted_clip_offers_no_follow_up_and_is_never_fetched_again(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    job = await _finished(service, sim, db, clip, has_image=True)
    assert can_remake(job) and extend_blocker(job, 60) is None
    await service.delete_clip(job.id, USER, is_moderator=False)
    deleted = await db.get_job(job.id)
    assert not can_remake(deleted)
    assert "deleted" in (extend_blocker(deleted, 60) or "")
    runs = len(sim.runs)
    for start, words in [
        (extend(service, job.id),
         "cannot be extended"),
        (service.remake(job.id, Asker(USER)), "cannot be remade"),
        (service.reroll(job.id, Asker(USER)), "cannot be re-rolled"),
        (service.remix(job.id, Asker(USER), prompt="x", moves=()),
         "cannot be remixed"),
    ]:  # fmt: skip
        with pytest.raises(Refused, match=words):
            await start
    assert len(sim.runs) == runs and await db.count_in_flight(GUILD) == 0
    # Wiro still has the file, but a deleted clip is never downloaded again.
    assert await service.delivery.kept_clip(deleted) is None


# --------------------------------------------------------------------------------------- Remix
async def test_remix_keeps_the_first_frame_model_settings_and_style(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes, tmp_path: Path
) -> None:
    job = await _finished(
        service,
        sim,
        db,
        clip,
        has_image=True,
        duration=10,
        prompt_optimizer=False,
        camera=("Pan left",),
        style="Noir",
        style_prompt="in black and white, {prompt}",
    )
    first_frame = sim.runs[-1].image
    sim.script_next(TaskScript(clip=clip))
    remix = await service.remix(
        job.id, Asker(USER), prompt="a cat dances", moves=("Zoom in", "Shake")
    )
    assert remix.remix_of == job.id and remix.reroll_of is None
    assert (remix.prompt, remix.camera) == ("a cat dances", "Zoom in,Shake")
    assert (remix.resolution, remix.duration, remix.prompt_optimizer, remix.model) == (
        "768P",
        10,
        False,
        job.model,
    )
    assert (remix.style, remix.style_prompt) == ("Noir", "in black and white, {prompt}")
    done = await wait_terminal(db, remix.id)
    assert done.state is JobState.SUCCEEDED
    run = sim.runs[-1]
    # The clip's own first frame, not its last.
    assert run.image == first_frame
    last = decode_all(_write(tmp_path, clip))[-1].to_image()
    assert mean_abs_diff(Image.open(io.BytesIO(run.image or b"")), last) > 5
    assert run.fields["prompt"] == "[Zoom in,Shake] in black and white, a cat dances"
    assert (await db.ledger_for_job(remix.id))[-1].kind == "charge"


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "clip.mp4"
    path.write_bytes(data)
    return path


async def test_remix_is_for_the_requester_and_a_blank_prompt_keeps_the_words(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    job = await _finished(service, sim, db, clip, prompt="a red kite")
    with pytest.raises(Refused, match="Only the member who asked"):
        await service.remix(job.id, Asker(OTHER), prompt="x", moves=())
    sim.script_next(TaskScript(clip=clip))
    remix = await service.remix(job.id, Asker(USER), prompt="  ", moves=())
    assert remix.prompt == "a red kite" and remix.camera is None and not remix.has_image


async def test_a_remix_is_checked_like_any_run(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    job = await _finished(service, sim, db, clip)
    await db.add_blocked_word(GUILD, "forbidden", MOD)
    runs = len(sim.runs)
    with pytest.raises(Refused, match="blocked"):
        await service.remix(job.id, Asker(USER), prompt="a forbidden dance", moves=())
    assert len(sim.runs) == runs and await db.count_in_flight(GUILD) == 0


# -------------------------------------------------------------------------------------- Styles
async def test_a_style_is_sent_with_the_prompt_and_kept_by_a_reroll(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    job = await _finished(
        service, sim, db, clip, prompt="a fox", style="Film", style_prompt="shot on 35mm film"
    )
    assert sim.runs[-1].fields["prompt"] == "a fox shot on 35mm film"
    assert job.prompt == "a fox"  # the member's words apart
    sim.script_next(TaskScript(clip=clip))
    again = await service.reroll(job.id, Asker(USER))
    assert (again.style, again.style_prompt) == ("Film", "shot on 35mm film")
    await wait_terminal(db, again.id)
    assert sim.runs[-1].fields["prompt"] == "a fox shot on 35mm film"


@pytest.mark.parametrize(
    ("prompt", "style_prompt", "words"),
    [
        # The style alone pushes the combined prompt over: the answer names the style.
        ("a" * 1990, "in the style of an old film", "With the style “Film”"),
        # The member's own words are already too long: the usual answer.
        ("a" * 2001, "in the style of an old film", "The prompt is 2001 characters"),
    ],
    ids=["style-makes-it-too-long", "prompt-too-long"],
)
async def test_the_prompt_limit_applies_to_the_combined_prompt(
    service: JobService,
    sim: WiroSimulator,
    db: Database,
    prompt: str,
    style_prompt: str,
    words: str,
) -> None:
    runs = len(sim.runs)
    with pytest.raises(Refused, match=words):
        await service.submit(request(prompt=prompt, style="Film", style_prompt=style_prompt), None)
    assert len(sim.runs) == runs and await db.count_in_flight(GUILD) == 0


async def test_blocked_words_apply_across_the_join(service: JobService, db: Database) -> None:
    await db.add_blocked_word(GUILD, "red panda", MOD)
    with pytest.raises(Refused, match=r"with the style “Zoo”.*red panda"):
        await service.submit(
            request(prompt="a small red", style="Zoo", style_prompt="panda in the snow"), None
        )
    assert await db.count_in_flight(GUILD) == 0
    # Without the style the same words pass.
    assert styles.combine("a small red", None) == "a small red"


async def test_extend_and_remake_keep_the_style(
    service: JobService, sim: WiroSimulator, db: Database, clip: bytes
) -> None:
    job = await _finished(
        service, sim, db, clip, has_image=True, prompt="a fox", style="Film",
        style_prompt="{prompt}, on 35mm film",
    )  # fmt: skip
    sim.script_next(TaskScript(clip=clip))
    ext = await extend(service, job.id, prompt="the fox sleeps")
    assert (ext.style, ext.style_prompt) == ("Film", "{prompt}, on 35mm film")
    await wait_terminal(db, ext.id)
    assert sim.runs[-1].fields["prompt"] == "the fox sleeps, on 35mm film"
    sim.script_next(TaskScript(clip=clip))
    remake = await service.remake(job.id, Asker(USER))
    assert (remake.style, remake.resolution) == ("Film", "1080P")
    await wait_terminal(db, remake.id)
    assert sim.runs[-1].fields["prompt"] == "a fox, on 35mm film"
