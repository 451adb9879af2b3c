"""Delivering a finished job's clip: download it, stitch an Extend's part after the clip it
continues, fit it to the upload limit, post it through Discord outages, keep it for Extend.
A collaborator of `JobService` (bot/jobs/service.py), which keeps the lifecycle itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from bot.i18n import Text
from bot.jobs._link_reasons import (
    BOT_FAULT,
    DOWNLOAD_FAILED,
    TOO_LARGE,
    describe,
    disk_words,
    local_fault_reason,
)
from bot.jobs.contracts import (
    ClipToPost,
    Delivery,
    JobConfig,
    JobPresenter,
    PresenterError,
    UploadTooLarge,
)
from bot.jobs.outage import OutageOutlasted, outlast
from bot.jobs.outcomes import JobOutcomes
from bot.logs import job_logger
from bot.media.video.last_frames import LastFrames
from bot.media.video.probe import VideoError
from bot.media.video.store import ClipStore
from bot.media.video.worker import VideoWorker
from bot.wiro.client import WiroClient
from bot.wiro.errors import DownloadRefused, WiroError, WiroServerError, WiroTransportError
from storage.api import Storage
from storage.models import Job, JobState

# The lifecycle's logger: every line of a job reads "bot.jobs.service", whichever part wrote it.
log = logging.getLogger("bot.jobs.service")

T = TypeVar("T")


@dataclass(kw_only=True, eq=False)
class JobDelivery:
    """Posting a finished job's clip, and keeping it for Extend."""

    outcomes: JobOutcomes  # settles the job and renders its card; holds the presenter
    storage: Storage
    config: JobConfig
    client_for: Callable[[str], WiroClient]
    video: VideoWorker
    clips: ClipStore
    last_frames: LastFrames
    clock: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[object]]
    # Per server: (the limit the presenter believed, the smaller one a 413 taught us). In
    # memory only: a restart re-learns it with one refused upload.
    _upload_caps: dict[int, tuple[int, int]] = field(default_factory=dict, init=False)

    @property
    def _presenter(self) -> JobPresenter:
        presenter = self.outcomes.presenter
        assert presenter is not None  # a job is only started once the presenter is set
        return presenter

    def remove_leftovers(self) -> None:
        """Delete half-downloaded clips and video scratch files a killed process left behind
        (none is in use yet); trim the kept clips. Blocking: run it on a thread."""
        if not self.config.work_dir.is_dir():
            return
        for leftover in self.config.work_dir.glob("job-*.mp4"):
            leftover.unlink(missing_ok=True)
        self.video.remove_leftovers()
        self.clips.remove_leftovers()
        self.clips.prune()

    async def deliver(self, job: Job, *, resumed: bool = False) -> Job:
        """Download, fit and post the clip of a job Wiro finished; charge it (or refund)."""
        jlog = job_logger(log, job.id)
        if job.result_message_id is None and resumed:
            # The process may have died after Discord stored the clip but before we did; the
            # message nonce only deduplicates for a few minutes, so look in the channel.
            presenter = self._presenter
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
            return await self.outcomes.succeed(job, job.result_message_id, note=job.outcome_reason)
        if not job.output_url:
            return await self.outcomes.finish(
                job, JobState.FAILED, str(Text("Wiro returned no video."))
            )
        async with contextlib.AsyncExitStack() as scratch:
            try:
                clip, size, chain_note = await self._fetch_clip(job, scratch)
            except DownloadRefused as exc:  # not on an allowed host: never linked either
                jlog.error("clip download refused: %s", exc)
                untrusted = Text("The clip came from a host the bot does not trust.")
                return await self.outcomes.finish(job, JobState.FAILED, str(untrusted))
            except (WiroTransportError, WiroServerError) as exc:
                # Wiro made the clip and billed it; the way to it failed (often on our side):
                # the member still gets its link, which usually works from their end.
                jlog.error("clip download failed: %s; linking it", exc)
                return await self._post_and_settle(
                    job, None, job.output_size, link_reason=DOWNLOAD_FAILED
                )
            except WiroError as exc:  # the file is gone at Wiro (404, 410...): Wiro's failure
                jlog.error("clip download failed: %s", exc)
                return await self.outcomes.finish(
                    job,
                    JobState.FAILED,
                    str(Text("The finished clip could not be downloaded from Wiro.")),
                )
            except Exception as exc:  # the bot's own machine: a full disk, a disk error, a bug
                jlog.error("could not save the clip (%s); linking it", describe(exc))
                return await self._post_and_settle(
                    job, None, job.output_size, link_reason=local_fault_reason(exc)
                )
            return await self._post_and_settle(job, clip, size, chain_note=chain_note)

    async def _fetch_clip(
        self, job: Job, scratch: contextlib.AsyncExitStack
    ) -> tuple[Path | None, int | None, str | None]:
        """Download the clip (an Extend's part: stitched after the clip it continues) into a
        scratch file that `scratch` removes; return it, its size and a note for the card.

        The path is None when the clip is too big to download (it is linked)."""
        assert job.output_url
        await asyncio.to_thread(self.config.work_dir.mkdir, parents=True, exist_ok=True)
        path = self.config.work_dir / f"job-{job.id}-{secrets.token_hex(4)}.mp4"
        scratch.callback(_remove_quietly, path, job.id)
        try:
            size = await self.client_for(job.model).download(
                job.output_url, path, max_bytes=self.config.max_clip_bytes
            )
        except DownloadRefused as exc:
            if not exc.too_big:
                raise
            job_logger(log, job.id).warning("clip too big to download; linking it")
            return None, job.output_size, None
        if job.extends_job_id is None:
            return path, size, None
        joined = await scratch.enter_async_context(self.video.scratch())
        clip, note = await self._stitch_onto_earlier(job, path, joined)
        return clip, (await asyncio.to_thread(clip.stat)).st_size, note

    async def _post_and_settle(
        self,
        job: Job,
        clip: Path | None,
        size: int | None,
        *,
        chain_note: str | None = None,
        link_reason: str | None = None,
    ) -> Job:
        """Post the clip (attached, fitted, else linked with `link_reason`) and charge the job.

        Wiro made and billed the clip: only Discord's own "no" (a channel the bot can no longer
        post in) fails the job; a Discord outage that outlasts the retry window leaves the link
        on the card."""
        jlog = job_logger(log, job.id)
        keep = clip is not None and chain_note is None  # this job's whole clip
        try:
            delivery = await self._post_clip(job, clip, size, link_reason=link_reason)
        except asyncio.CancelledError:
            raise
        except OutageOutlasted as exc:
            # Wiro was paid and the clip exists: the member gets it as a link, charged.
            jlog.error("Discord refused the clip for the whole retry window: %s", exc)
            if keep and clip is not None:
                await self._keep_clip(job, clip)  # it can still be extended
            return await self.outcomes.succeed(
                job,
                None,
                note=str(
                    Text(
                        "Discord was unavailable for too long to post the clip, so here is its "
                        "link (it expires after a while, download it soon): {url}",
                        url=job.output_url,
                    )
                ),
            )
        except Exception as exc:
            jlog.error("could not post the clip: %s", exc)
            reason = (
                Text(
                    "The finished clip could not be posted in this channel. It can be "
                    "downloaded for a while here: {url}",
                    url=job.output_url,
                )
                if job.output_url
                else Text("The finished clip could not be posted in this channel.")
            )
            return await self.outcomes.finish(job, JobState.FAILED, str(reason))
        jlog.info("delivered message=%s attached=%s", delivery.message_id, delivery.attached)
        note: str | None = " ".join(n for n in (chain_note, delivery.note) if n) or None
        # Recorded before anything else: a restart from here on must not post it again.
        job = await self.storage.update_job(
            job.id, result_message_id=delivery.message_id, outcome_reason=note
        )
        if keep and clip is not None:
            await self._keep_clip(job, clip)
        return await self.outcomes.succeed(job, delivery.message_id, note=note)

    async def link_after_fault(self, job: Job) -> Job:
        """End a delivery that an unexpected error interrupted: the clip is paid for, so the
        member gets its link (on an allowed host) and the job is charged, never refunded."""
        jlog = job_logger(log, job.id)
        job = await self.storage.get_job(job.id)
        if job.result_message_id is not None:
            return await self.outcomes.succeed(job, job.result_message_id, note=job.outcome_reason)
        if not job.output_url:
            return await self.outcomes.finish(
                job, JobState.FAILED, str(Text("Wiro returned no video."))
            )
        try:
            self.client_for(job.model).check_download_url(job.output_url)
        except DownloadRefused as exc:
            jlog.error("clip link refused: %s", exc)
            return await self.outcomes.finish(
                job, JobState.FAILED, str(Text("The clip came from a host the bot does not trust."))
            )
        return await self._post_and_settle(job, None, job.output_size, link_reason=BOT_FAULT)

    async def _keep_clip(self, job: Job, clip: Path) -> None:
        """Keep the posted clip (full quality) so that it can be extended later, and start
        decoding its last frame in the background, so that an Extend need not wait for it.

        The kept clip is the one `kept_clip` gives an Extend (for an extension, the stitched
        clip), so the frame stored beside it is the one an Extend starts from. The clip is
        already posted: nothing here may fail the job (one warning instead)."""
        try:
            kept = await asyncio.to_thread(self.clips.put, job.id, clip)
        except Exception as exc:
            job_logger(log, job.id).warning("could not keep the clip for Extend: %s", exc)
            return
        try:
            if kept is not None:  # None: the clip alone is over CLIP_STORE_MB
                self.last_frames.prepare(job.id)
        except Exception as exc:
            job_logger(log, job.id).warning("could not decode the kept clip's last frame: %s", exc)
        try:
            await self.clips.trim()  # oldest first, under CLIP_STORE_MB
        except Exception as exc:
            job_logger(log, job.id).warning("could not remove old kept clips: %s", exc)

    async def _stitch_onto_earlier(
        self, job: Job, part: Path, joined: Path
    ) -> tuple[Path, str | None]:
        """The earlier clip followed by this job's part, written to `joined`; when that cannot
        be done, the part alone with a note saying why."""
        jlog = job_logger(log, job.id)
        assert job.extends_job_id is not None
        earlier_job = await self.storage.get_job(job.extends_job_id)
        try:
            earlier = await self.kept_clip(earlier_job)
            if earlier is None:
                jlog.warning("clip of job %s is gone; posting the new part alone", earlier_job.id)
                gone = Text("The earlier clip is no longer stored, so only the new part is posted.")
                return part, str(gone)
            result = await self.video.stitch(earlier, part, joined)
        except Exception as exc:
            # The new part is on disk and is what Wiro made: it goes out alone (attached beats a
            # link to the same part), and the card says why the parts were not joined.
            jlog.error("could not stitch onto job %s: %s", earlier_job.id, describe(exc))
            why = disk_words(exc) or Text("The parts could not be joined")
            return part, str(Text("{why}, so only the new part is posted.", why=why))
        jlog.info(
            "stitched onto job %s: %.1f s (%s, %d frame(s) dropped at the join)",
            earlier_job.id,
            result.info.duration,
            "remuxed" if result.remuxed else "re-encoded",
            result.dropped_frames,
        )
        return joined, None

    async def kept_clip(self, job: Job, depth: int = 0) -> Path | None:
        """A finished job's clip at full quality: kept on disk, else rebuilt from Wiro's files
        (downloaded again, and stitched again for an extension) while Wiro keeps them."""
        if job.deleted_at is not None:
            return None  # deleted by its requester or a moderator: never fetched again
        kept = await asyncio.to_thread(self.clips.get, job.id)
        if kept is not None:
            return kept
        if job.state is not JobState.SUCCEEDED or not job.output_url or depth > 60:
            return None
        if job.extends_job_id is None and self.clips.over_cap(job.output_size):
            return None  # over CLIP_STORE_MB alone: it would not be kept, so no download
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
            earlier = await self.kept_clip(
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

    async def _post_clip(
        self, job: Job, clip: Path | None, size: int | None, *, link_reason: str | None = None
    ) -> Delivery:
        """Attach the clip, fitted to the upload limit if need be; else link it.

        A fault of the bot's own machine while fitting or reading the file links the clip with
        the reason. The post itself outlasts a Discord outage (`_deliver_retrying`)."""
        if clip is None or size is None:
            return await self._deliver_retrying(job, None, size, link_reason=link_reason)
        try:
            return await self._attach(job, clip, size)
        except (asyncio.CancelledError, OutageOutlasted, PresenterError):
            raise
        except Exception as exc:
            job_logger(log, job.id).error(
                "could not attach the clip (%s); linking it", describe(exc)
            )
            return await self._deliver_retrying(
                job, None, size, link_reason=local_fault_reason(exc)
            )

    async def _attach(self, job: Job, clip: Path, size: int) -> Delivery:
        """Attach the clip; a 413 for a file the bot believed would fit is learned from: the
        clip is fitted to Discord's base limit and tried once more, and only then linked."""
        jlog = job_logger(log, job.id)
        believed = self._presenter.attach_limit(job)
        try:
            return await self._fit_and_post(job, clip, size, self._upload_limit(job, believed))
        except UploadTooLarge as exc:
            smaller = min(self.config.base_upload_limit, exc.size - 1)
            self._upload_caps[job.guild_id] = (believed, smaller)
            jlog.warning(
                "Discord refused %d bytes as too large (limit believed %d): this server's "
                "uploads are held to %d bytes from now on; fitting the clip and trying once more",
                exc.size,
                believed,
                smaller,
            )
        try:
            return await self._fit_and_post(job, clip, size, smaller)
        except UploadTooLarge as exc:
            jlog.warning("Discord refused %d bytes as too large again; linking it", exc.size)
            return await self._deliver_retrying(job, None, size, link_reason=TOO_LARGE)

    def _upload_limit(self, job: Job, believed: int) -> int:
        """The limit a clip must fit: the presenter's, or a smaller one a 413 taught us while
        the presenter still believes the limit that failed (a server that regained its boosts
        comes with a new limit, and the lesson is dropped)."""
        learned = self._upload_caps.get(job.guild_id)
        if learned is None:
            return believed
        failed_at, cap = learned
        if failed_at != believed:
            del self._upload_caps[job.guild_id]
            return believed
        return min(believed, cap)

    async def _fit_and_post(self, job: Job, clip: Path, size: int, limit: int) -> Delivery:
        """Post the clip, first re-encoded to fit `limit` when it is over it (once)."""
        if size <= limit:
            return await self._deliver_retrying(job, clip, size)
        jlog = job_logger(log, job.id)
        jlog.info("the clip (%d bytes) is over the upload limit (%d): compressing it", size, limit)
        async with self.video.scratch() as fitted:
            try:
                started = time.monotonic()
                result = await self.video.fit(clip, fitted, limit)
            except VideoError as exc:
                if disk_words(exc) is not None:
                    raise  # the bot's disk, not the clip: linked with that reason
                jlog.warning("could not fit the clip (%d bytes) under %d: %s", size, limit, exc)
                if limit < self._presenter.attach_limit(job):  # only a 413 taught us this limit
                    return await self._deliver_retrying(job, None, size, link_reason=TOO_LARGE)
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
        self,
        job: Job,
        clip: Path | None,
        size: int | None,
        *,
        original_size: int | None = None,
        link_reason: str | None = None,
    ) -> Delivery:
        """Post the clip, outlasting a Discord outage (same nonce on every try)."""
        presenter = self._presenter

        async def say_it_is_coming() -> None:  # the card says the clip is coming, not failed
            await self.outcomes.render(job, delivery_delayed=True)

        return await self._outlast_outage(
            job,
            lambda: presenter.deliver_clip(
                job, ClipToPost(clip, size, original_size=original_size, link_reason=link_reason)
            ),
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


def _remove_quietly(path: Path, job_id: int) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # a disk error: the start-up sweep removes it later
        job_logger(log, job_id).warning("could not remove %s: %s", path.name, exc)
