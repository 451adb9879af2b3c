"""How a job ends and what its card shows: the one object every part of the lifecycle shares.

`JobOutcomes` settles a job (`finish`: failed, cancelled or timed out, refunded; `succeed`:
charged), renders its card with everything the card needs besides the job row
(`card_extras`), keeps the jobs whose task Wiro is retrying, and owns the deadline (one per
job, counted from the member's request). `JobService` builds it and hands it to its
collaborators (`JobAtWiro`, `JobDelivery`, `JobFollowUps`), so none of them reaches into
another's state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.governance.budget_alerts import BudgetAlerts
from bot.jobs.contracts import ApprovalGate, CardExtras, JobConfig, JobPresenter
from bot.jobs.eta import EtaEstimator
from bot.jobs.local_queue import LocalQueue
from bot.logs import job_logger
from storage.api import Storage
from storage.approvals import ApprovalStatus
from storage.models import Job, JobState, Stage

# The lifecycle's logger: every line of a job reads "bot.jobs.service", whichever part wrote it.
log = logging.getLogger("bot.jobs.service")


@dataclass(kw_only=True, eq=False)
class JobOutcomes:
    """Settle jobs, render their cards, and keep each job's deadline."""

    storage: Storage
    config: JobConfig
    queue: LocalQueue
    eta: EtaEstimator
    clock: Callable[[], datetime]
    # Set by the bot once the cogs exist (the presenter) and the approval queue (the gate).
    presenter: JobPresenter | None = None
    # The fraction of `config.timeout` a job really gets (`Timing.deadline_scale`): 1 in the
    # product (the operator's JOB_TIMEOUT_MINUTES is the deadline, and the words members
    # read name it); only the e2e launcher shortens it, as it shortens Discord's pacing.
    deadline_scale: float = 1.0
    gate: ApprovalGate | None = field(default=None, init=False)
    # The server's budget alerts, checked after every job that cost something (set by the
    # bot; None in tests that do not watch budgets).
    budget_alerts: BudgetAlerts | None = field(default=None, init=False)
    # Jobs whose task Wiro reported a problem with and is retrying (`task_error`): shown on
    # the card until the task moves on. Not stored: a restart re-learns it at its first poll.
    retrying: set[int] = field(default_factory=set, init=False)

    # ------------------------------------------------------------------------------------------
    # Terminal states
    # ------------------------------------------------------------------------------------------
    async def succeed(self, job: Job, message_id: int | None, *, note: str | None) -> Job:
        """Mark the job delivered and charge its credits; show it."""
        job = await self.storage.transition(
            job.id,
            JobState.SUCCEEDED,
            settle="charge",
            stage=Stage.DONE,
            result_message_id=message_id,
            outcome_reason=note,
        )
        await self.after_terminal(job)
        return job

    async def finish(self, job: Job, state: JobState, reason: str | None, **fields: object) -> Job:
        """Move to a failed/cancelled/timed-out state, refund, show it, tell the audit log.

        `reason` is the plain-words outcome; None for a cancel by a person (the job's
        `cancelled_by` says who, and cogs name them)."""
        self.retrying.discard(job.id)
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
        await self.after_terminal(job)
        return job

    async def after_terminal(self, job: Job) -> None:
        """Keep what Re-roll needs, show the final card and tell the presenter."""
        # Re-roll is offered after success, failure and timeout: keep the first frame for it.
        await self.storage.delete_frame(job.id, keep_for_reroll=job.state is not JobState.CANCELLED)
        await self.render(job)
        if self.presenter is not None:
            try:
                await self.presenter.job_finished(job)
            except Exception:
                job_logger(log, job.id).exception("job_finished hook failed")
        if job.total_cost_usd is not None and self.budget_alerts is not None:
            # After the job's audit line: its cost may have passed 80 % or 100 % of the budget.
            try:
                await self.budget_alerts.check(job.guild_id)
            except Exception:
                job_logger(log, job.id).exception("could not check the budget alerts")

    # ------------------------------------------------------------------------------------------
    # The card
    # ------------------------------------------------------------------------------------------
    async def render(
        self,
        job: Job,
        *,
        queue_position: int | None = None,
        cancelling: bool = False,
        delivery_delayed: bool = False,
    ) -> None:
        """Show the job's current state on its card (never raises: logged instead)."""
        if self.presenter is None or job.card_message_id is None:
            return
        try:
            # Marked first: if the process dies before the (paced) edit lands, the next start
            # renders this card again. The edit clears the mark (`Storage.card_shown`).
            await self.storage.request_card(job.id)
            extras = await self.card_extras(
                job,
                queue_position=queue_position,
                cancelling=cancelling,
                delivery_delayed=delivery_delayed,
            )
            await self.presenter.update_card(job, extras)
        except Exception:
            job_logger(log, job.id).exception("card update failed")

    async def card_extras(
        self,
        job: Job,
        *,
        queue_position: int | None = None,
        cancelling: bool = False,
        note: str | None = None,
        delivery_delayed: bool = False,
    ) -> CardExtras:
        """What the card shows besides the job row: approval, ETA, queue place, notes."""
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
            retrying=job.id in self.retrying and not job.is_terminal,
            approval=approval,
            delivery_delayed=delivery_delayed,
            max_clip_seconds=self.config.max_clip_seconds,
            max_clip_bytes=self.config.max_clip_bytes,
        )

    # ------------------------------------------------------------------------------------------
    # The deadline
    # ------------------------------------------------------------------------------------------
    @property
    def timeout_minutes(self) -> int:
        """JOB_TIMEOUT_MINUTES, as members read it."""
        return int(self.config.timeout.total_seconds() // 60)

    def seconds_left(self, job: Job) -> float:
        """Seconds until the job's deadline (negative once it passed)."""
        # One deadline per job, from the member's request (or its approval, for a request that
        # waited for a moderator): time in our local queue counts too.
        start = job.approved_at or job.created_at
        deadline = start + self.config.timeout * self.deadline_scale
        return (deadline - self.clock()).total_seconds()

    def deadline_passed(self, job: Job) -> bool:
        """Whether the job's deadline has passed."""
        return self.seconds_left(job) <= 0
