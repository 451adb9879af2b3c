"""Follow-up requests: Re-roll, Extend, Remix and Remake build a new request from a finished job
and submit it like any other (checked, charged, held for approval the same way); Delete removes
a finished clip. A collaborator of `JobService` (bot/jobs/service.py); the rules for which
follow-ups a card offers live here too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from bot import camera, i18n
from bot.catalogue import MODELS, get_model
from bot.jobs._followup_reasons import (
    deleted_words,
    earlier_deleted_words,
    length_refusal,
    not_kept_words,
    on_its_way_words,
    scaled_up_note,
    too_long_words,
)
from bot.jobs.contracts import Asker, JobConfig, Refused, VideoRequest
from bot.jobs.outcomes import JobOutcomes
from bot.logs import job_logger
from bot.media.images import FirstFrame
from bot.media.video.last_frames import LastFrames
from bot.media.video.probe import VideoError
from bot.media.video.store import ClipStore
from storage.api import Storage
from storage.models import FollowUp, Job, JobState

# The lifecycle's logger: every line of a job reads "bot.jobs.service", whichever part wrote it.
log = logging.getLogger("bot.jobs.service")


class Intake(Protocol):
    """Where a follow-up's request goes: the same checks and submit as any /video
    (`JobService`)."""

    async def precheck(self, req: VideoRequest) -> int: ...

    async def submit(
        self,
        req: VideoRequest,
        frame: FirstFrame | None,
        *,
        thumbnail: bytes | None = None,
        note: str | None = None,
    ) -> Job: ...


@dataclasses.dataclass(kw_only=True, eq=False)
class JobFollowUps:
    """Re-roll, Extend, Remix, Remake and Delete of a finished job."""

    outcomes: JobOutcomes
    intake: Intake
    storage: Storage
    config: JobConfig
    clips: ClipStore
    last_frames: LastFrames
    kept_clip: Callable[[Job], Awaitable[Path | None]]  # a finished job's clip (`JobDelivery`)

    async def reroll(self, job_id: int, asker: Asker) -> Job:
        """Run a finished job again with the same settings, charged again.

        An extension's re-roll runs its part again (same first frame and prompt) and is
        stitched anew after the same earlier clip."""
        refusal = i18n.Text("Only the member who asked for this video can re-roll it.")
        job = await self._askers_job(job_id, asker, refusal)
        await self._check_not_deleted(job, "re-rolled")
        await self._refuse_if_on_its_way(FollowUp.REROLL, job_id)
        frame = await self._stored_first_frame(job)
        req = _same_request(
            job,
            asker,
            reroll_of=job.id,
            # A re-roll of an extension's part is stitched after the same earlier clip.
            extends_job_id=job.extends_job_id,
            chain_seconds=job.chain_seconds,
        )
        return await self.intake.submit(req, frame, thumbnail=await _thumbnail(frame))

    async def _askers_job(self, job_id: int, asker: Asker, refusal: i18n.Text) -> Job:
        """The job a follow-up is of; `refusal` unless the asker is the member who asked for it."""
        job = await self.storage.get_job(job_id)
        if job.user_id != asker.user_id:
            raise Refused(refusal)
        return job

    async def _refuse_if_on_its_way(self, kind: FollowUp, job_id: int) -> None:
        """The early answer to a second click, before any image work. The rule itself holds
        inside the reservation (`FollowUpInFlight`): two clicks at once still make one job."""
        if await self.storage.follow_up_in_flight(kind, job_id) is not None:
            raise Refused(on_its_way_words(kind))

    async def _stored_first_frame(self, job: Job) -> FirstFrame | None:
        if not job.has_image:
            return None
        stored = await self.storage.load_frame(job.id)
        if stored is None:
            raise Refused(
                i18n.Text(
                    "The first-frame image of this job is no longer stored. Run /video again."
                )
            )
        from bot.media.images import check_image_async

        return await check_image_async(stored[0])

    async def extend(self, job_id: int, asker: Asker, *, prompt: str | None, duration: int) -> Job:
        """Continue a finished clip from its last frame; its clip is posted stitched after it.

        A normal run (same model family and resolution), checked and charged like any."""
        refusal = i18n.Text("Only the member who asked for this video can extend it.")
        job = await self._askers_job(job_id, asker, refusal)
        blocker = extend_blocker(job, self.config.max_clip_seconds, self.config.max_clip_bytes)
        if blocker is not None:
            raise Refused(blocker)
        allowed = extend_lengths(job, self.config.max_clip_seconds)
        if duration not in allowed:
            offered = MODELS.get(job.model, get_model(None)).extend_lengths.get(job.resolution, ())
            raise Refused(
                length_refusal(
                    job,
                    duration,
                    allowed,
                    self.config.max_clip_seconds,
                    offered=duration in offered,
                )
            )
        await self._refuse_if_on_its_way(FollowUp.EXTEND, job_id)
        # The same model, settings and style (and whose picture the chain shows: that author's
        # refusal and Delete carry on); the new part starts from the clip's last frame, so the
        # first frame, its source and notes are not carried, nor the camera moves: "what happens
        # next" describes the new part afresh.
        req = _same_request(
            job, asker,
            prompt=(prompt or "").strip() or job.prompt,
            duration=duration,
            extends_job_id=job.id,
            chain_seconds=job.clip_seconds + duration,
            has_image=True,
            image_url=None,
            camera=(),
            source_url=None,
            image_note=None,
        )  # fmt: skip
        await self.intake.precheck(req)  # before the (slower) decoding: a refusal costs nothing
        earlier = await self.kept_clip(job)
        if earlier is None:
            too_big = too_big_to_keep(job, self.config.max_clip_bytes)
            raise Refused(not_kept_words(too_big, self.config.max_clip_bytes))
        frame = await self._last_frame(job)
        return await self.intake.submit(req, frame, thumbnail=await _thumbnail(frame))

    async def _last_frame(self, job: Job) -> FirstFrame:
        """The last frame of the job's kept clip, checked as a first frame.

        Usually decoded and stored when the clip was posted (`LastFrames`); else decoded now.
        A frame of a small clip is scaled up to Hailuo's minimum, as the card then says."""
        from bot.media.images import ImageRejected

        try:
            return await _as_first_frame(await self._last_frame_png(job))
        except ImageRejected:
            # A frame decoded from a clip is a valid first frame: the stored file was damaged
            # on disk. Decode it again, once.
            job_logger(log, job.id).warning("the stored last frame is damaged; decoding it again")
            await self.last_frames.discard(job.id)
        try:
            return await _as_first_frame(await self._last_frame_png(job))
        except ImageRejected as exc:
            job_logger(log, job.id).error("the last frame is not a usable first frame: %s", exc)
            raise Refused(
                i18n.Text(
                    "The last frame of this clip cannot start a new part: {reason} "
                    "Nothing was spent.",
                    reason=exc.text,
                )
            ) from None

    async def _last_frame_png(self, job: Job) -> bytes:
        try:
            return await self.last_frames.get(job.id)
        except VideoError as exc:
            job_logger(log, job.id).error("could not read the last frame: %s", exc)
            raise Refused(i18n.Text("The last frame of this clip could not be read.")) from None

    async def remake(self, job_id: int, asker: Asker) -> Job:
        """Make a finished 768P/6 s clip again at 1080P/6 s: same prompt and first frame."""
        refusal = i18n.Text("Only the member who asked for this video can remake it.")
        job = await self._askers_job(job_id, asker, refusal)
        if job.deleted_at is not None:
            raise Refused(deleted_words("remade"))
        if not can_remake(job):
            raise Refused(i18n.Text("Only a finished 768P, 6-second clip can be remade in 1080P."))
        await self._refuse_if_on_its_way(FollowUp.REMAKE, job_id)
        frame = await self._stored_first_frame(job)
        req = _same_request(job, asker, resolution="1080P", duration=6, remake_of=job.id)
        return await self.intake.submit(req, frame, thumbnail=await _thumbnail(frame))

    async def remix(
        self, job_id: int, asker: Asker, *, prompt: str | None, moves: tuple[str, ...]
    ) -> Job:
        """Vary a finished clip: a new prompt and camera moves from the same first frame (the
        clip's own, not its last), model, settings and style; charged like any run.

        A remix of an extension makes its part again with the new words and is stitched after
        the same earlier clip, as its Re-roll is."""
        refusal = i18n.Text("Only the member who asked for this video can remix it.")
        job = await self._askers_job(job_id, asker, refusal)
        if job.state is not JobState.SUCCEEDED:
            raise Refused(i18n.Text("Only a finished video can be remixed."))
        await self._check_not_deleted(job, "remixed")
        frame = await self._stored_first_frame(job)
        req = _same_request(
            job,
            asker,
            prompt=(prompt or "").strip() or job.prompt,
            camera=moves,
            remix_of=job.id,
            extends_job_id=job.extends_job_id,
            chain_seconds=job.chain_seconds,
        )
        return await self.intake.submit(req, frame, thumbnail=await _thumbnail(frame))

    async def delete_clip(self, job_id: int, actor_id: int, *, is_moderator: bool) -> Deleted:
        """Delete a finished job's clip for its requester, a moderator, or the member whose
        image it animated (consent: the picture's author stays in control): the job is marked
        deleted (who, when), its kept clip, last frame and first frame are removed and its
        card says so. Nothing is refunded; the job stays in /jobs, usage and the audit trail.

        Deleting the clip message is the caller's (a Discord action); a second call finds the
        job already deleted (`Deleted.now` False) and may try that message again."""
        job = await self.storage.get_job(job_id)
        if actor_id not in (job.user_id, job.image_author_id) and not is_moderator:
            raise Refused(
                i18n.Text(
                    "Only the member who asked for this video, the member whose image it "
                    "animated, or a moderator can delete it."
                )
            )
        if job.deleted_at is None and job.state is not JobState.SUCCEEDED:
            if not job.is_terminal:
                raise Refused(i18n.Text("This video is still being made: cancel it instead."))
            raise Refused(i18n.Text("This job has no clip to delete."))
        job, now = await self.storage.mark_deleted(job_id, actor_id)
        if now:
            job_logger(log, job.id).info("clip deleted by user=%s (no refund)", actor_id)
        await asyncio.to_thread(self._remove_kept, job.id)
        await self.storage.delete_frame(job.id)
        if now:
            await self.outcomes.render(job)
        return Deleted(job=job, now=now)

    def _remove_kept(self, job_id: int) -> None:
        self.clips.path(job_id).unlink(missing_ok=True)
        self.clips.discard_last_frame(job_id)

    async def _check_not_deleted(self, job: Job, done: str) -> None:
        """Refuse a follow-up of a deleted clip, or of an extension whose earlier clip was."""
        if job.deleted_at is not None:
            raise Refused(deleted_words(done))
        if job.extends_job_id is not None:
            earlier = await self.storage.get_job(job.extends_job_id)
            if earlier.deleted_at is not None:
                raise Refused(earlier_deleted_words(earlier.id, done))


@dataclasses.dataclass(frozen=True)
class Deleted:
    """A Delete: the job as it is now, and whether this click deleted it (else it already was:
    `job.deleted_by` says who)."""

    job: Job
    now: bool


def _same_request(job: Job, asker: Asker, **changes: Any) -> VideoRequest:
    """The request that made `job`, asked again by `asker`, with `changes` on top.

    One place says what a follow-up (Re-roll, Remix, Remake, Extend) carries over: prompt, settings,
    first frame, model, camera moves, style, source (and whose image it was) and what was done
    to the image."""
    same = VideoRequest(
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        user_id=asker.user_id,
        role_ids=asker.role_ids,
        prompt=job.prompt,
        resolution=job.resolution,
        duration=job.duration,
        prompt_optimizer=job.prompt_optimizer,
        upload_limit=asker.upload_limit,
        image_url=job.image_url,
        manage_guild=asker.manage_guild,
        has_image=job.has_image,
        model=job.model,
        camera=camera.split_moves(job.camera),
        source_url=job.source_url,
        image_author_id=job.image_author_id,
        image_note=job.image_note,
        style=job.style,
        style_prompt=job.style_prompt,
    )
    return dataclasses.replace(same, **changes)


def extend_lengths(job: Job, max_clip_seconds: int) -> tuple[int, ...]:
    """The part lengths an Extend of `job` may ask for (none when the chain is full)."""
    room = max_clip_seconds - job.clip_seconds
    lengths = MODELS.get(job.model, get_model(None)).extend_lengths
    return tuple(n for n in lengths.get(job.resolution, (6,)) if n <= room)


def extend_blocker(
    job: Job, max_clip_seconds: int, max_clip_bytes: int | None = None
) -> str | None:
    """Why `job` cannot be extended at all (None when it can): the button shows this."""
    if job.state is not JobState.SUCCEEDED:
        return str(i18n.Text("Only a finished video can be extended."))
    if job.deleted_at is not None:
        return deleted_words("extended")
    if max_clip_bytes is not None and too_big_to_keep(job, max_clip_bytes):
        return not_kept_words(True, max_clip_bytes)
    if not extend_lengths(job, max_clip_seconds):
        return too_long_words(job.clip_seconds, max_clip_seconds)
    return None


def too_big_to_keep(job: Job, max_clip_bytes: int) -> bool:
    """The clip was over MAX_CLIP_BYTES: posted as a link, never downloaded, so never kept."""
    return job.output_size is not None and job.output_size > max_clip_bytes


def can_remake(job: Job) -> bool:
    """Remake in 1080P is offered on a finished 768P/6 s clip (not a stitched chain)."""
    return (
        job.state is JobState.SUCCEEDED
        and job.resolution == "768P"
        and job.duration == 6
        and job.extends_job_id is None
        and job.deleted_at is None
    )


async def _as_first_frame(png: bytes) -> FirstFrame:
    """Check a clip's frame as a first frame, scaled up first when its short side is too short."""
    from bot.media.images import check_image_async

    scaled, note = await asyncio.to_thread(_scale_up_to_minimum, png)
    frame = await check_image_async(scaled)
    return frame if note is None else dataclasses.replace(frame, fixes=(note, *frame.fixes))


def _scale_up_to_minimum(png: bytes) -> tuple[bytes, str | None]:
    """Scale a frame whose short side is under Hailuo's minimum up to it (PNG, same ratio).

    Returns the frame unchanged (and no note) when it is large enough or not a picture at all
    (the check that follows refuses it with the reason)."""
    import io

    from PIL import Image

    from bot.media.images import MAX_PIXELS, MIN_SHORT_SIDE

    try:
        with Image.open(io.BytesIO(png), formats=("PNG",)) as im:
            width, height = im.size
            short = min(width, height)
            if short >= MIN_SHORT_SIDE or short == 0:
                return png, None
            factor = MIN_SHORT_SIDE / short
            size = (
                max(MIN_SHORT_SIDE, round(width * factor)),
                max(MIN_SHORT_SIDE, round(height * factor)),
            )
            if size[0] * size[1] > MAX_PIXELS:
                return png, None
            bigger = im.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    except Exception:  # damaged or not a PNG: the check says why
        return png, None
    out = io.BytesIO()
    bigger.save(out, "PNG")
    return out.getvalue(), scaled_up_note(width, height, size, MIN_SHORT_SIDE)


async def _thumbnail(frame: FirstFrame | None) -> bytes | None:
    if frame is None:
        return None
    from bot.media.images import make_thumbnail

    return await asyncio.to_thread(make_thumbnail, frame.data)
