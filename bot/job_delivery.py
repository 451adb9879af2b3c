"""Delivering a finished job's clip: download it, stitch an Extend's part after the clip it
continues, fit it to the upload limit, post it through Discord outages, keep it for Extend.
A part of `JobService` (bot/jobs.py), which keeps the lifecycle itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot.delivery import OutageOutlasted, outlast
from bot.job_api import Delivery, JobConfig, JobPresenter
from bot.logs import job_logger
from bot.video import VideoError, VideoWorker
from bot.video.last_frames import LastFrames
from bot.video.store import ClipStore
from bot.wiro.client import WiroClient
from bot.wiro.errors import DownloadRefused, WiroError
from storage.db import Database
from storage.models import Job, JobState

# The lifecycle's logger: every line of a job reads "bot.jobs", whichever part wrote it.
log = logging.getLogger("bot.jobs")

T = TypeVar("T")


class JobDelivery:
    """Posting a finished job's clip (mixed into `JobService`)."""

    if TYPE_CHECKING:  # provided by JobService
        storage: Database
        config: JobConfig
        presenter: JobPresenter | None
        clock: Callable[[], datetime]
        sleep: Callable[[float], Awaitable[object]]
        video: VideoWorker
        clips: ClipStore
        last_frames: LastFrames

        def client_for(self, model: str) -> WiroClient: ...
        async def _render(
            self,
            job: Job,
            *,
            queue_position: int | None = None,
            cancelling: bool = False,
            delivery_delayed: bool = False,
        ) -> None: ...
        async def _finish(
            self, job: Job, state: JobState, reason: str | None, **fields: object
        ) -> Job: ...
        async def _succeed(self, job: Job, message_id: int | None, *, note: str | None) -> Job: ...

    async def _deliver(self, job: Job, *, resumed: bool = False) -> Job:
        jlog = job_logger(log, job.id)
        assert self.presenter is not None
        if job.result_message_id is None and resumed:
            # The process may have died after Discord stored the clip but before we did; the
            # message nonce only deduplicates for a few minutes, so look in the channel.
            presenter = self.presenter
            try:
                posted = await self._outlast_outage(
                    job,
                    lambda: presenter.find_delivery(job),
                    f"job={job.id} look for a posted clip",
                )
            except OutageOutlasted:
                posted = None  # the post below carries the same nonce: the best left to do
            # The look may have met an outage and recorded its start: the post counts from it.
            job = await self.storage.get_job(job.id)
            if posted is not None:
                jlog.info("clip was already posted as message=%s before the restart", posted)
                job = await self.storage.update_job(job.id, result_message_id=posted)
        if job.result_message_id is not None:
            return await self._succeed(job, job.result_message_id, note=job.outcome_reason)
        if not job.output_url:
            return await self._finish(job, JobState.FAILED, "Wiro returned no video.")
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.work_dir / f"job-{job.id}-{secrets.token_hex(4)}.mp4"
        size: int | None
        try:
            try:
                size = await self.client_for(job.model).download(
                    job.output_url, path, max_bytes=self.config.max_clip_bytes
                )
                clip: Path | None = path
            except DownloadRefused as exc:
                if not exc.too_big:
                    jlog.error("clip download refused: %s", exc)
                    return await self._finish(
                        job, JobState.FAILED, "The clip came from a host the bot does not trust."
                    )
                jlog.warning("clip too big to download; linking it")
                clip, size = None, job.output_size
            except WiroError as exc:
                jlog.error("clip download failed: %s", exc)
                return await self._finish(
                    job, JobState.FAILED, "The finished clip could not be downloaded from Wiro."
                )
            async with contextlib.AsyncExitStack() as scratch:
                chain_note: str | None = None
                if clip is not None and job.extends_job_id is not None:
                    joined = await scratch.enter_async_context(self.video.scratch())
                    clip, chain_note = await self._stitch_onto_earlier(job, clip, joined)
                    size = clip.stat().st_size
                keep = clip is not None and chain_note is None  # this job's whole clip
                try:
                    delivery = await self._post_clip(job, clip, size)
                except asyncio.CancelledError:
                    raise
                except OutageOutlasted as exc:
                    # Wiro was paid and the clip exists: the member gets it as a link, charged.
                    jlog.error("Discord refused the clip for the whole retry window: %s", exc)
                    if keep and clip is not None:
                        await self._keep_clip(job, clip)  # it can still be extended
                    return await self._succeed(
                        job,
                        None,
                        note=(
                            "Discord was unavailable for too long to post the clip, so here is "
                            "its link (it expires after a while, download it soon): "
                            f"{job.output_url}"
                        ),
                    )
                except Exception as exc:
                    jlog.error("could not post the clip: %s", exc)
                    where = (
                        f" It can be downloaded for a while here: {job.output_url}"
                        if (job.output_url)
                        else ""
                    )
                    return await self._finish(
                        job,
                        JobState.FAILED,
                        f"The finished clip could not be posted in this channel.{where}",
                    )
                jlog.info(
                    "delivered message=%s attached=%s", delivery.message_id, delivery.attached
                )
                note: str | None = " ".join(n for n in (chain_note, delivery.note) if n) or None
                # Recorded before anything else: a restart from here on must not post it again.
                job = await self.storage.update_job(
                    job.id, result_message_id=delivery.message_id, outcome_reason=note
                )
                if keep and clip is not None:
                    await self._keep_clip(job, clip)
                return await self._succeed(job, delivery.message_id, note=note)
        finally:
            path.unlink(missing_ok=True)

    async def _keep_clip(self, job: Job, clip: Path) -> None:
        """Keep the posted clip (full quality) so that it can be extended later, and start
        decoding its last frame in the background, so that an Extend need not wait for it.

        The kept clip is the one `_kept_clip` gives an Extend (for an extension, the stitched
        clip), so the frame stored beside it is the one an Extend starts from."""
        try:
            kept = await asyncio.to_thread(self.clips.put, job.id, clip)
        except OSError as exc:
            job_logger(log, job.id).warning("could not keep the clip for Extend: %s", exc)
            return
        if kept is not None:  # None: the clip alone is over CLIP_STORE_MB
            self.last_frames.prepare(job.id)
        try:
            await self.clips.trim()  # oldest first, under CLIP_STORE_MB
        except OSError as exc:
            job_logger(log, job.id).warning("could not remove old kept clips: %s", exc)

    async def _stitch_onto_earlier(
        self, job: Job, part: Path, joined: Path
    ) -> tuple[Path, str | None]:
        """The earlier clip followed by this job's part, written to `joined`; when that cannot
        be done, the part alone with a note saying why."""
        jlog = job_logger(log, job.id)
        assert job.extends_job_id is not None
        earlier_job = await self.storage.get_job(job.extends_job_id)
        earlier = await self._kept_clip(earlier_job)
        if earlier is None:
            jlog.warning("clip of job %s is gone; posting the new part alone", earlier_job.id)
            return part, "The earlier clip is no longer stored, so only the new part is posted."
        try:
            result = await self.video.stitch(earlier, part, joined)
        except VideoError as exc:
            jlog.error("could not stitch onto job %s: %s", earlier_job.id, exc)
            return part, "The parts could not be joined, so only the new part is posted."
        jlog.info(
            "stitched onto job %s: %.1f s (%s, %d frame(s) dropped at the join)",
            earlier_job.id,
            result.info.duration,
            "remuxed" if result.remuxed else "re-encoded",
            result.dropped_frames,
        )
        return joined, None

    async def _kept_clip(self, job: Job, depth: int = 0) -> Path | None:
        """A finished job's clip at full quality: kept on disk, else rebuilt from Wiro's files
        (downloaded again, and stitched again for an extension) while Wiro keeps them."""
        kept = await asyncio.to_thread(self.clips.get, job.id)
        if kept is not None:
            return kept
        if job.state is not JobState.SUCCEEDED or not job.output_url or depth > 60:
            return None
        async with self.video.scratch() as part:
            try:
                await self.client_for(job.model).download(
                    job.output_url, part, max_bytes=self.config.max_clip_bytes
                )
            except WiroError as exc:
                job_logger(log, job.id).info("its clip is no longer at Wiro: %s", exc)
                return None
            if job.extends_job_id is None:
                return await asyncio.to_thread(self.clips.put, job.id, part)
            earlier = await self._kept_clip(
                await self.storage.get_job(job.extends_job_id), depth + 1
            )
            if earlier is None:
                return None
            async with self.video.scratch() as joined:
                try:
                    await self.video.stitch(earlier, part, joined)
                except VideoError:
                    return None
                return await asyncio.to_thread(self.clips.put, job.id, joined)

    async def _post_clip(self, job: Job, clip: Path | None, size: int | None) -> Delivery:
        """Attach the clip; one over the upload limit is first re-encoded to fit it.

        Only when it cannot be made to fit (or was too big to download) is it linked. The post
        itself outlasts a Discord outage (`_deliver_retrying`); the fit is done once."""
        assert self.presenter is not None
        limit = self.presenter.attach_limit(job)
        if clip is None or size is None or size <= limit:
            return await self._deliver_retrying(job, clip, size)
        jlog = job_logger(log, job.id)
        jlog.info("the clip (%d bytes) is over the upload limit (%d): compressing it", size, limit)
        async with self.video.scratch() as fitted:
            try:
                started = time.monotonic()
                result = await self.video.fit(clip, fitted, limit)
            except VideoError as exc:
                jlog.warning("could not fit the clip (%d bytes) under %d: %s", size, limit, exc)
                return await self._deliver_retrying(job, clip, size)
            jlog.info(
                "compressed the clip %d → %d bytes (limit %d, %dx%d, %d pass(es), %.1f s)",
                size,
                result.info.size,
                limit,
                result.info.width,
                result.info.height,
                result.passes,
                time.monotonic() - started,
            )
            return await self._deliver_retrying(job, fitted, result.info.size, original_size=size)

    async def _deliver_retrying(
        self, job: Job, clip: Path | None, size: int | None, **kwargs: int | None
    ) -> Delivery:
        """Post the clip, outlasting a Discord outage (same nonce on every try)."""
        assert self.presenter is not None
        presenter = self.presenter

        async def say_it_is_coming() -> None:  # the card says the clip is coming, not failed
            await self._render(job, delivery_delayed=True)

        return await self._outlast_outage(
            job,
            lambda: presenter.deliver_clip(job, clip, size, **kwargs),
            f"job={job.id} clip post",
            first_failure=say_it_is_coming,
        )

    async def _outlast_outage(
        self,
        job: Job,
        operation: Callable[[], Awaitable[T]],
        what: str,
        *,
        first_failure: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """Run a Discord call of `job`'s delivery through `outlast`, its retry window counted
        from the outage start kept on the job row (written at Discord's first refusal), so that
        a restart continues the window instead of beginning a new one."""
        started = job.delivery_unavailable_since or self.clock()
        recorded = job.delivery_unavailable_since is not None

        async def on_unavailable(attempt: int, exc: Exception) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                await self.storage.update_job(job.id, delivery_unavailable_since=started)
            if attempt == 0 and first_failure is not None:
                await first_failure()

        return await outlast(
            operation,
            policy=self.config.delivery_retry,
            clock=self.clock,
            sleep=self.sleep,
            on_unavailable=on_unavailable,
            what=what,
            logger=job_logger(log, job.id),
            since=started,
        )
