"""The approval queue: who must wait for a moderator, and what each decision does.

Independent of Discord. While a server has approval on, a request from a member who is neither
a moderator nor holds the trusted role is reserved like any other (credits, concurrency and
budget apply at once) and then held: its job stays `pending` with an `approvals` row in
`waiting`, and the job runner never starts it until a moderator approves it.

A request ends its wait exactly once (the conditional UPDATE in `storage.approvals.decide`):
- approved: the job starts as usual, its run deadline counting from the approval;
- denied (with a reason the member sees), expired (after `APPROVAL_EXPIRY_HOURS`), or
  cancelled (by the member, or a moderator's cancel): the job ends as cancelled and its credits
  are refunded.

The decision is written first and its consequence second; `recover()` at start-up finishes
what a restart interrupted in between, so a decided request is never stuck and never runs
after a denial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot import i18n
from bot.jobs.contracts import Refused
from storage.api import Storage
from storage.approvals import Approval, ApprovalSettings, ApprovalStatus, Hold
from storage.models import Job

log = logging.getLogger(__name__)

DEFAULT_EXPIRY = timedelta(hours=24)
MAX_DENY_REASON_CHARS = 300
# The expiry sweep wakes at the next expiry, and at least this often (a clock that jumped, a
# request held by another process on the same file).
SWEEP_MAX_SECONDS = 60.0


def must_wait(
    settings: ApprovalSettings | None,
    *,
    role_ids: Iterable[int],
    manage_guild: bool,
    mod_role_id: int | None,
) -> bool:
    """Whether a member's request waits for a moderator (the one home of this rule).

    Only while approval is on: moderators (Manage Server or the moderator role) and holders of
    the trusted role never wait."""
    if settings is None or not settings.enabled or settings.review_channel_id is None:
        return False
    if manage_guild:
        return False
    roles = frozenset(role_ids)
    if mod_role_id is not None and mod_role_id in roles:
        return False
    return not (settings.trusted_role_id is not None and settings.trusted_role_id in roles)


def _expiry_in(expiry: timedelta) -> tuple[str, int]:
    """The unit an expiry is best said in, and how many: ('hours', 24), ('minutes', 90)."""
    seconds = round(expiry.total_seconds())
    if seconds % 3600 == 0:
        return "hours", seconds // 3600
    if seconds % 60 == 0 or seconds >= 3600:
        return "minutes", round(seconds / 60)
    return "seconds", seconds


def expiry_text(expiry: timedelta) -> i18n.Text:
    """'24 hours', '90 minutes', '1 hour', '30 seconds', in the reader's language."""
    unit, count = _expiry_in(expiry)
    if unit == "hours":
        return i18n.plural_text("{count} hour", "{count} hours", count)
    if unit == "minutes":
        return i18n.plural_text("{count} minute", "{count} minutes", count)
    return i18n.plural_text("{count} second", "{count} seconds", count)


def expiry_words(expiry: timedelta) -> str:
    """'24 hours', '90 minutes', '1 hour', '30 seconds' (English)."""
    return str(expiry_text(expiry))


def expired_text(expiry: timedelta) -> i18n.Text:
    """The card's words for a request nobody reviewed in time. One whole sentence per unit, so
    that the English the database keeps reads back in another language (`i18n.from_english`)."""
    unit, count = _expiry_in(expiry)
    if unit == "hours":
        return i18n.plural_text(
            "No moderator reviewed this request within {count} hour, so it expired. Your "
            "credits were refunded.",
            "No moderator reviewed this request within {count} hours, so it expired. Your "
            "credits were refunded.",
            count,
        )
    if unit == "minutes":
        return i18n.plural_text(
            "No moderator reviewed this request within {count} minute, so it expired. Your "
            "credits were refunded.",
            "No moderator reviewed this request within {count} minutes, so it expired. Your "
            "credits were refunded.",
            count,
        )
    return i18n.plural_text(
        "No moderator reviewed this request within {count} second, so it expired. Your "
        "credits were refunded.",
        "No moderator reviewed this request within {count} seconds, so it expired. Your "
        "credits were refunded.",
        count,
    )


def denied_text(reason: str) -> i18n.Text:
    """The card's words for a denied request: the moderator's reason, as they typed it."""
    return i18n.Text("A moderator denied this request: {reason}", reason=reason)


def clean_reason(reason: str) -> str:
    """The denial reason as the member will see it: one line, trimmed, not empty, bounded."""
    text = " ".join(reason.split())
    if not text:
        raise Refused(i18n.Text("Please give the member a reason for the denial."))
    if len(text) > MAX_DENY_REASON_CHARS:
        raise Refused(
            i18n.Text(
                "The reason can be at most {count} characters.",
                count=i18n.Number(MAX_DENY_REASON_CHARS),
            )
        )
    return text


def not_waiting_here(job_id: int) -> i18n.Text:
    """A decision on a job that is not waiting for approval in the clicker's server."""
    return i18n.Text("Job {job_id} is not waiting for approval in this server.", job_id=job_id)


# What the member, the review message and the audit line say when a denial has no reason.
NO_REASON = str(i18n.Text("no reason given"))


class AlreadyDecided(Refused):
    """A moderator clicked on a request that was already decided (`approval` says how, by
    whom). Cogs put it in words (`cogs.words.decided_words`); `message` is for logs."""

    def __init__(self, approval: Approval):
        by = f" by user {approval.decided_by}" if approval.decided_by else ""
        super().__init__(f"job {approval.job_id} is already {approval.status.value}{by}")
        self.approval = approval


# A request cancelled while it waited: the job's outcome, with who in its `cancelled_by` (cogs
# name them: "Cancelled by @member while waiting for a moderator.").
CANCELLED_WHILE_WAITING = str(i18n.Text("Cancelled while waiting for a moderator."))


class JobControl(Protocol):
    """What the approval queue asks of the job lifecycle (`bot.jobs.service.JobService`)."""

    async def release(self, job_id: int) -> None:
        """Start an approved job as usual."""

    async def withdraw(self, job_id: int, reason: str, *, by: int | None) -> Job | None:
        """End a job that never started (cancelled, credits refunded); None if it had moved."""


class ReviewPresenter(Protocol):
    """The Discord side of the queue (implemented by the approval cog)."""

    async def post_review(self, job: Job, approval: Approval) -> int:
        """Post the review message with Approve and Deny; return its id (raise if impossible)."""

    async def update_review(self, job: Job, approval: Approval) -> None:
        """Show the decision on the review message (never raises)."""

    async def audit(self, guild_id: int, text: str | i18n.Text) -> bool:
        """Post one line in the server's audit channel, in the server's language; False when
        there is none or it failed."""

    async def audit_approval(self, job: Job, approval: Approval) -> bool:
        """Post the approval's line (who approved whose job after how long) in the audit
        channel; False when there is none or it failed."""


@dataclass(kw_only=True, eq=False)
class ApprovalService:
    """Hold requests for a moderator, apply decisions once, expire and refund stale ones."""

    storage: Storage
    jobs: JobControl
    presenter: ReviewPresenter | None = None
    expiry: timedelta = DEFAULT_EXPIRY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    system_actor: Callable[[], int] = lambda: 0
    # (guild, member, roles) -> holds Manage Server, from the bot's own view of the server:
    # an entry point that did not say so (VideoRequest.manage_guild) is still covered.
    manages_guild: Callable[[int, int, frozenset[int]], bool] = lambda g, u, r: False
    _wake: asyncio.Event = field(init=False, repr=False, default_factory=asyncio.Event)

    # ------------------------------------------------------------------------------------------
    # Before the reservation: must this request wait?
    # ------------------------------------------------------------------------------------------
    async def hold_for(
        self, guild_id: int, user_id: int, *, role_ids: Iterable[int], manage_guild: bool
    ) -> Hold | None:
        """Where and until when this member's request waits, or None when it runs at once."""
        settings = await self.storage.approval_settings(guild_id)
        if settings is None or not settings.enabled:
            return None
        role_ids = frozenset(role_ids)
        manage_guild = manage_guild or self.manages_guild(guild_id, user_id, role_ids)
        mod_role_id = (await self.storage.guild_settings(guild_id)).mod_role_id
        if not must_wait(
            settings, role_ids=role_ids, manage_guild=manage_guild, mod_role_id=mod_role_id
        ):
            return None
        assert settings.review_channel_id is not None
        return Hold(settings.review_channel_id, self.clock() + self.expiry)

    async def holds(self, job_id: int) -> bool:
        """True while a job may not run: waiting for a moderator, or decided against."""
        approval = await self.storage.approval(job_id)
        return approval is not None and approval.status is not ApprovalStatus.APPROVED

    async def state_of(self, job_id: int) -> ApprovalStatus | None:
        """The job's approval status (None for a job that never had to wait)."""
        approval = await self.storage.approval(job_id)
        return approval.status if approval else None

    # ------------------------------------------------------------------------------------------
    # The review message
    # ------------------------------------------------------------------------------------------
    async def open_review(self, job: Job) -> None:
        """Post the review message of a held job. Raises Refused (job refunded) if impossible."""
        approval = await self.storage.approval(job.id)
        if approval is None or not approval.waiting:
            return
        try:
            if self.presenter is None:
                raise RuntimeError("ApprovalService.presenter is not set")
            message_id = await self.presenter.post_review(job, approval)
        except Exception as exc:
            log.warning("job=%d could not post the review message: %s", job.id, exc)
            await self._end(
                job.id,
                ApprovalStatus.CANCELLED,
                actor_id=None,
                reason=str(i18n.Text("The review channel is unavailable.")),
                member_words=str(
                    i18n.Text(
                        "This server reviews requests before they run, but the bot could not "
                        "post this one in the review channel. Your credits were refunded."
                    )
                ),
            )
            await self.storage.record_action(
                job.guild_id,
                self.system_actor(),
                "approval.unreachable",
                f"could not post job {job.id} in review channel {approval.review_channel_id}",
            )
            raise Refused(
                i18n.Text(
                    "This server reviews videos before they run, but I couldn't post your "
                    "request in the review channel. Your credits were not used; please tell a "
                    "moderator."
                )
            ) from None
        await self.storage.set_review_message(job.id, message_id)
        log.info("job=%d waits for a moderator (review message %d)", job.id, message_id)
        self._wake.set()

    # ------------------------------------------------------------------------------------------
    # Decisions
    # ------------------------------------------------------------------------------------------
    async def _waiting_of_guild(self, job_id: int, guild_id: int) -> Approval:
        approval = await self.storage.approval(job_id)
        if approval is None or approval.guild_id != guild_id:
            raise Refused(not_waiting_here(job_id))
        return approval

    async def approve(self, job_id: int, actor_id: int, guild_id: int) -> i18n.Text:
        """Approve a waiting request: it starts at once. Exactly one decision wins."""
        await self._waiting_of_guild(job_id, guild_id)
        won, approval = await self.storage.decide_approval(
            job_id, ApprovalStatus.APPROVED, actor_id=actor_id, reason=None, now=self.clock()
        )
        assert approval is not None
        if not won:
            raise AlreadyDecided(approval)
        log.info("job=%d approved by user=%s", job_id, actor_id)
        await self.storage.record_action(guild_id, actor_id, "approval.approve", f"job {job_id}")
        await self.jobs.release(job_id)
        job = await self.storage.get_job(job_id)
        await self._show(job, approval)
        if self.presenter is not None:
            await self.presenter.audit_approval(job, approval)
        return i18n.Text("Approved job {job_id}: it is starting now.", job_id=job_id)

    async def deny(self, job_id: int, actor_id: int, guild_id: int, reason: str) -> i18n.Text:
        """Deny a waiting request with a reason the member sees; its credits come back."""
        reason = clean_reason(reason)
        await self._waiting_of_guild(job_id, guild_id)
        won = await self._end(
            job_id,
            ApprovalStatus.DENIED,
            actor_id=actor_id,
            reason=reason,
            member_words=str(denied_text(reason)),
        )
        if not won:
            current = await self.storage.approval(job_id)
            assert current is not None
            raise AlreadyDecided(current)
        await self.storage.record_action(
            guild_id, actor_id, "approval.deny", f"job {job_id}: {reason}"
        )
        return i18n.Text(
            "Denied job {job_id}; the member sees your reason and got the credits back.",
            job_id=job_id,
        )

    async def cancel_waiting(self, job_id: int, actor_id: int) -> str | None:
        """Cancel a request while it waits (member or moderator); None when it is not waiting."""
        approval = await self.storage.approval(job_id)
        if approval is None or not approval.waiting:
            return None
        won = await self._end(
            job_id,
            ApprovalStatus.CANCELLED,
            actor_id=actor_id,
            reason=None,
            member_words=CANCELLED_WHILE_WAITING,
        )
        if not won:
            return None
        await self.storage.record_action(
            approval.guild_id, actor_id, "approval.cancel", f"job {job_id} cancelled while waiting"
        )
        # English, like `JobService.cancel`'s other answers (`ApprovalGate.cancel_waiting`).
        return str(i18n.Text("Job {job_id} was cancelled and its credits refunded.", job_id=job_id))

    async def sweep(self) -> int:
        """Expire and refund every request that waited longer than the expiry; return how many."""
        now = self.clock()
        expired = 0
        for approval in await self.storage.approvals_due(now):
            won = await self._end(
                approval.job_id,
                ApprovalStatus.EXPIRED,
                actor_id=None,
                reason=None,
                member_words=str(expired_text(self.expiry)),
            )
            if won:
                expired += 1
                await self.storage.record_action(
                    approval.guild_id,
                    self.system_actor(),
                    "approval.expire",
                    f"job {approval.job_id} expired unreviewed",
                )
        return expired

    async def _end(
        self,
        job_id: int,
        status: ApprovalStatus,
        *,
        actor_id: int | None,
        reason: str | None,
        member_words: str,
    ) -> bool:
        """Decide against a request (once) and end its job with a refund; True if decided."""
        won, approval = await self.storage.decide_approval(
            job_id, status, actor_id=actor_id, reason=reason, now=self.clock()
        )
        if not won or approval is None:
            return False
        log.info("job=%d %s by user=%s", job_id, status.value, actor_id)
        await self._apply(approval, member_words)
        return True

    async def _apply(self, approval: Approval, member_words: str | None = None) -> None:
        """Make the job match a decision against it: end it, refunded; update the review."""
        words = member_words or _member_words(approval, self.expiry)
        job = await self.jobs.withdraw(approval.job_id, words, by=approval.decided_by)
        if job is None:
            job = await self.storage.get_job(approval.job_id)
        await self._show(job, approval)

    async def _show(self, job: Job, approval: Approval) -> None:
        if self.presenter is None or approval.review_message_id is None:
            return
        try:
            await self.presenter.update_review(job, approval)
        except Exception:
            log.exception("job=%d could not update the review message", job.id)

    # ------------------------------------------------------------------------------------------
    # Start-up and the expiry loop
    # ------------------------------------------------------------------------------------------
    async def recover(self) -> int:
        """Finish decisions a restart interrupted; close reviews of jobs that ended otherwise."""
        fixed = 0
        for approval in await self.storage.unsettled_approvals():
            if approval.waiting:
                # The job ended before it could be reviewed (its card could not be posted).
                won, closed = await self.storage.decide_approval(
                    approval.job_id,
                    ApprovalStatus.CANCELLED,
                    actor_id=None,
                    reason="the request ended before review",
                    now=self.clock(),
                )
                if won and closed is not None:
                    await self._show(await self.storage.get_job(approval.job_id), closed)
            else:
                log.info("job=%d applying its %s decision after a restart", approval.job_id,
                         approval.status.value)  # fmt: skip
                await self._apply(approval)
            fixed += 1
        return fixed

    async def run_expiry(self) -> None:
        """Expire stale requests for as long as the bot runs (cancel the task to stop)."""
        while True:
            try:
                await self.sweep()
                upcoming = await self.storage.next_approval_expiry()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("approval expiry sweep failed; trying again shortly")
                upcoming = None
            wait = SWEEP_MAX_SECONDS
            if upcoming is not None:
                wait = min(wait, max(0.05, (upcoming - self.clock()).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)


def _member_words(approval: Approval, expiry: timedelta) -> str:
    """The card's words for a decision against a request (also used after a restart)."""
    if approval.status is ApprovalStatus.DENIED:
        return str(denied_text(approval.reason or NO_REASON))
    if approval.status is ApprovalStatus.EXPIRED:
        return str(expired_text(expiry))
    return CANCELLED_WHILE_WAITING  # who (or the bot, when nobody) is the job's cancelled_by
