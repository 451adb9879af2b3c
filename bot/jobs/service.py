"""The job lifecycle: check, reserve, submit, follow, deliver or refund, cancel, time out, resume.

`JobService` keeps the lifecycle (reservation, the driving loop, the terminal transitions,
cancel and refund, start-up and shut-down, the card). Its other parts are mixed in, one concern
per module: `bot.jobs.at_wiro` (the local queue, the Run, following and stopping the task),
`bot.jobs.delivery` (download, stitch, fit, post through Discord outages, keep the clip) and
`bot.jobs.followups` (Re-roll, Extend, Remake: a new request from a finished job).

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
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import ClassVar

import bot.governance.quota as quota
from bot import camera
from bot.background import BackgroundTasks
from bot.catalogue import DEFAULT_MODEL, MODELS, get_model
from bot.governance.admission import (
    Admission,
    FreeSpaceFloor,
    normalise_prompt,
)
from bot.jobs.at_wiro import JobAtWiro
from bot.jobs.contracts import (
    ApprovalGate,
    CardExtras,
    JobConfig,
    JobPresenter,
    LimitReached,
    QuotaStatus,
    RefundOutcome,
    Refused,
    VideoRequest,
    utcnow,
)
from bot.jobs.delivery import JobDelivery
from bot.jobs.eta import EtaEstimator
from bot.jobs.followups import (
    JobFollowUps,
    on_its_way_words,
)
from bot.jobs.local_queue import LocalQueue
from bot.logs import current_job, job_logger
from bot.media.image_slots import ImageSlots
from bot.media.images import FirstFrame
from bot.media.video import VideoWorker
from bot.media.video.last_frames import LastFrames
from bot.media.video.store import ClipStore
from bot.wiro.client import WiroClient
from storage.api import FollowUpInFlight, IllegalTransition, ReservationRefused
from storage.approvals import ApprovalStatus, Hold
from storage.db import Database
from storage.models import Job, JobState, NewJob, Stage

log = logging.getLogger(__name__)

# A card still behind its job is rendered again at every start and sweep for this long after
# the job last changed; then it is given up (logged). Older cards would be reposted (Discord
# cannot edit them after an hour), far from the conversation they belong to.
CARD_TRUTH_WINDOW = timedelta(hours=24)
# The sweep leaves alone cards changed this recently: their edit is likely still on its way.
CARD_SWEEP_SETTLE = timedelta(minutes=5)


class JobService(JobAtWiro, JobDelivery, JobFollowUps):
    """Run every /video job from reservation to its final card."""

    # The fraction of `config.timeout` a job really gets. Always 1 in the product (the operator's
    # JOB_TIMEOUT_MINUTES is the deadline, and the words members read name it); only the e2e
    # launcher (tests/e2e/launch_bot.py) shortens it, as it shortens Discord's pacing windows.
    deadline_scale: ClassVar[float] = 1.0
    # How often cards whose edit failed for good are tried again (besides every start).
    card_sweep_seconds: ClassVar[float] = 600.0

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
        disk: FreeSpaceFloor | None = None,
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
        self.clips = ClipStore(
            config.clips_dir or config.work_dir / "clips",
            cap_bytes=config.clip_store_bytes,
            frames_dir=storage.frames_dir,  # first-frame images count under the same cap
            frames_in_use=storage.frames_in_use,
        )
        # Reading members' images: one per member, two downloads and one decode at a time
        # (bot.media.images.ImageSlots).
        self.images = ImageSlots()
        # Below the free-space floor (MIN_FREE_DISK_MB, `bot.ops.disk`, built by the app), new
        # jobs are refused at the early check; without one, never.
        self.disk = disk
        # Each kept clip's last frame (an Extend's first frame), decoded in the background.
        self.last_frames = LastFrames(self.clips, self.video)
        self.admission = Admission(
            storage=storage, wiro=wiro, config=config, clock=clock, disk=self.disk
        )
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
        # Jobs reserved by a submit() of this process that has not recorded their card yet:
        # resume_all leaves them to it (they are not jobs a crash left without a card).
        self._carding: set[int] = set()
        self._card_sweep = BackgroundTasks("cards")
        # Per server, a smaller upload limit a 413 taught us (bot.jobs.delivery): in memory only,
        # a restart re-learns it with one refused upload.
        self.upload_caps: dict[int, tuple[int, int]] = {}

    # ------------------------------------------------------------------------------------------
    # Checks before anything is spent (bot.governance.admission)
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
            image_author_id=req.image_author_id,
            extends_job_id=req.extends_job_id,
            chain_seconds=req.chain_seconds,
            remake_of=req.remake_of,
            remix_of=req.remix_of,
            style=req.style,
            style_prompt=req.style_prompt,
        )
        try:
            job = await self.storage.create_job_with_reservation(
                new, windows=policy.windows, check=policy.check, now=self.clock(), hold=hold
            )
        except ReservationRefused as exc:
            assert isinstance(exc.refusal, quota.Refusal)
            raise LimitReached(exc.refusal) from None
        except FollowUpInFlight as exc:
            log.info("not reserved: %s", exc)
            raise Refused(on_its_way_words(exc.kind)) from None
        self._carding.add(job.id)
        try:
            return await self._show_and_start(job, req, frame, cost, hold, thumbnail, note)
        finally:
            self._carding.discard(job.id)

    async def _show_and_start(
        self,
        job: Job,
        req: VideoRequest,
        frame: FirstFrame | None,
        cost: int,
        hold: Hold | None,
        thumbnail: bytes | None,
        note: str | None,
    ) -> Job:
        """Store the first frame, post the card, record it, then start the job (or hold it).

        Nothing reaches Wiro before the card is posted and recorded: a job the member never
        saw is refunded instead (here, or by `resume_all` after a crash)."""
        presenter = self.presenter
        assert presenter is not None  # checked by submit() before anything was written
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
            message_id = await presenter.post_card(
                job, await self._extras(job, note=note), thumbnail
            )
        except Exception as exc:
            jlog.warning("could not post the job card: %s", exc)
            await self._finish(job, JobState.FAILED, "The bot could not post in this channel.")
            raise Refused(
                "I couldn't post the job card in this channel (check that I can send messages, "
                "embed links and attach files here). Your credits were not used."
            ) from None
        card = {"card_message_id": message_id, "card_posted_at": self.clock()}
        try:
            job = await self.storage.update_job(job.id, **card)
        except Exception:
            # Not run: a job whose card is not on record is one resume_all would refund. The
            # failure carries the card id, so the card itself says so if this write lands.
            jlog.exception("could not record the job card")
            with contextlib.suppress(Exception):
                await self._finish(
                    job, JobState.FAILED, "The bot could not record this job.", **card
                )
            raise Refused(
                "Something went wrong on our side while starting your video; your credits were "
                "not used. Please try again."
            ) from None
        if hold is None:
            self._launch(job.id)  # a held job waits for its review (and expires, refunded)
        elif self.gate is not None:
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
                if job.state in (JobState.PENDING, JobState.WAITING) and _never_shown(job):
                    job = await self._close_unseen(job)
                elif job.state in (JobState.PENDING, JobState.WAITING):
                    job = await self._submit(job)
                elif job.state is JobState.SUBMITTING and job.run_sent_at is None:
                    # Only after a restart, stopped before its Run left (while the first frame
                    # was uploading): Wiro has no task for it, so sending the Run is safe.
                    jlog.info("found before its Run was sent; sending it now")
                    job = await self.storage.transition(
                        job.id, JobState.WAITING, stage=Stage.WAITING
                    )
                elif job.state is JobState.SUBMITTING:
                    # Only after a restart: the Run may or may not have reached Wiro. Sending it
                    # again could bill twice, so the member gets their credits back instead,
                    # and the server's budget counts what Wiro may have billed.
                    jlog.warning("found mid-submission after a restart; not resubmitting")
                    job = await self._fail_ambiguous(
                        job,
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
            jlog.exception("unexpected error")
            try:
                job = await self._after_unexpected_error(job_id)
            except Exception:
                jlog.exception("could not record the failure")
            else:
                if job.state is JobState.DELIVERING:  # stopping showed Wiro had finished it
                    self._runners.pop(job_id, None)
                    self._launch(job_id)
                    return
        finally:
            if self._runners.get(job_id) is asyncio.current_task():
                self._runners.pop(job_id, None)

    async def _after_unexpected_error(self, job_id: int) -> Job:
        """End a job an unexpected error interrupted, by what was already spent on it.

        Before the Run: failed and refunded (once the Run has left, with what Wiro may bill
        counted, `_fail_ambiguous`). While the task runs at Wiro: the task is stopped
        first, so that nothing bills unseen (`_stop_after_fault`). After Wiro finished: the
        clip is paid for, so the member gets its link and the job is charged."""
        job = await self.storage.get_job(job_id)
        if job.is_terminal:
            return job
        if job.state is JobState.DELIVERING:
            return await self._link_after_fault(job)
        if job.state is JobState.RUNNING and job.wiro_task_id:
            return await self._stop_after_fault(job)
        if job.state is JobState.SUBMITTING and job.run_sent_at is not None:
            # The Run had left: Wiro may run and bill a task whose id was not stored.
            return await self._fail_ambiguous(
                job,
                f"Something went wrong on our side (job {job_id}) while sending it to Wiro. It "
                "was not sent again, to avoid paying twice. Your credits were refunded.",
            )
        return await self._finish(
            job,
            JobState.FAILED,
            f"Something went wrong on our side (job {job_id}). Your credits were refunded.",
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

    # ------------------------------------------------------------------------------------------
    # Cancel and refund (Re-roll, Extend, Remake: bot.jobs.followups)
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

    # ------------------------------------------------------------------------------------------
    # Start-up and shut-down
    # ------------------------------------------------------------------------------------------
    async def resume_all(self) -> int:
        """Pick up every job in flight from SQLite; return how many were resumed.

        First every card whose latest change never reached it is rendered again (finished
        jobs included: a crash can land between a job's end and its paced card edit), then
        the runners start; the sweep keeps retrying cards whose edit failed for good.
        A job a crash left before its card was posted (and so before Wiro) is not run: it is
        refunded and closed (`_close_unseen`)."""
        await asyncio.to_thread(self._remove_stale_downloads)
        await self.refresh_stale_cards()
        if not len(self._card_sweep):
            self._card_sweep.spawn(self._sweep_cards(), name="card-sweep")
        resumed = 0
        for job in await self.storage.jobs_in_flight():
            if job.id in self._carding:
                continue  # reserved by a /video of this process, which is posting its card
            if _never_shown(job):
                await self._close_unseen(job)
                continue
            job_logger(log, job.id).info("resuming in state %s", job.state.value)
            self._launch(job.id)
            resumed += 1
        return resumed

    async def _close_unseen(self, job: Job) -> Job:
        """Refund and close a job that never started because its card was never recorded.

        Chosen over posting the card late and running it: the member was told nothing (their
        /video ended with the crash) and may well have asked again meanwhile, so running it
        could charge them twice; a card appearing minutes later without context confuses.
        The interaction token that could tell them privately is never stored (a credential),
        so the log and the audit line say it. A card Discord took just before the crash (its
        id never recorded) is found and shows the outcome instead of "Sending to Wiro…"."""
        jlog = job_logger(log, job.id)
        card_id = await self._find_lost_card(job)
        if card_id is None:
            jlog.warning(
                "closing a job whose card was never posted (state %s, user=%s); refunding, not run",
                job.state.value,
                job.user_id,
            )
            reason = (
                "The bot restarted before this request's card was posted, so it was not run. "
                "Its credits were refunded."
            )
            card: dict[str, object] = {}
        else:
            jlog.warning(
                "closing a job whose card (message %s) was posted but not recorded before a "
                "restart; refunding, not run",
                card_id,
            )
            reason = (
                "The bot restarted before this job could start, so it was not run. Its credits "
                "were refunded; Re-roll to ask again."
            )
            card = {"card_message_id": card_id, "card_posted_at": job.created_at}
        try:
            job = await self._finish(job, JobState.FAILED, reason, **card)
        except IllegalTransition:
            return await self.storage.get_job(job.id)
        # A held request never got its review message either: close its review too.
        await self.storage.decide_approval(
            job.id,
            ApprovalStatus.CANCELLED,
            actor_id=None,
            reason="the request ended before review",
            now=self.clock(),
        )
        return job

    async def _find_lost_card(self, job: Job) -> int | None:
        if self.presenter is None:
            return None
        try:
            return await self.presenter.find_card(job)
        except Exception:
            job_logger(log, job.id).exception("could not look for the job's card")
            return None

    async def refresh_stale_cards(self, *, settled_for: timedelta = timedelta(0)) -> int:
        """Render again every card still marked as behind its job; return how many.

        Only changes of the last `CARD_TRUTH_WINDOW` (older marks are given up and logged),
        and only those at least `settled_for` old. Jobs a runner drives are left to it: its
        next render carries what this one cannot know (queue position, a delayed delivery)."""
        now = self.clock()
        forgotten = await self.storage.forget_stale_cards(now - CARD_TRUTH_WINDOW)
        if forgotten:
            log.warning(
                "gave up showing the latest state on %d cards unchanged for %s",
                forgotten,
                CARD_TRUTH_WINDOW,
            )
        shown = 0
        for job in await self.storage.stale_cards(now - CARD_TRUTH_WINDOW):
            if self.driving(job.id) or now - job.updated_at < settled_for:
                continue
            job_logger(log, job.id).info(
                "card may not show its %s state; rendering it again", job.state.value
            )
            await self._render(job)
            shown += 1
        return shown

    async def _sweep_cards(self) -> None:
        """Retry cards whose last edit failed for good (a long Discord outage), now and then."""
        while True:
            await asyncio.sleep(self.card_sweep_seconds)
            try:
                await self.refresh_stale_cards(settled_for=CARD_SWEEP_SETTLE)
            except Exception:
                log.exception("card sweep failed; trying again at the next one")

    def _remove_stale_downloads(self) -> None:
        """Delete half-downloaded clips and video scratch files a killed process left behind
        (none is in use yet)."""
        if not self.config.work_dir.is_dir():
            return
        for leftover in self.config.work_dir.glob("job-*.mp4"):
            leftover.unlink(missing_ok=True)
        self.video.remove_leftovers()
        self.clips.remove_leftovers()
        self.clips.prune()

    async def shutdown(self, timeout: float = 5.0, *, submit_grace: float = 4.0) -> None:
        """Stop taking jobs and stop the runners; their state is already saved.

        Runs already sent to Wiro get up to `submit_grace` seconds to be answered and saved,
        so that a restart does not lose a task Wiro accepted (and bills). A first frame still
        uploading is a runner's step and stops at once: its Run has not left, and the job is
        sent at the next start."""
        self._accepting = False
        await self._card_sweep.cancel_all(timeout=timeout)
        await self._tasks.cancel_all(timeout=timeout)
        # After the runners: a delivery may have started a decode until it stopped.
        await self.last_frames.close(timeout=timeout)
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
            # Marked first: if the process dies before the (paced) edit lands, the next start
            # renders this card again. The edit clears the mark (`Storage.card_shown`).
            await self.storage.request_card(job.id)
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
        origin = await self.storage.get_job(job.remix_of) if job.remix_of is not None else None
        return CardExtras(
            remix_of_message_id=origin.card_message_id if origin is not None else None,
            queue_position=queue_position,
            eta=eta,
            sandbox=self.config.sandbox,
            note=note,
            cancelling=cancelling or (job.cancelled_by is not None and not job.is_terminal),
            retrying=job.id in self._retrying and not job.is_terminal,
            approval=approval,
            delivery_delayed=delivery_delayed,
            max_clip_seconds=self.config.max_clip_seconds,
            max_clip_bytes=self.config.max_clip_bytes,
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
        return (start + self.config.timeout * self.deadline_scale - self.clock()).total_seconds()

    def _deadline_passed(self, job: Job) -> bool:
        return self._seconds_left(job) <= 0


def _never_shown(job: Job) -> bool:
    """A job that has not reached Wiro and whose card was never posted (a crash in between)."""
    return job.card_message_id is None and job.state in (JobState.PENDING, JobState.WAITING)
