"""The job lifecycle: check, reserve, submit, follow, deliver or refund, cancel, time out, resume.

Independent of Discord. It talks to Discord through `JobPresenter`, which a cog implements
(post and edit the job card, post the clip, write the audit line), so the whole lifecycle runs in
tests against the Wiro simulator and a recording presenter.

Every state change is written to SQLite before the next slow step, so that a restart at any
await point resumes from the last saved state (`resume_all`). A Run is never sent twice for the
same job, except after Wiro's definite "concurrency limit" answer (code 96), which means the task
was not created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path

from bot import camera, quota
from bot.admission import (
    IMAGE_RUNS_PAUSED,
    MAX_PROMPT_CHARS,
    Admission,
    has_visible_text,
    normalise_prompt,
)
from bot.background import BackgroundTasks
from bot.catalogue import DEFAULT_MODEL, MODELS, get_model
from bot.delivery import OutageOutlasted, outlast
from bot.eta import DEFAULT_ETA_SECONDS, ETA_FLOOR, EtaEstimator
from bot.job_api import (
    BUSY_RETRY_SECONDS,
    MAX_CLIP_BYTES,
    ApprovalGate,
    CardExtras,
    ChannelNotAllowed,
    Delivery,
    JobConfig,
    JobPresenter,
    LimitReached,
    PresenterError,
    QuotaStatus,
    RefundOutcome,
    Refused,
    VideoRequest,
    utcnow,
)
from bot.logs import current_job, job_logger
from bot.media import FirstFrame
from bot.video import VideoError, VideoWorker
from bot.video.store import ClipStore
from bot.wiro.client import WiroClient
from bot.wiro.errors import (
    DownloadRefused,
    TaskDeadlineExceeded,
    WiroAuthError,
    WiroConcurrencyLimit,
    WiroError,
    WiroInsufficientBalance,
    WiroPermissionError,
    WiroRateLimited,
    WiroSchemaUnavailable,
    WiroTransportError,
    WiroValidationError,
)
from bot.wiro.models import StageUpdate, TaskDetail, TaskOutcome
from bot.wiro_queue import LocalQueue
from storage.api import IllegalTransition, ReservationRefused
from storage.approvals import ApprovalStatus
from storage.db import Database
from storage.models import Job, JobState, NewJob, Stage, StoredFrame

# Re-exported: cogs and tests import these from here.
__all__ = [
    "BUSY_RETRY_SECONDS",
    "DEFAULT_ETA_SECONDS",
    "ETA_FLOOR",
    "MAX_CLIP_BYTES",
    "MAX_PROMPT_CHARS",
    "ApprovalGate",
    "CardExtras",
    "ChannelNotAllowed",
    "Delivery",
    "JobConfig",
    "JobPresenter",
    "JobService",
    "LimitReached",
    "PresenterError",
    "QuotaStatus",
    "RefundOutcome",
    "Refused",
    "VideoRequest",
    "has_visible_text",
    "normalise_prompt",
    "utcnow",
]

log = logging.getLogger(__name__)

_WIRO_STAGE = {
    "queued": Stage.QUEUED,
    "starting": Stage.STARTING,
    "generating": Stage.GENERATING,
    "finishing": Stage.FINISHING,
}


class JobService:
    """Run every /video job from reservation to its final card."""

    def __init__(
        self,
        *,
        storage: Database,
        wiro: WiroClient,
        config: JobConfig,
        presenter: JobPresenter | None = None,
        clock: Callable[[], datetime] = utcnow,
        video: VideoWorker | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        # `clock` is wall time (windows, deadlines, what cards show); `monotonic` measures
        # intervals (the local queue's busy hold, ETA cache). Tests inject both.
        self.storage = storage
        self.wiro = wiro
        self.config = config
        self.presenter: JobPresenter | None = presenter
        self.clock = clock
        # Video work (fitting clips to the upload limit, Extend) runs on its own bounded pool.
        self.video = video or VideoWorker(config.work_dir)
        # Set by the bot when the approval queue exists: every new job passes submit(), so
        # every entry point (/video, Re-roll, the studio's) is held the same way.
        self.gate: ApprovalGate | None = None
        self.sleep = sleep  # waits between delivery retries (tests advance their clock instead)
        self.clips = ClipStore(config.clips_dir or config.work_dir / "clips")
        self.admission = Admission(storage=storage, wiro=wiro, config=config, clock=clock)
        self.queue = LocalQueue(
            storage, busy_retry_seconds=config.busy_retry_seconds, monotonic=monotonic
        )
        self.eta = EtaEstimator(storage, clock, monotonic=monotonic)
        self._tasks = BackgroundTasks("job")
        self._submissions = BackgroundTasks("run")
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._accepting = True
        # Jobs whose task Wiro reported a problem with and is retrying (`task_error`): shown on
        # the card until the task moves on. Not stored: a restart re-learns it at its first poll.
        self._retrying: set[int] = set()
        self._stopping: set[int] = set()  # jobs whose task a background stop is stopping

    # ------------------------------------------------------------------------------------------
    # Checks before anything is spent (bot.admission)
    # ------------------------------------------------------------------------------------------
    async def precheck(self, req: VideoRequest) -> int:
        """Check everything that can be checked before the image; return the run's cost.

        Raises Refused with the member-facing reason. Nothing is written."""
        if not self._accepting:
            raise Refused("The bot is restarting. Please try again in a minute.")
        return await self.admission.precheck(req)

    async def quota_status(
        self, guild_id: int, user_id: int, role_ids: Iterable[int]
    ) -> QuotaStatus:
        """Which limit applies to a member, what is used, when it resets, jobs in flight."""
        return await self.admission.quota_status(guild_id, user_id, role_ids)

    async def expected_cost_usd(
        self, resolution: str, duration: int, model: str = DEFAULT_MODEL
    ) -> float | None:
        """Wiro's price of this model for these settings, else the median of its past runs."""
        return await self.admission.expected_cost_usd(resolution, duration, model)

    def client_for(self, model: str) -> WiroClient:
        """The Wiro client that runs this model's slug with its own schema (bot.catalogue)."""
        return self.wiro.for_project(get_model(model).slug_project)

    async def prepare_models(self) -> None:
        """Read the schema and prices of every model besides the default one (best effort)."""
        for model in MODELS.values():
            client = self.client_for(model.id)
            if client is not self.wiro:
                await client.start()

    # ------------------------------------------------------------------------------------------
    # Starting a job
    # ------------------------------------------------------------------------------------------
    async def submit(
        self,
        req: VideoRequest,
        frame: FirstFrame | None,
        *,
        thumbnail: bytes | None = None,
        note: str | None = None,
    ) -> Job:
        """Reserve credits atomically, post the card and start the job. Raises Refused."""
        # Checked again: the cog's early precheck ran before the (slow) image download, and a
        # moderator may have paused the server meanwhile. The reservation below is the atomic
        # check; this one gives the specific answer.
        cost = await self.precheck(req)
        if self.presenter is None:
            raise RuntimeError("JobService.presenter is not set")
        policy = await self.admission.policy(req)
        hold = (
            await self.gate.hold_for(
                req.guild_id, req.user_id, role_ids=req.role_ids, manage_guild=req.manage_guild
            )
            if self.gate is not None
            else None
        )
        new = NewJob(
            guild_id=req.guild_id,
            channel_id=req.channel_id,
            user_id=req.user_id,
            prompt=normalise_prompt(req.prompt),
            resolution=req.resolution,
            duration=req.duration,
            prompt_optimizer=req.prompt_optimizer,
            has_image=frame is not None,
            image_sha256=frame.sha256 if frame else None,
            image_url=req.image_url,
            credits=cost,
            upload_limit=req.upload_limit,
            expected_cost_usd=await self.expected_cost_usd(req.resolution, req.duration, req.model),
            reroll_of=req.reroll_of,
            model=req.model,
            camera=camera.join_moves(req.camera),
            image_note=(frame.note if frame else None) or req.image_note,
            source_url=req.source_url,
            extends_job_id=req.extends_job_id,
            chain_seconds=req.chain_seconds,
            remake_of=req.remake_of,
        )
        try:
            job = await self.storage.create_job_with_reservation(
                new, windows=policy.windows, check=policy.check, now=self.clock(), hold=hold
            )
        except ReservationRefused as exc:
            assert isinstance(exc.refusal, quota.Refusal)
            raise LimitReached(exc.refusal) from None
        current_job.set(job.id)  # this interaction's task: its log lines name the job
        jlog = job_logger(log, job.id)
        jlog.info(
            "reserved %d credits for user=%s guild=%s model=%s settings=%s/%ss image=%s%s",
            cost,
            req.user_id,
            req.guild_id,
            req.model,
            req.resolution,
            req.duration,
            frame is not None,
            " (waits for a moderator)" if hold else "",
        )
        try:
            if frame is not None:
                await self.storage.save_frame(
                    job.id, frame.data, frame.content_type, frame.filename
                )
        except Exception:
            jlog.exception("could not store the first frame")
            await self._finish(job, JobState.FAILED, "The bot could not store the image.")
            raise Refused(
                "Something went wrong on our side while storing your image; your credits were "
                "not used. Please try again."
            ) from None
        try:
            message_id = await self.presenter.post_card(
                job, await self._extras(job, note=note), thumbnail
            )
        except Exception as exc:
            jlog.warning("could not post the job card: %s", exc)
            await self._finish(job, JobState.FAILED, "The bot could not post in this channel.")
            raise Refused(
                "I couldn't post the job card in this channel (check that I can send messages, "
                "embed links and attach files here). Your credits were not used."
            ) from None
        try:
            job = await self.storage.update_job(
                job.id, card_message_id=message_id, card_posted_at=self.clock()
            )
        finally:
            # Even if recording the card failed, the job runs (and ends) rather than holding
            # the member's credits and a concurrency slot until the next restart. A held job
            # waits for its review instead (and expires, refunded, if that never comes).
            if hold is None:
                self._launch(job.id)
        if hold is not None and self.gate is not None:
            await self.gate.open_review(job)
        return job

    async def release(self, job_id: int) -> None:
        """Start a job a moderator approved, as usual."""
        current_job.set(job_id)
        await self._render(await self.storage.get_job(job_id))
        self._launch(job_id)

    async def withdraw(self, job_id: int, reason: str, *, by: int | None) -> Job | None:
        """End a held job that never started (cancelled, refunded); None if it had moved on."""
        job = await self.storage.get_job(job_id)
        if job.state is not JobState.PENDING:
            return None
        try:
            return await self._finish(job, JobState.CANCELLED, reason, cancelled_by=by)
        except IllegalTransition:
            return None

    def _launch(self, job_id: int) -> None:
        if job_id in self._runners and not self._runners[job_id].done():
            return
        self._runners[job_id] = self._tasks.spawn(self._drive(job_id), name=f"job-{job_id}")

    # ------------------------------------------------------------------------------------------
    # Driving a job to a terminal state
    # ------------------------------------------------------------------------------------------
    async def _drive(self, job_id: int) -> None:
        current_job.set(job_id)  # this task's own context: lower layers' lines carry the id
        jlog = job_logger(log, job_id)
        try:
            if self.gate is not None and await self.gate.holds(job_id):
                jlog.info("waits for a moderator; not started")
                return
            job = await self.storage.get_job(job_id)
            resumed_delivery = job.state is JobState.DELIVERING
            while not job.is_terminal:
                if job.state in (JobState.PENDING, JobState.WAITING):
                    job = await self._submit(job)
                elif job.state is JobState.SUBMITTING:
                    # Only after a restart: the Run may or may not have reached Wiro. Sending it
                    # again could bill twice, so the member gets their credits back instead.
                    jlog.warning("found mid-submission after a restart; not resubmitting")
                    job = await self._finish(
                        job,
                        JobState.FAILED,
                        "The bot restarted while sending this job to Wiro. It was not sent "
                        "again, to avoid paying twice.",
                    )
                elif job.state is JobState.RUNNING:
                    job = await self._follow(job)
                elif job.state is JobState.DELIVERING:
                    job = await self._deliver(job, resumed=resumed_delivery)
        except asyncio.CancelledError:
            jlog.info("runner stopped; the job resumes at the next start")
            raise
        except IllegalTransition as exc:
            # Someone else (a cancel, a moderator) moved the job first: their state stands.
            jlog.info("state moved under the runner (%s); re-reading", exc)
            job = await self.storage.get_job(job_id)
            if not job.is_terminal:
                self._runners.pop(job_id, None)
                self._launch(job_id)
                return
        except Exception:
            jlog.exception("unexpected error; failing the job and refunding")
            try:
                job = await self.storage.get_job(job_id)
                if not job.is_terminal:
                    await self._finish(
                        job,
                        JobState.FAILED,
                        f"Something went wrong on our side (job {job_id}). Your credits were "
                        "refunded.",
                    )
            except Exception:
                jlog.exception("could not record the failure")
        finally:
            if self._runners.get(job_id) is asyncio.current_task():
                self._runners.pop(job_id, None)

    async def _submit(self, job: Job) -> Job:
        jlog = job_logger(log, job.id)
        if job.state is JobState.PENDING and await self.queue.occupied(job.id):
            job = await self.storage.transition(job.id, JobState.WAITING, stage=Stage.WAITING)
            jlog.info("Wiro is busy; waiting in the local queue")
        if job.state is JobState.WAITING:
            job = await self._wait_turn(job)
            if job.is_terminal:
                return job
        came_from_queue = job.state is JobState.WAITING
        job = await self.storage.transition(
            job.id,
            JobState.SUBMITTING,
            stage=Stage.SUBMITTING,
            submit_attempts=job.submit_attempts + 1,
        )
        if came_from_queue:
            # A new card already says "Sending to Wiro"; only a card that showed the local
            # queue needs this edit (and skipping it keeps the next stage's edit unpaced).
            await self._render(job)
        frame = await self.storage.load_frame(job.id) if job.has_image else None
        if job.has_image and frame is None:
            return await self._finish(
                job, JobState.FAILED, "The first-frame image is no longer available."
            )
        # Once sent, a Run must be seen through to a saved answer: Wiro bills the task whether
        # or not we are still listening. Shielded from a shutdown, which waits for it.
        submission = self._submissions.spawn(self._send_run(job, frame), name=f"run-{job.id}")
        return await asyncio.shield(submission)

    async def _send_run(self, job: Job, frame: StoredFrame | None) -> Job:
        jlog = job_logger(log, job.id)
        try:
            accepted = await self.client_for(job.model).run(
                # The camera moves go first, as one bracketed group (bot.camera).
                prompt=camera.prompt_with_moves(job.prompt, camera.split_moves(job.camera)),
                resolution=job.resolution,
                duration=job.duration,
                prompt_optimizer=job.prompt_optimizer,
                image=frame.data if frame else None,
                image_content_type=frame.content_type if frame else "image/png",
                image_filename=frame.filename if frame else "first-frame.png",
            )
        except (WiroConcurrencyLimit, WiroRateLimited) as exc:
            # Both are definite "not processed" answers, so sending again later is safe.
            self.queue.busy(getattr(exc, "retry_after", None))
            jlog.info("Wiro is busy (%s); queued locally", exc)
            job = await self.storage.transition(job.id, JobState.WAITING, stage=Stage.WAITING)
            await self._render(job)
            return job
        except WiroError as exc:
            jlog.warning("Wiro refused the run: %s", exc)
            return await self._finish(job, JobState.FAILED, _run_failure_reason(exc))
        self.queue.slot_freed()  # the next in the local queue may try now
        job = await self.storage.transition(
            job.id,
            JobState.RUNNING,
            stage=Stage.QUEUED,
            wiro_task_id=accepted.task_id,
            wiro_task_token=accepted.task_token,
            submitted_at=self.clock(),
        )
        jlog.info("submitted to Wiro task=%s", accepted.task_id)
        await self._render(job)
        fresh = await self.storage.get_job(job.id)
        if fresh.cancelled_by is not None:
            self._stop_in_background(fresh)
        return fresh

    async def _wait_turn(self, job: Job) -> Job:
        """Wait in the local queue until this job is first and Wiro may have a free slot."""
        shown_position: int | None = None
        while True:
            job = await self.storage.get_job(job.id)
            if job.state is not JobState.WAITING:
                return job
            if job.cancelled_by is not None:
                # Cancel was pressed while the Run was out, and Wiro answered "busy".
                return await self._finish(
                    job,
                    JobState.CANCELLED,
                    None,  # who cancelled is in cancelled_by
                )
            if self._deadline_passed(job):
                return await self._finish(
                    job,
                    JobState.TIMED_OUT,
                    f"Wiro stayed busy for {self._timeout_words}, so the job was "
                    "dropped from the queue.",
                )
            position = await self.queue.position(job.id)
            if position != shown_position:
                shown_position = position
                await self._render(job, queue_position=position)
            if self.queue.may_go(position):
                return job
            await self.queue.wait(position)

    async def _follow(self, job: Job) -> Job:
        jlog = job_logger(log, job.id)
        assert job.wiro_task_id and job.wiro_task_token
        if job.cancelled_by is not None:
            # Cancelled before a restart cut the stop short: make sure Wiro is told again.
            self._stop_in_background(job)
        deadline = time.monotonic() + self._seconds_left(job)
        try:
            async for event in self.client_for(job.model).follow(
                job.wiro_task_id, job.wiro_task_token, deadline=deadline
            ):
                if isinstance(event, StageUpdate):
                    job = await self._on_stage(job, event)
                elif isinstance(event, TaskOutcome):
                    return await self._on_outcome(job, event)
        except TaskDeadlineExceeded:
            retrying = job.id in self._retrying
            jlog.warning(
                "no result within %d minutes%s; stopping the task",
                self._timeout_minutes,
                " (Wiro was still retrying after a problem)" if retrying else "",
            )
            final = await self._stop_at_wiro(job)
            ended = final.outcome() if final is not None else None
            if ended is not None and ended.kind == "succeeded":
                # It finished while we were stopping it: the member gets the clip they paid for.
                return await self._on_outcome(job, ended)
            reason = (
                f"Wiro hit a problem and was still retrying after {self._timeout_words}, so the "
                "task was stopped."
                if retrying
                else f"No result after {self._timeout_words}, so the task was stopped."
            )
            cost = ended.total_cost_usd if ended is not None else None
            return await self._finish(
                job, JobState.TIMED_OUT, reason, **({"total_cost_usd": cost} if cost else {})
            )
        except WiroAuthError as exc:
            # The follower retries everything else until the deadline; a refused credential
            # will not heal by itself, and the operator must hear about it.
            jlog.error("Wiro refused our credentials while following the task: %s", exc)
            return await self._finish(job, JobState.FAILED, _run_failure_reason(exc))
        # The follower ended without an outcome: treat like a deadline, never hang.
        jlog.error("task follower ended without an outcome")
        await self._stop_at_wiro(job)
        return await self._finish(job, JobState.FAILED, "We lost track of this task at Wiro.")

    async def _on_stage(self, job: Job, event: StageUpdate) -> Job:
        jlog = job_logger(log, job.id)
        flag_changed = event.retrying != (job.id in self._retrying)
        if event.retrying:
            self._retrying.add(job.id)
        else:
            self._retrying.discard(job.id)
        stage = _WIRO_STAGE.get(event.stage, job.stage)
        moved = stage != job.stage or event.progress != job.progress
        if not moved and not flag_changed:
            return job
        if moved:
            fields: dict[str, object] = {"stage": stage, "progress": event.progress}
            if stage is Stage.GENERATING and job.started_at is None:
                fields["started_at"] = self.clock()
            job = await self.storage.update_job(job.id, **fields)
        if event.retrying:
            jlog.info("Wiro hit a problem and is retrying (%s)", event.source)
        else:
            jlog.info("stage %s (%s)", stage.value, event.source)
        await self._render(job)
        return job

    async def _on_outcome(self, job: Job, outcome: TaskOutcome) -> Job:
        jlog = job_logger(log, job.id)
        self.queue.slot_freed()
        if outcome.kind == "succeeded" and outcome.video is not None:
            jlog.info("Wiro finished; %s bytes to deliver", outcome.video.size)
            job = await self.storage.transition(
                job.id,
                JobState.DELIVERING,
                stage=Stage.DELIVERING,
                output_url=outcome.video.url,
                output_size=outcome.video.size,
                total_cost_usd=outcome.total_cost_usd,
                delivery_nonce=job.delivery_nonce or secrets.token_hex(8),
            )
            await self._render(job)
            return job
        if outcome.kind == "cancelled":
            fresh = await self.storage.get_job(job.id)
            who = fresh.cancelled_by
            reason = None if who else "The task was cancelled at Wiro."  # None: cancelled_by says
            return await self._finish(fresh, JobState.CANCELLED, reason)
        jlog.info(
            "Wiro reported failure: %s (billed $%s)", outcome.reason, outcome.total_cost_usd or 0
        )
        # A `pexit` "0" task without a video is billed by Wiro: the member is refunded, and the
        # cost is recorded so that the server's budget and usage count what Wiro charged.
        return await self._finish(
            job,
            JobState.FAILED,
            _sentence(outcome.reason or "Wiro could not make this video."),
            total_cost_usd=outcome.total_cost_usd,
        )

    async def _deliver(self, job: Job, *, resumed: bool = False) -> Job:
        jlog = job_logger(log, job.id)
        assert self.presenter is not None
        if job.result_message_id is None and resumed:
            # The process may have died after Discord stored the clip but before we did; the
            # message nonce only deduplicates for a few minutes, so look in the channel.
            presenter = self.presenter
            try:
                posted = await outlast(
                    lambda: presenter.find_delivery(job),
                    policy=self.config.delivery_retry,
                    clock=self.clock,
                    sleep=self.sleep,
                    what=f"job={job.id} look for a posted clip",
                    logger=jlog,
                )
            except OutageOutlasted:
                posted = None  # the post below carries the same nonce: the best left to do
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
        """Keep the posted clip (full quality) so that it can be extended later."""
        try:
            await asyncio.to_thread(self.clips.put, job.id, clip)
            await asyncio.to_thread(self.clips.prune)
        except OSError as exc:
            job_logger(log, job.id).warning("could not keep the clip for Extend: %s", exc)

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

        async def on_unavailable(attempt: int, exc: Exception) -> None:
            if attempt == 0:  # once: the card says the clip is coming, not that it failed
                await self._render(job, delivery_delayed=True)

        return await outlast(
            lambda: presenter.deliver_clip(job, clip, size, **kwargs),
            policy=self.config.delivery_retry,
            clock=self.clock,
            sleep=self.sleep,
            on_unavailable=on_unavailable,
            what=f"job={job.id} clip post",
            logger=job_logger(log, job.id),
        )

    async def _succeed(self, job: Job, message_id: int | None, *, note: str | None) -> Job:
        job = await self.storage.transition(
            job.id,
            JobState.SUCCEEDED,
            settle="charge",
            stage=Stage.DONE,
            result_message_id=message_id,
            outcome_reason=note,
        )
        await self._after_terminal(job)
        return job

    async def _finish(self, job: Job, state: JobState, reason: str | None, **fields: object) -> Job:
        """Move to a failed/cancelled/timed-out state, refund, show it, tell the audit log.

        `reason` is the plain-words outcome; None for a cancel by a person (the job's
        `cancelled_by` says who, and cogs name them)."""
        self._retrying.discard(job.id)
        job = await self.storage.transition(
            job.id,
            state,
            settle="refund",
            settle_note=state.value,
            stage=Stage.DONE,
            outcome_reason=reason,
            **fields,
        )
        job_logger(log, job.id).info(
            "%s: %s (credits refunded)", state.value, reason or f"by user={job.cancelled_by}"
        )
        if job.wiro_task_id:
            self.queue.slot_freed()
        self.queue.changed()
        await self._after_terminal(job)
        return job

    async def _after_terminal(self, job: Job) -> None:
        # Re-roll is offered after success, failure and timeout: keep the first frame for it.
        await self.storage.delete_frame(job.id, keep_for_reroll=job.state is not JobState.CANCELLED)
        await self._render(job)
        if self.presenter is not None:
            try:
                await self.presenter.job_finished(job)
            except Exception:
                job_logger(log, job.id).exception("job_finished hook failed")

    def _stop_in_background(self, job: Job) -> None:
        """Ask Wiro to stop the task; the card says "cancelled" only once Task/Detail shows it.

        Stopping may take a while (Cancel and Kill are retried until Wiro confirms), so the
        member's click is answered at once; the follower sees the confirmed `task_cancel`.
        One stop per job at a time."""
        if job.id in self._stopping:
            return
        self._stopping.add(job.id)
        task = self._tasks.spawn(self._stop_at_wiro(job), name=f"stop-{job.id}")
        task.add_done_callback(lambda _: self._stopping.discard(job.id))

    async def _stop_at_wiro(self, job: Job) -> TaskDetail | None:
        """Stop the task at Wiro; return the Task/Detail that shows it closed, if Wiro did."""
        if not (job.wiro_task_id and job.wiro_task_token):
            return None
        jlog = job_logger(log, job.id)
        try:
            final = await self.client_for(job.model).stop(job.wiro_task_id, job.wiro_task_token)
        except WiroError as exc:
            jlog.warning("could not stop task at Wiro: %s", exc)
            return None
        if final is None:
            jlog.warning("Wiro did not confirm the stop; the task may still run")
        return final

    # ------------------------------------------------------------------------------------------
    # Cancel, refund, re-roll
    # ------------------------------------------------------------------------------------------
    async def cancel(self, job_id: int, actor_id: int, *, is_moderator: bool) -> str:
        """Cancel a job for its requester or a moderator; return what to tell them."""
        current_job.set(job_id)  # this interaction's task: its log lines name the job
        job = await self.storage.get_job(job_id)
        if job.user_id != actor_id and not is_moderator:
            raise Refused("Only the member who asked for this video or a moderator can cancel it.")
        if self.gate is not None:
            waiting = await self.gate.cancel_waiting(job_id, actor_id)
            if waiting is not None:
                return waiting
        for _ in range(3):  # the runner may move the job between our read and our write
            if job.is_terminal:
                state = job.state.value.replace("_", " ")
                raise Refused(f"Job {job.id} has already finished ({state}).")
            if job.state is JobState.DELIVERING:
                raise Refused("Too late to cancel: the clip is being posted.")
            if job.state in (JobState.PENDING, JobState.WAITING):
                try:
                    await self._finish(
                        job,
                        JobState.CANCELLED,
                        None,
                        cancelled_by=actor_id,
                    )
                except IllegalTransition:
                    job = await self.storage.get_job(job_id)
                    continue
                return f"Job {job.id} was cancelled and its credits refunded."
            # SUBMITTING or RUNNING: record who asked; stop it at Wiro once we have a task.
            job = await self.storage.update_job(job.id, cancelled_by=actor_id)
            await self._render(job, cancelling=True)
            if job.state is JobState.RUNNING:
                self._stop_in_background(job)
            job_logger(log, job.id).info("cancel requested by user=%s", actor_id)
            return f"Cancelling job {job.id}… The card will update when Wiro confirms."
        raise Refused("The job is changing state; try again in a moment.")

    async def moderator_refund(self, job_id: int, actor_id: int, guild_id: int) -> RefundOutcome:
        """Refund a job's credits (cancelling it first if it is still running)."""
        job = await self.storage.get_job(job_id)
        if job.guild_id != guild_id:
            raise Refused(f"Job {job_id} does not belong to this server.")
        if job.state is JobState.DELIVERING:
            # Made and paid for at Wiro; its delivery may be riding out a Discord outage.
            raise Refused(
                f"Job {job_id}'s clip is being posted right now (Wiro has made it). "
                "Run the refund again once its card says it is done."
            )
        if not job.is_terminal:
            message = await self.cancel(job_id, actor_id, is_moderator=True)
            return RefundOutcome(job, cancelling=message)
        if await self.storage.refund(job_id, note=f"moderator {actor_id}"):
            await self.storage.record_action(
                guild_id, actor_id, "refund", f"job {job_id}: {job.credits} credits"
            )
            return RefundOutcome(job)
        raise Refused(f"Job {job_id} was already refunded.")

    async def reroll(
        self,
        job_id: int,
        actor_id: int,
        role_ids: frozenset[int],
        upload_limit: int | None,
        *,
        manage_guild: bool = False,
    ) -> Job:
        """Run a finished job again with the same settings, charged again.

        An extension's re-roll runs its part again (same first frame and prompt) and is
        stitched anew after the same earlier clip."""
        job = await self.storage.get_job(job_id)
        if job.user_id != actor_id:
            raise Refused("Only the member who asked for this video can re-roll it.")
        in_flight = await self.storage.jobs_in_flight(job.guild_id)
        if any(j.reroll_of == job_id and j.user_id == actor_id for j in in_flight):
            # Almost always a double click: one re-roll at a time per card.
            raise Refused("A re-roll of this video is already on its way.")
        frame = await self._stored_first_frame(job)
        req = VideoRequest(
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            user_id=actor_id,
            role_ids=role_ids,
            prompt=job.prompt,
            resolution=job.resolution,
            duration=job.duration,
            prompt_optimizer=job.prompt_optimizer,
            upload_limit=upload_limit,
            image_url=job.image_url,
            reroll_of=job.id,
            manage_guild=manage_guild,
            has_image=job.has_image,
            model=job.model,
            camera=camera.split_moves(job.camera),
            source_url=job.source_url,
            image_note=job.image_note,
            extends_job_id=job.extends_job_id,
            chain_seconds=job.chain_seconds,
        )
        return await self.submit(req, frame, thumbnail=await _thumbnail(frame))

    async def _stored_first_frame(self, job: Job) -> FirstFrame | None:
        if not job.has_image:
            return None
        stored = await self.storage.load_frame(job.id)
        if stored is None:
            raise Refused(
                "The first-frame image of this job is no longer stored. Run /video again."
            )
        from bot.media import check_image_async

        return await check_image_async(stored[0])

    async def extend(
        self,
        job_id: int,
        actor_id: int,
        role_ids: frozenset[int],
        *,
        prompt: str | None,
        duration: int,
        upload_limit: int | None,
        manage_guild: bool = False,
    ) -> Job:
        """Continue a finished clip from its last frame; its clip is posted stitched after it.

        A normal run (same model family and resolution), checked and charged like any."""
        job = await self.storage.get_job(job_id)
        if job.user_id != actor_id:
            raise Refused("Only the member who asked for this video can extend it.")
        blocker = extend_blocker(job, self.config.max_clip_seconds)
        if blocker is not None:
            raise Refused(blocker)
        allowed = extend_lengths(job, self.config.max_clip_seconds)
        if duration not in allowed:
            raise Refused(_length_refusal(job, duration, allowed, self.config.max_clip_seconds))
        in_flight = await self.storage.jobs_in_flight(job.guild_id)
        if any(j.extends_job_id == job_id and j.reroll_of is None for j in in_flight):
            raise Refused("An extension of this video is already on its way.")
        req = VideoRequest(
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            user_id=actor_id,
            role_ids=role_ids,
            prompt=(prompt or "").strip() or job.prompt,
            resolution=job.resolution,
            duration=duration,
            prompt_optimizer=job.prompt_optimizer,
            upload_limit=upload_limit,
            extends_job_id=job.id,
            chain_seconds=job.clip_seconds + duration,
            manage_guild=manage_guild,
            # The same model; the new part starts from the clip's last frame. Camera moves are
            # not carried over: "what happens next" describes the new part afresh.
            has_image=True,
            model=job.model,
        )
        await self.precheck(req)  # before the (slower) decoding: a refusal costs nothing
        earlier = await self._kept_clip(job)
        if earlier is None:
            raise Refused(
                "This clip is no longer stored, so it cannot be extended. Clips can be extended "
                "for a few days after they are posted."
            )
        try:
            png = await self.video.last_frame(earlier)
        except VideoError as exc:
            job_logger(log, job.id).error("could not read the last frame: %s", exc)
            raise Refused("The last frame of this clip could not be read.") from None
        from bot.media import check_image_async

        frame = await check_image_async(png)
        return await self.submit(req, frame, thumbnail=await _thumbnail(frame))

    async def remake(
        self,
        job_id: int,
        actor_id: int,
        role_ids: frozenset[int],
        upload_limit: int | None,
        *,
        manage_guild: bool = False,
    ) -> Job:
        """Make a finished 768P/6 s clip again at 1080P/6 s: same prompt and first frame."""
        job = await self.storage.get_job(job_id)
        if job.user_id != actor_id:
            raise Refused("Only the member who asked for this video can remake it.")
        if not can_remake(job):
            raise Refused("Only a finished 768P, 6-second clip can be remade in 1080P.")
        in_flight = await self.storage.jobs_in_flight(job.guild_id)
        if any(j.remake_of == job_id for j in in_flight):
            raise Refused("A 1080P remake of this video is already on its way.")
        frame = await self._stored_first_frame(job)
        req = VideoRequest(
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            user_id=actor_id,
            role_ids=role_ids,
            prompt=job.prompt,
            resolution="1080P",
            duration=6,
            prompt_optimizer=job.prompt_optimizer,
            upload_limit=upload_limit,
            image_url=job.image_url,
            remake_of=job.id,
            manage_guild=manage_guild,
            has_image=job.has_image,
            model=job.model,
            camera=camera.split_moves(job.camera),
            source_url=job.source_url,
            image_note=job.image_note,
        )
        return await self.submit(req, frame, thumbnail=await _thumbnail(frame))

    # ------------------------------------------------------------------------------------------
    # Start-up and shut-down
    # ------------------------------------------------------------------------------------------
    async def resume_all(self) -> int:
        """Pick up every job in flight from SQLite; return how many."""
        await asyncio.to_thread(self._remove_stale_downloads)
        jobs = await self.storage.jobs_in_flight()
        for job in jobs:
            job_logger(log, job.id).info("resuming in state %s", job.state.value)
            self._launch(job.id)
        return len(jobs)

    def _remove_stale_downloads(self) -> None:
        """Delete half-downloaded clips and video scratch files a killed process left behind
        (none is in use yet)."""
        if not self.config.work_dir.is_dir():
            return
        for leftover in self.config.work_dir.glob("job-*.mp4"):
            leftover.unlink(missing_ok=True)
        self.video.remove_leftovers()
        self.clips.prune()

    async def shutdown(self, timeout: float = 5.0, *, submit_grace: float = 4.0) -> None:
        """Stop taking jobs and stop the runners; their state is already saved.

        Runs already sent to Wiro get up to `submit_grace` seconds to be answered and saved,
        so that a restart does not lose a task Wiro accepted (and bills)."""
        self._accepting = False
        await self._tasks.cancel_all(timeout=timeout)
        self.video.close()
        pending = len(self._submissions)
        if pending:
            log.info("waiting up to %.0f s for %d Run answers from Wiro", submit_grace, pending)
            await self._submissions.cancel_all(timeout=submit_grace, wait_first=True)

    @property
    def accepting(self) -> bool:
        return self._accepting

    def runner_count(self) -> int:
        return len(self._tasks)

    def driving(self, job_id: int) -> bool:
        """Whether a runner still drives this job (only a runner sends Runs or deliveries)."""
        runner = self._runners.get(job_id)
        return runner is not None and not runner.done()

    # ------------------------------------------------------------------------------------------
    # Card
    # ------------------------------------------------------------------------------------------
    async def _render(
        self,
        job: Job,
        *,
        queue_position: int | None = None,
        cancelling: bool = False,
        delivery_delayed: bool = False,
    ) -> None:
        if self.presenter is None or job.card_message_id is None:
            return
        try:
            extras = await self._extras(
                job,
                queue_position=queue_position,
                cancelling=cancelling,
                delivery_delayed=delivery_delayed,
            )
            await self.presenter.update_card(job, extras)
        except Exception:
            job_logger(log, job.id).exception("card update failed")

    async def _extras(
        self,
        job: Job,
        *,
        queue_position: int | None = None,
        cancelling: bool = False,
        note: str | None = None,
        delivery_delayed: bool = False,
    ) -> CardExtras:
        approval: str | None = None
        if self.gate is not None and job.state in (JobState.PENDING, JobState.CANCELLED):
            status = await self.gate.state_of(job.id)
            if status is not None and status is not ApprovalStatus.APPROVED:
                approval = status.value
        eta = None if approval is not None else await self.eta.eta(job)
        return CardExtras(
            queue_position=queue_position,
            eta=eta,
            sandbox=self.config.sandbox,
            note=note,
            cancelling=cancelling or (job.cancelled_by is not None and not job.is_terminal),
            retrying=job.id in self._retrying and not job.is_terminal,
            approval=approval,
            delivery_delayed=delivery_delayed,
            max_clip_seconds=self.config.max_clip_seconds,
        )

    # ------------------------------------------------------------------------------------------
    @property
    def _timeout_minutes(self) -> int:
        return int(self.config.timeout.total_seconds() // 60)

    @property
    def _timeout_words(self) -> str:
        minutes = self._timeout_minutes
        return "1 minute" if minutes == 1 else f"{minutes} minutes"

    def _seconds_left(self, job: Job) -> float:
        # One deadline per job, from the member's request (or its approval, for a request that
        # waited for a moderator): time in our local queue counts too.
        start = job.approved_at or job.created_at
        return (start + self.config.timeout - self.clock()).total_seconds()

    def _deadline_passed(self, job: Job) -> bool:
        return self._seconds_left(job) <= 0


EXTEND_LENGTHS = {"768P": (6, 10), "1080P": (6,)}


def extend_lengths(job: Job, max_clip_seconds: int) -> tuple[int, ...]:
    """The part lengths an Extend of `job` may ask for (none when the chain is full)."""
    room = max_clip_seconds - job.clip_seconds
    return tuple(n for n in EXTEND_LENGTHS.get(job.resolution, (6,)) if n <= room)


def extend_blocker(job: Job, max_clip_seconds: int) -> str | None:
    """Why `job` cannot be extended at all (None when it can): the button shows this."""
    if job.state is not JobState.SUCCEEDED:
        return "Only a finished video can be extended."
    if not extend_lengths(job, max_clip_seconds):
        return (
            f"This clip is {job.clip_seconds} s long: the longest a clip may grow to is "
            f"{max_clip_seconds} s."
        )
    return None


def _length_refusal(job: Job, duration: int, allowed: tuple[int, ...], max_s: int) -> str:
    choices = " or ".join(str(n) for n in allowed)
    if duration in EXTEND_LENGTHS.get(job.resolution, ()):
        return (
            f"A {duration}-second part would make this clip {job.clip_seconds + duration} s "
            f"long, over the {max_s} s maximum. Choose {choices} seconds."
        )
    return f"A part of a {job.resolution} clip can be {choices} seconds long."


def can_remake(job: Job) -> bool:
    """Remake in 1080P is offered on a finished 768P/6 s clip (not a stitched chain)."""
    return (
        job.state is JobState.SUCCEEDED
        and job.resolution == "768P"
        and job.duration == 6
        and job.extends_job_id is None
    )


async def _thumbnail(frame: FirstFrame | None) -> bytes | None:
    if frame is None:
        return None
    from bot.media import make_thumbnail

    return await asyncio.to_thread(make_thumbnail, frame.data)


def _run_failure_reason(exc: WiroError) -> str:
    """Plain words for a Run that Wiro refused (never the raw error text in public)."""
    if isinstance(exc, WiroInsufficientBalance):
        return "The bot's Wiro account is out of balance. The bot's operator has to top it up."
    if isinstance(exc, WiroPermissionError):
        return (
            "Wiro says the bot's project may not see this task (were the Wiro keys changed?). "
            "The operator has to check them."
        )
    if isinstance(exc, WiroAuthError):
        return "The bot's Wiro credentials were refused. The operator has to check them."
    if isinstance(exc, WiroSchemaUnavailable):
        return IMAGE_RUNS_PAUSED
    if isinstance(exc, WiroValidationError):
        return "Wiro rejected these settings."
    if isinstance(exc, WiroTransportError) and exc.maybe_submitted:
        return (
            "The connection to Wiro broke while sending the job. It was not sent again, to "
            "avoid paying twice."
        )
    return "Wiro could not accept the job right now."


def _sentence(text: str) -> str:
    """Wiro's reasons as a sentence for the card: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."
