"""The job lifecycle: check, reserve, submit, follow, deliver or refund, cancel, time out, resume.

`JobService` keeps the lifecycle (reservation, the driving loop, cancel and refund, start-up and
shut-down) and delegates the rest to collaborators it builds, one concern per module, each
given what it needs in its constructor: `bot.jobs.outcomes` (how a job ends, its card's
extras, the deadline), `bot.jobs.at_wiro` (the local queue, the Run, following and stopping the
task), `bot.jobs.delivery` (download, stitch, fit, post through Discord outages, keep the
clip), `bot.jobs.followups` (Re-roll, Extend, Remix, Remake, Delete) and `bot.jobs.cards`
(posting the card, keeping it true across restarts).

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
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from bot import i18n
from bot.background import BackgroundTasks
from bot.catalogue import DEFAULT_MODEL, MODELS, get_model
from bot.governance.admission import (
    Admission,
    FreeSpaceFloor,
)
from bot.jobs.at_wiro import JobAtWiro
from bot.jobs.cards import JobCards, never_shown
from bot.jobs.contracts import (
    ApprovalGate,
    JobConfig,
    JobPresenter,
    QuotaStatus,
    RefundOutcome,
    Refused,
    VideoRequest,
    check_in_server,
    finished_words,
    utcnow,
)
from bot.jobs.delivery import JobDelivery
from bot.jobs.eta import EtaEstimator
from bot.jobs.followups import JobFollowUps
from bot.jobs.local_queue import LocalQueue
from bot.jobs.outcomes import JobOutcomes
from bot.jobs.reservation import JobReservations
from bot.logs import current_job, job_logger
from bot.media.image_slots import ImageSlots
from bot.media.images import FirstFrame
from bot.media.video.last_frames import LastFrames
from bot.media.video.store import ClipStore
from bot.media.video.worker import VideoWorker
from bot.timing import PRODUCT, Timing
from bot.wiro.client import WiroClient
from storage.api import IllegalTransition, Storage
from storage.models import Job, JobState, Stage

log = logging.getLogger(__name__)


class JobService:
    """Run every /video job from reservation to its final card."""

    def __init__(
        self,
        *,
        storage: Storage,
        wiro: WiroClient,
        config: JobConfig,
        presenter: JobPresenter | None = None,
        clock: Callable[[], datetime] = utcnow,
        video: VideoWorker | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        disk: FreeSpaceFloor | None = None,
        timing: Timing = PRODUCT,
    ) -> None:
        # `clock` is wall time (windows, deadlines, what cards show); `monotonic` measures
        # intervals (the local queue's busy hold, ETA cache). Tests inject both, and `timing`
        # (the deadline's scale, the video work's niceness: bot.timing).
        self.storage = storage
        self.wiro = wiro
        self.config = config
        self.clock = clock
        # Video work (fitting clips to the upload limit, Extend) runs on its own bounded pool.
        self.video = video or VideoWorker(config.work_dir, niceness=timing.video_niceness)
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
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._accepting = True
        # Jobs reserved by a submit() of this process that has not recorded their card yet:
        # resume_all leaves them to it (they are not jobs a crash left without a card).
        self._carding: set[int] = set()
        # The collaborators, each given what it needs: how jobs end and what cards show
        # (outcomes), the side at Wiro, the clip's delivery, the follow-ups, and the card
        # (posted, and kept true across restarts).
        self.outcomes = JobOutcomes(
            storage=storage,
            config=config,
            queue=self.queue,
            eta=self.eta,
            clock=clock,
            presenter=presenter,
            deadline_scale=timing.deadline_scale,
        )
        self.at_wiro = JobAtWiro(
            outcomes=self.outcomes,
            storage=storage,
            queue=self.queue,
            client_for=self.client_for,
            expected_cost_usd=self.expected_cost_usd,
            tasks=self._tasks,
            clock=clock,
            sleep=sleep,
        )
        self.delivery = JobDelivery(
            outcomes=self.outcomes,
            storage=storage,
            config=config,
            client_for=self.client_for,
            video=self.video,
            clips=self.clips,
            last_frames=self.last_frames,
            clock=clock,
            sleep=sleep,
        )
        self.followups = JobFollowUps(
            outcomes=self.outcomes,
            intake=self,
            storage=storage,
            config=config,
            clips=self.clips,
            last_frames=self.last_frames,
            kept_clip=self.delivery.kept_clip,
        )
        self.reservations = JobReservations(
            outcomes=self.outcomes, admission=self.admission, storage=storage, clock=clock
        )
        self.cards = JobCards(
            outcomes=self.outcomes,
            storage=storage,
            clock=clock,
            driving=self.driving,
        )
        # Follow-ups of a finished job, for the cogs (bot.jobs.followups).
        self.reroll = self.followups.reroll
        self.extend = self.followups.extend
        self.remake = self.followups.remake
        self.remix = self.followups.remix
        self.delete_clip = self.followups.delete_clip

    @property
    def presenter(self) -> JobPresenter | None:
        """How the lifecycle talks to Discord (set by the bot once the cogs exist)."""
        return self.outcomes.presenter

    @presenter.setter
    def presenter(self, presenter: JobPresenter | None) -> None:
        self.outcomes.presenter = presenter

    @property
    def gate(self) -> ApprovalGate | None:
        """The approval queue, when the bot has one: every new job passes submit(), so every
        entry point (/video, Re-roll, the studio's) is held the same way."""
        return self.outcomes.gate

    @gate.setter
    def gate(self, gate: ApprovalGate | None) -> None:
        self.outcomes.gate = gate

    # ------------------------------------------------------------------------------------------
    # Checks before anything is spent (bot.governance.admission)
    # ------------------------------------------------------------------------------------------
    async def precheck(self, req: VideoRequest) -> int:
        """Check everything that can be checked before the image; return the run's cost.

        Raises Refused with the member-facing reason. Nothing is written."""
        if not self._accepting:
            raise Refused(i18n.Text("The bot is restarting. Please try again in a minute."))
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
        reserved = await self.reservations.reserve(req, frame, cost)
        job = reserved.job
        self._carding.add(job.id)
        try:
            # Nothing reaches Wiro before the card is posted and recorded: a job the member
            # never saw is refunded instead (by `cards.post`, or by `resume_all` after a crash).
            job = await self.cards.post(job, frame, thumbnail, note)
        finally:
            self._carding.discard(job.id)
        if reserved.hold is None:
            self._launch(job.id)  # a held job waits for its review (and expires, refunded)
        elif self.gate is not None:
            await self.gate.open_review(job)
        return job

    async def release(self, job_id: int) -> None:
        """Start a job a moderator approved, as usual."""
        current_job.set(job_id)
        await self.outcomes.render(await self.storage.get_job(job_id))
        self._launch(job_id)

    async def withdraw(self, job_id: int, reason: str, *, by: int | None) -> Job | None:
        """End a held job that never started (cancelled, refunded); None if it had moved on."""
        job = await self.storage.get_job(job_id)
        if job.state is not JobState.PENDING:
            return None
        try:
            return await self.outcomes.finish(job, JobState.CANCELLED, reason, cancelled_by=by)
        except IllegalTransition:
            return None

    def _launch(self, job_id: int) -> None:
        if job_id in self._runners and not self._runners[job_id].done():
            return
        self._runners[job_id] = self._tasks.spawn(self.drive(job_id), name=f"job-{job_id}")

    # ------------------------------------------------------------------------------------------
    # Driving a job to a terminal state
    # ------------------------------------------------------------------------------------------
    async def drive(self, job_id: int) -> None:
        current_job.set(job_id)  # this task's own context: lower layers' lines carry the id
        jlog = job_logger(log, job_id)
        try:
            if self.gate is not None and await self.gate.holds(job_id):
                jlog.info("waits for a moderator; not started")
                return
            job = await self.storage.get_job(job_id)
            resumed_delivery = job.state is JobState.DELIVERING
            while not job.is_terminal:
                if job.state in (JobState.PENDING, JobState.WAITING) and never_shown(job):
                    job = await self.cards.close_unseen(job)
                elif job.state in (JobState.PENDING, JobState.WAITING):
                    job = await self.at_wiro.submit(job)
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
                    restarted = i18n.Text(
                        "The bot restarted while sending this job to Wiro. It was not sent "
                        "again, to avoid paying twice."
                    )
                    job = await self.at_wiro.fail_ambiguous(job, str(restarted))
                elif job.state is JobState.RUNNING:
                    job = await self.at_wiro.follow(job)
                elif job.state is JobState.DELIVERING:
                    job = await self.delivery.deliver(job, resumed=resumed_delivery)
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
            return await self.delivery.link_after_fault(job)
        if job.state is JobState.RUNNING and job.wiro_task_id:
            return await self.at_wiro.stop_after_fault(job)
        if job.state is JobState.SUBMITTING and job.run_sent_at is not None:
            # The Run had left: Wiro may run and bill a task whose id was not stored.
            sorry = i18n.Text(
                "Something went wrong on our side (job {id}) while sending it to Wiro. It was not "
                "sent again, to avoid paying twice. Your credits were refunded.",
                id=job_id,
            )
            return await self.at_wiro.fail_ambiguous(job, str(sorry))
        sorry = i18n.Text(
            "Something went wrong on our side (job {id}). Your credits were refunded.", id=job_id
        )
        return await self.outcomes.finish(job, JobState.FAILED, str(sorry))

    # ------------------------------------------------------------------------------------------
    # Cancel and refund (Re-roll, Extend, Remake: bot.jobs.followups)
    # ------------------------------------------------------------------------------------------
    async def cancel(self, job_id: int, actor_id: int, *, is_moderator: bool) -> str:
        """Cancel a job for its requester or a moderator; return what to tell them."""
        current_job.set(job_id)  # this interaction's task: its log lines name the job
        job = await self.storage.get_job(job_id)
        if job.user_id != actor_id and not is_moderator:
            raise Refused(
                i18n.Text("Only the member who asked for this video or a moderator can cancel it.")
            )
        if self.gate is not None:
            waiting = await self.gate.cancel_waiting(job_id, actor_id)
            if waiting is not None:
                return waiting
        for _ in range(3):  # the runner may move the job between our read and our write
            if job.is_terminal:
                raise Refused(finished_words(job))
            if job.state is JobState.DELIVERING:
                raise Refused(i18n.Text("Too late to cancel: the clip is being posted."))
            if job.state in (JobState.PENDING, JobState.WAITING):
                try:
                    await self.outcomes.finish(
                        job,
                        JobState.CANCELLED,
                        None,
                        cancelled_by=actor_id,
                    )
                except IllegalTransition:
                    job = await self.storage.get_job(job_id)
                    continue
                return str(i18n.Text("Job {id} was cancelled and its credits refunded.", id=job.id))
            # SUBMITTING or RUNNING: record who asked; stop it at Wiro once we have a task.
            job = await self.storage.update_job(job.id, cancelled_by=actor_id)
            await self.outcomes.render(job, cancelling=True)
            if job.state is JobState.RUNNING:
                self.at_wiro.stop_in_background(job)
            job_logger(log, job.id).info("cancel requested by user=%s", actor_id)
            return str(
                i18n.Text(
                    "Cancelling job {id}… The card will update when Wiro confirms.", id=job.id
                )
            )
        raise Refused(i18n.Text("The job is changing state; try again in a moment."))

    async def moderator_refund(self, job_id: int, actor_id: int, guild_id: int) -> RefundOutcome:
        """Refund a job's credits (cancelling it first if it is still running)."""
        job = check_in_server(await self.storage.get_job(job_id), guild_id)
        if job.state is JobState.DELIVERING:
            # Made and paid for at Wiro; its delivery may be riding out a Discord outage.
            raise Refused(
                i18n.Text(
                    "Job {id}'s clip is being posted right now (Wiro has made it). "
                    "Run the refund again once its card says it is done.",
                    id=job_id,
                )
            )
        if not job.is_terminal:
            message = await self.cancel(job_id, actor_id, is_moderator=True)
            return RefundOutcome(job, cancelling=message)
        if await self.storage.refund(job_id, note=f"moderator {actor_id}"):
            await self.storage.record_action(
                guild_id, actor_id, "refund", f"job {job_id}: {job.credits} credits"
            )
            return RefundOutcome(job)
        raise Refused(i18n.Text("Job {id} was already refunded.", id=job_id))

    # ------------------------------------------------------------------------------------------
    # Start-up and shut-down
    # ------------------------------------------------------------------------------------------
    async def resume_all(self) -> int:
        """Pick up every job in flight from SQLite; return how many were resumed.

        First every card whose latest change never reached it is rendered again (finished
        jobs included: a crash can land between a job's end and its paced card edit), then
        the runners start; the sweep keeps retrying cards whose edit failed for good.
        A job a crash left before its card was posted (and so before Wiro) is not run: it is
        refunded and closed (`JobCards.close_unseen`)."""
        await asyncio.to_thread(self.delivery.remove_leftovers)
        await self.cards.refresh_stale_cards()
        self.cards.start_sweep()
        resumed = 0
        for job in await self.storage.jobs_in_flight():
            if job.id in self._carding:
                continue  # reserved by a /video of this process, which is posting its card
            if never_shown(job):
                await self.cards.close_unseen(job)
                continue
            job_logger(log, job.id).info("resuming in state %s", job.state.value)
            self._launch(job.id)
            resumed += 1
        return resumed

    async def refresh_stale_cards(self, *, settled_for: timedelta = timedelta(0)) -> int:
        """Render again every card still marked as behind its job; return how many."""
        return await self.cards.refresh_stale_cards(settled_for=settled_for)

    async def shutdown(self, timeout: float = 5.0, *, submit_grace: float = 4.0) -> None:
        """Stop taking jobs and stop the runners; their state is already saved.

        Runs already sent to Wiro get up to `submit_grace` seconds to be answered and saved,
        so that a restart does not lose a task Wiro accepted (and bills). A first frame still
        uploading is a runner's step and stops at once: its Run has not left, and the job is
        sent at the next start."""
        self._accepting = False
        await self.cards.stop_sweep(timeout)
        await self._tasks.cancel_all(timeout=timeout)
        # After the runners: a delivery may have started a decode until it stopped.
        await self.last_frames.close(timeout=timeout)
        self.video.close()
        pending = self.at_wiro.runs_in_flight()
        if pending:
            log.info("waiting up to %.0f s for %d Run answers from Wiro", submit_grace, pending)
            await self.at_wiro.wait_for_runs(submit_grace)

    def driving(self, job_id: int) -> bool:
        """Whether a runner still drives this job (only a runner sends Runs or deliveries)."""
        runner = self._runners.get(job_id)
        return runner is not None and not runner.done()
