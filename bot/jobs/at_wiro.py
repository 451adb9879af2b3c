"""The job lifecycle's side at Wiro: wait in the local queue, send the Run, follow the task,
stop it. A collaborator of `JobService` (bot/jobs/service.py), which keeps the lifecycle itself.

A Run is never sent twice for the same job, except after Wiro's definite "concurrency limit"
answer (code 96), which means the task was not created.

The ambiguous window (a Run sent whose answer, the task id, is not stored yet) is kept small:
the first frame is uploaded first (File/Upload, not billed, cancelled harmlessly by a stop),
so the Run is a small JSON request; `run_sent_at` is stored (durably) just before the Run
leaves, so a restart knows whether the Run may have reached Wiro; a shutdown waits for a Run in
flight. Where the answer is lost all the same, the member is refunded and the server's budget
and usage count the run's expected cost, because Wiro may run and bill the task
(`fail_ambiguous`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

import bot.governance.styles as styles
from bot.background import BackgroundTasks
from bot.governance.admission import IMAGE_RUNS_PAUSED
from bot.i18n import Text, plural_text
from bot.jobs.local_queue import LocalQueue
from bot.jobs.outcomes import JobOutcomes
from bot.logs import job_logger
from bot.wiro.client import WiroClient
from bot.wiro.errors import (
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
from storage.api import Storage
from storage.models import Job, JobState, Stage, StoredFrame

# The lifecycle's logger: every line of a job reads "bot.jobs.service", whichever part wrote it.
log = logging.getLogger("bot.jobs.service")

# An unconfirmed stop after a fault is tried again after this long, doubling up to the maximum.
STOP_RETRY_FIRST_SECONDS = 30.0
STOP_RETRY_MAX_SECONDS = 600.0


class ExpectedCost(Protocol):
    """Wiro's price of a model for these settings (`JobService.expected_cost_usd`)."""

    async def __call__(self, resolution: str, duration: int, model: str = ...) -> float | None: ...


_WIRO_STAGE = {
    "queued": Stage.QUEUED,
    "starting": Stage.STARTING,
    "generating": Stage.GENERATING,
    "finishing": Stage.FINISHING,
}


class JobAtWiro:
    """Sending and following a job's task at Wiro: the local queue, the Run, following, stopping."""

    def __init__(
        self,
        *,
        outcomes: JobOutcomes,
        storage: Storage,
        queue: LocalQueue,
        client_for: Callable[[str], WiroClient],
        expected_cost_usd: ExpectedCost,
        tasks: BackgroundTasks,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        self._outcomes = outcomes
        self._storage = storage
        self._queue = queue
        self._client_for = client_for  # the client that runs a model's slug (bot.catalogue)
        self._expected_cost_usd = expected_cost_usd
        self._tasks = tasks  # the service's job tasks: a shutdown stops background stops too
        self._clock = clock
        self._sleep = sleep
        # Runs sent to Wiro and not yet answered: a shutdown waits for them (`wait_for_runs`).
        self._submissions = BackgroundTasks("run")
        self._stopping: set[int] = set()  # jobs whose task a background stop is stopping

    def runs_in_flight(self) -> int:
        """How many Runs are sent and not yet answered."""
        return len(self._submissions)

    async def wait_for_runs(self, timeout: float) -> None:
        """Give the Runs in flight up to `timeout` seconds to be answered and saved."""
        await self._submissions.cancel_all(timeout=timeout, wait_first=True)

    async def submit(self, job: Job) -> Job:
        """Take the job from the local queue to a task at Wiro (or to its end)."""
        jlog = job_logger(log, job.id)
        if job.state is JobState.PENDING and await self._queue.occupied(job.id):
            job = await self._storage.transition(job.id, JobState.WAITING, stage=Stage.WAITING)
            jlog.info("Wiro is busy; waiting in the local queue")
        if job.state is JobState.WAITING:
            job = await self._wait_turn(job)
            if job.is_terminal:
                return job
        came_from_queue = job.state is JobState.WAITING
        job = await self._storage.transition(
            job.id,
            JobState.SUBMITTING,
            stage=Stage.SUBMITTING,
            submit_attempts=job.submit_attempts + 1,
            run_sent_at=None,  # this submission's Run has not left yet
        )
        if came_from_queue:
            # A new card already says "Sending to Wiro"; only a card that showed the local
            # queue needs this edit (and skipping it keeps the next stage's edit unpaced).
            await self._outcomes.render(job)
        frame = await self._storage.load_frame(job.id) if job.has_image else None
        if job.has_image and frame is None:
            return await self._outcomes.finish(
                job, JobState.FAILED, str(Text("The first-frame image is no longer available."))
            )
        if frame is not None:
            # Not billed, and a stop cancels it harmlessly: the Run has not left yet.
            image_url = await self._upload_first_frame(job, frame)
            fresh = await self._storage.get_job(job.id)
            if fresh.cancelled_by is not None:
                # Cancel was pressed while the image uploaded: no Run, nothing billed.
                return await self._outcomes.finish(fresh, JobState.CANCELLED, None)
        else:
            image_url = None
        # Once sent, a Run must be seen through to a saved answer: Wiro bills the task whether
        # or not we are still listening. Shielded from a shutdown, which waits for it.
        submission = self._submissions.spawn(
            self._send_run(job, frame, image_url), name=f"run-{job.id}"
        )
        return await asyncio.shield(submission)

    async def _upload_first_frame(self, job: Job, frame: StoredFrame) -> str | None:
        """The first frame's URL in Wiro's storage, or None to send its bytes in the Run."""
        client = self._client_for(job.model)
        if not client.uploads_first():
            return None
        try:
            return await client.upload(
                frame.data, filename=frame.filename, content_type=frame.content_type
            )
        except WiroError as exc:
            job_logger(log, job.id).warning(
                "File/Upload failed (%s); the image goes in the Run itself", exc
            )
            return None

    async def _send_run(self, job: Job, frame: StoredFrame | None, image_url: str | None) -> Job:
        jlog = job_logger(log, job.id)
        # Stored (durably) before the Run leaves: a restart that finds this job SUBMITTING
        # knows from it whether Wiro may have a task for it.
        job = await self._storage.update_job(job.id, run_sent_at=self._clock())
        try:
            accepted = await self._client_for(job.model).run(
                # The camera moves go first, as one bracketed group (bot.camera), then the
                # prompt with its style (bot.governance.styles).
                prompt=styles.wiro_prompt(job),
                resolution=job.resolution,
                duration=job.duration,
                prompt_optimizer=job.prompt_optimizer,
                image=frame.data if frame is not None and image_url is None else None,
                image_url=image_url,
                image_content_type=frame.content_type if frame else "image/png",
                image_filename=frame.filename if frame else "first-frame.png",
            )
        except (WiroConcurrencyLimit, WiroRateLimited) as exc:
            # Both are definite "not processed" answers, so sending again later is safe.
            self._queue.busy(getattr(exc, "retry_after", None))
            jlog.info("Wiro is busy (%s); queued locally", exc)
            job = await self._storage.transition(job.id, JobState.WAITING, stage=Stage.WAITING)
            await self._outcomes.render(job)
            return job
        except WiroTransportError as exc:
            if not exc.maybe_submitted:
                jlog.warning("the Run did not reach Wiro: %s", exc)
                return await self._outcomes.finish(job, JobState.FAILED, _run_failure_reason(exc))
            jlog.warning("the Run's answer was lost (%s); Wiro may have its task", exc)
            return await self.fail_ambiguous(job, _run_failure_reason(exc))
        except WiroError as exc:
            jlog.warning("Wiro refused the run: %s", exc)
            return await self._outcomes.finish(job, JobState.FAILED, _run_failure_reason(exc))
        self._queue.slot_freed()  # the next in the local queue may try now
        job = await self._storage.transition(
            job.id,
            JobState.RUNNING,
            stage=Stage.QUEUED,
            wiro_task_id=accepted.task_id,
            wiro_task_token=accepted.task_token,
            submitted_at=self._clock(),
        )
        jlog.info("submitted to Wiro task=%s", accepted.task_id)
        await self._outcomes.render(job)
        fresh = await self._storage.get_job(job.id)
        if fresh.cancelled_by is not None:
            self.stop_in_background(fresh)
        return fresh

    async def fail_ambiguous(self, job: Job, reason: str) -> Job:
        """End a job whose Run may have reached Wiro although its answer (the task id) is lost.

        Wiro may run and bill that task, and no call finds it without its id (Wiro documents
        none; Task/List appears only in one client, with no documented answer to match a task
        by). The member is refunded, since nothing can be delivered; the server's budget and
        usage count the run's expected cost, marked as an estimate, so that spending is not
        under-counted; the audit line says that Wiro may have billed it."""
        cost = job.expected_cost_usd
        if cost is None:
            cost = await self._expected_cost_usd(job.resolution, job.duration, job.model)
        job_logger(log, job.id).warning(
            "Wiro may have billed a task the bot cannot follow; the budget counts %s",
            f"${cost:.2f}" if cost is not None else "nothing (its price is unknown)",
        )
        fields: dict[str, object] = {"cost_is_estimate": True}
        if cost is not None:
            fields["total_cost_usd"] = cost
        return await self._outcomes.finish(job, JobState.FAILED, reason, **fields)

    async def _wait_turn(self, job: Job) -> Job:
        """Wait in the local queue until this job is first and Wiro may have a free slot."""
        shown_position: int | None = None
        while True:
            job = await self._storage.get_job(job.id)
            if job.state is not JobState.WAITING:
                return job
            if job.cancelled_by is not None:
                # Cancel was pressed while the Run was out, and Wiro answered "busy".
                return await self._outcomes.finish(
                    job,
                    JobState.CANCELLED,
                    None,  # who cancelled is in cancelled_by
                )
            if self._outcomes.deadline_passed(job):
                busy = plural_text(
                    "Wiro stayed busy for {count} minute, so the job was dropped from the queue.",
                    "Wiro stayed busy for {count} minutes, so the job was dropped from the queue.",
                    self._outcomes.timeout_minutes,
                )
                return await self._outcomes.finish(job, JobState.TIMED_OUT, str(busy))
            position = await self._queue.position(job.id)
            if position != shown_position:
                shown_position = position
                await self._outcomes.render(job, queue_position=position)
            if self._queue.may_go(position):
                return job
            await self._queue.wait(position)

    async def follow(self, job: Job) -> Job:
        """Follow the job's task at Wiro to its outcome, under the job's deadline."""
        jlog = job_logger(log, job.id)
        assert job.wiro_task_id and job.wiro_task_token
        if job.cancelled_by is not None:
            # Cancelled before a restart cut the stop short: make sure Wiro is told again.
            self.stop_in_background(job)
        deadline = time.monotonic() + self._outcomes.seconds_left(job)
        try:
            async for event in self._client_for(job.model).follow(
                job.wiro_task_id, job.wiro_task_token, deadline=deadline
            ):
                if isinstance(event, StageUpdate):
                    job = await self.on_stage(job, event)
                elif isinstance(event, TaskOutcome):
                    return await self._on_outcome(job, event)
        except TaskDeadlineExceeded:
            retrying = job.id in self._outcomes.retrying
            jlog.warning(
                "no result within %d minutes%s; stopping the task",
                self._outcomes.timeout_minutes,
                " (Wiro was still retrying after a problem)" if retrying else "",
            )
            job, ended = await self._stop_until_confirmed(job)
            if ended is None:
                return job  # someone else ended it meanwhile
            if ended.kind == "succeeded":
                # It finished while we were stopping it: the member gets the clip they paid for.
                return await self._on_outcome(job, ended)
            minutes = self._outcomes.timeout_minutes
            reason = (
                plural_text(
                    "Wiro hit a problem and was still retrying after {count} minute, so the task "
                    "was stopped.",
                    "Wiro hit a problem and was still retrying after {count} minutes, so the task "
                    "was stopped.",
                    minutes,
                )
                if retrying
                else plural_text(
                    "No result after {count} minute, so the task was stopped.",
                    "No result after {count} minutes, so the task was stopped.",
                    minutes,
                )
            )
            return await self._outcomes.finish(
                job, JobState.TIMED_OUT, str(reason), total_cost_usd=ended.total_cost_usd
            )
        except WiroAuthError as exc:
            # The follower retries everything else until the deadline; a refused credential
            # will not heal by itself, and the operator must hear about it.
            jlog.error("Wiro refused our credentials while following the task: %s", exc)
            return await self._outcomes.finish(job, JobState.FAILED, _run_failure_reason(exc))
        # The follower ended without an outcome: stop the task (never hang, never bill unseen).
        jlog.error("task follower ended without an outcome")
        return await self.stop_after_fault(job, lost_track=True)

    async def on_stage(self, job: Job, event: StageUpdate) -> Job:
        """Record a stage Wiro reported and show it on the card."""
        jlog = job_logger(log, job.id)
        flag_changed = event.retrying != (job.id in self._outcomes.retrying)
        if event.retrying:
            self._outcomes.retrying.add(job.id)
        else:
            self._outcomes.retrying.discard(job.id)
        stage = _WIRO_STAGE.get(event.stage, job.stage)
        moved = stage != job.stage or event.progress != job.progress
        if not moved and not flag_changed:
            return job
        if moved:
            fields: dict[str, object] = {"stage": stage, "progress": event.progress}
            if stage is Stage.GENERATING and job.started_at is None:
                fields["started_at"] = self._clock()
            job = await self._storage.update_job(job.id, **fields)
        if event.retrying:
            jlog.info("Wiro hit a problem and is retrying (%s)", event.source)
        else:
            jlog.info("stage %s (%s)", stage.value, event.source)
        await self._outcomes.render(job)
        return job

    async def _on_outcome(self, job: Job, outcome: TaskOutcome) -> Job:
        jlog = job_logger(log, job.id)
        self._queue.slot_freed()
        if outcome.kind == "succeeded" and outcome.video is not None:
            jlog.info("Wiro finished; %s bytes to deliver", outcome.video.size)
            job = await self._storage.transition(
                job.id,
                JobState.DELIVERING,
                stage=Stage.DELIVERING,
                output_url=outcome.video.url,
                output_size=outcome.video.size,
                total_cost_usd=outcome.total_cost_usd,
                delivery_nonce=job.delivery_nonce or secrets.token_hex(8),
            )
            await self._outcomes.render(job)
            return job
        if outcome.kind == "cancelled":
            fresh = await self._storage.get_job(job.id)
            who = fresh.cancelled_by
            # None: cancelled_by says who.
            reason = None if who else str(Text("The task was cancelled at Wiro."))
            # What Wiro billed for a stopped task counts in the server's budget and usage.
            return await self._outcomes.finish(
                fresh, JobState.CANCELLED, reason, total_cost_usd=outcome.total_cost_usd
            )
        jlog.info(
            "Wiro reported failure: %s (billed $%s)", outcome.reason, outcome.total_cost_usd or 0
        )
        # A `pexit` "0" task without a video is billed by Wiro: the member is refunded, and the
        # cost is recorded so that the server's budget and usage count what Wiro charged.
        return await self._outcomes.finish(
            job,
            JobState.FAILED,
            _sentence(outcome.reason or str(Text("Wiro could not make this video."))),
            total_cost_usd=outcome.total_cost_usd,
        )

    def stop_in_background(self, job: Job) -> None:
        """Ask Wiro to stop the task; the card says "cancelled" only once Task/Detail shows it.

        Stopping may take a while (Cancel and Kill are retried until Wiro confirms), so the
        member's click is answered at once; the follower sees the confirmed `task_cancel`.
        One stop per job at a time."""
        if job.id in self._stopping:
            return
        self._stopping.add(job.id)
        task = self._tasks.spawn(self._stop_at_wiro(job), name=f"stop-{job.id}")
        task.add_done_callback(lambda _: self._stopping.discard(job.id))

    async def stop_after_fault(self, job: Job, *, lost_track: bool = False) -> Job:
        """End a running job after an error of the bot's own (`lost_track`: the follower
        broke): stop its task at Wiro, then refund (or deliver, if Wiro finished it
        meanwhile)."""
        job_logger(log, job.id).warning("stopping the task at Wiro before ending the job")
        job, ended = await self._stop_until_confirmed(job)
        if ended is None:
            return job  # someone else ended it meanwhile
        if ended.kind != "cancelled" or job.cancelled_by:
            # It ended on its own (the clip, or Wiro's failure), or by the member's own cancel.
            return await self._on_outcome(job, ended)
        reason = (
            Text(
                "The bot lost track of this job, so the task was stopped at Wiro. Your credits "
                "were refunded."
            )
            if lost_track
            else Text(
                "Something went wrong on our side (job {id}), so the task was stopped at Wiro. "
                "Your credits were refunded.",
                id=job.id,
            )
        )
        return await self._outcomes.finish(
            job, JobState.FAILED, str(reason), total_cost_usd=ended.total_cost_usd
        )

    async def _stop_until_confirmed(self, job: Job) -> tuple[Job, TaskOutcome | None]:
        """Stop the task at Wiro and return how it ended, once Wiro shows it closed.

        Never refund while the task may still run: Wiro would bill it unseen. Until Wiro
        confirms the stop, the credits stay reserved (the job stays in flight, so its expected
        cost counts in the server's budget) and the stop is tried again, waiting longer each
        time; a restart meanwhile resumes following the task. The outcome is None when someone
        else ended the job meanwhile (a moderator's cancel seen by another stop)."""
        jlog = job_logger(log, job.id)
        pause = STOP_RETRY_FIRST_SECONDS
        while True:
            final = await self._stop_at_wiro(job)
            ended = final.outcome() if final is not None else None
            job = await self._storage.get_job(job.id)
            if job.state is not JobState.RUNNING:
                return job, None
            if ended is not None:
                return job, ended
            jlog.warning(
                "Wiro did not confirm the stop: the credits stay reserved; trying again in %.0f s",
                pause,
            )
            await self._sleep(pause)
            pause = min(pause * 2, STOP_RETRY_MAX_SECONDS)

    async def _stop_at_wiro(self, job: Job) -> TaskDetail | None:
        """Stop the task at Wiro; return the Task/Detail that shows it closed, if Wiro did."""
        if not (job.wiro_task_id and job.wiro_task_token):
            return None
        jlog = job_logger(log, job.id)
        try:
            final = await self._client_for(job.model).stop(job.wiro_task_id, job.wiro_task_token)
        except WiroError as exc:
            jlog.warning("could not stop task at Wiro: %s", exc)
            return None
        if final is None:
            jlog.warning("Wiro did not confirm the stop; the task may still run")
        return final


def _run_failure_reason(exc: WiroError) -> str:
    """Plain words for a Run that Wiro refused (never the raw error text in public)."""
    if isinstance(exc, WiroInsufficientBalance):
        return str(
            Text("The bot's Wiro account is out of balance. The bot's operator has to top it up.")
        )
    if isinstance(exc, WiroPermissionError):
        return str(
            Text(
                "Wiro says the bot's project may not see this task (were the Wiro keys "
                "changed?). The operator has to check them."
            )
        )
    if isinstance(exc, WiroAuthError):
        return str(Text("The bot's Wiro credentials were refused. The operator has to check them."))
    if isinstance(exc, WiroSchemaUnavailable):
        return IMAGE_RUNS_PAUSED
    if isinstance(exc, WiroValidationError):
        return str(Text("Wiro rejected these settings."))
    if isinstance(exc, WiroTransportError) and exc.maybe_submitted:
        return str(
            Text(
                "The connection to Wiro broke while sending the job. It was not sent again, to "
                "avoid paying twice."
            )
        )
    return str(Text("Wiro could not accept the job right now."))


def _sentence(text: str) -> str:
    """Wiro's reasons as a sentence for the card: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."
