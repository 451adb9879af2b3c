"""The storage contract the rest of the bot codes against (CONTRACT: keep signatures stable).

`storage.Database` implements every method here. All methods are coroutines that run their
SQL on the database's single worker thread; callers never see SQL or sqlite3 objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from storage.approvals import Approval, ApprovalSettings, ApprovalStatus, Hold
from storage.models import (
    AnimateRule,
    AuditEntry,
    BlockedMember,
    FollowUp,
    GuildSettings,
    Job,
    JobState,
    LedgerEntry,
    ModelUsageRow,
    NewJob,
    Period,
    Scope,
    ScopedLimit,
    Stage,
    StoredFrame,
    Style,
    UsageRow,
)


class IllegalTransition(Exception):
    """A job was asked to move to a state its current state does not allow."""

    def __init__(self, job_id: int, current: JobState, wanted: JobState):
        super().__init__(f"job {job_id}: {current.value} -> {wanted.value} is not allowed")
        self.job_id = job_id
        self.current = current
        self.wanted = wanted


class JobNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class UsageWindows:
    """The windows a reservation is checked in: the member's credit period and the month."""

    credits_start: datetime
    credits_end: datetime
    month_start: datetime
    month_end: datetime


@dataclass(frozen=True, slots=True)
class UsageNumbers:
    """What a member and their server have used, read in one transaction."""

    credits_used: int  # reserved minus refunded, in the credit window
    member_in_flight: int  # the member's jobs not yet finished
    guild_in_flight: int  # the server's jobs not yet finished
    spent_usd: float  # Wiro's cost of the server's jobs finished this month
    in_flight_usd: float  # expected cost of the server's jobs in flight


# Called inside the reservation's write transaction with the numbers it read, the run's credits and
# its expected USD (None when unknown); returns None to allow, or a refusal. The rule itself lives
# above storage (bot.governance.quota.check_limits): storage only gathers the numbers and obeys.
ReservationCheck = Callable[[UsageNumbers, int, float | None], object | None]


class ReservationRefused(Exception):
    """The check inside the reservation refused; `refusal` is what it returned (nothing written).

    With `bot.governance.quota.Policy.check` as the check, it is a `bot.governance.quota.Refusal`.
    """

    def __init__(self, refusal: object):
        super().__init__(repr(refusal))
        self.refusal = refusal


class FollowUpInFlight(Exception):
    """A follow-up of the same kind of the same job is already in flight (nothing written).

    Almost always a double click on Re-roll, Extend or Remake: `job_id` is the one on its way."""

    def __init__(self, kind: FollowUp, parent_id: int, job_id: int):
        super().__init__(f"a {kind.value} of job {parent_id} is already in flight: job {job_id}")
        self.kind = kind
        self.parent_id = parent_id
        self.job_id = job_id


class Storage(Protocol):
    # --- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the file (mode 0600) and parent dir if needed, WAL, run migrations."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # --- jobs ------------------------------------------------------------------------------
    async def create_job_with_reservation(
        self,
        new: NewJob,
        *,
        windows: UsageWindows,
        check: ReservationCheck,
        now: datetime,
        hold: Hold | None = None,
    ) -> Job:
        """In one BEGIN IMMEDIATE transaction: read the member's and server's UsageNumbers in
        `windows`, call `check(numbers, new.credits, new.expected_cost_usd)`, and unless it
        returns a refusal insert the job (state PENDING) and its `reserve` ledger row (and, with
        `hold`, its waiting approvals row). Raises ReservationRefused(refusal) (nothing written)
        when the check refuses, and FollowUpInFlight (nothing written, checked first) when `new`
        follows up a job (`follow_up_of`) that already has a follow-up of that kind in flight."""

    async def follow_up_in_flight(self, kind: FollowUp, parent_id: int) -> int | None:
        """The id of a job in flight that follows up `parent_id` as `kind`, if any."""

    async def request_card(self, job_id: int) -> None:
        """Mark the job's card as not showing its latest state (state changes do it too)."""

    async def card_shown(self, job_id: int, pending: int) -> bool:
        """The card now shows the job as it was read with `card_pending == pending`: clear the
        mark unless a newer change came since. True when cleared."""

    async def stale_cards(self, since: datetime) -> list[Job]:
        """Posted cards still marked, of jobs changed since `since`, oldest first."""

    async def forget_stale_cards(self, before: datetime) -> int:
        """Clear the marks of cards not shown since before `before` (given up); how many."""

    async def get_job(self, job_id: int) -> Job:
        """Raises JobNotFound."""

    async def transition(
        self,
        job_id: int,
        to: JobState,
        *,
        settle: Literal["charge", "refund"] | None = None,
        settle_note: str | None = None,
        **fields: object,
    ) -> Job:
        """Move a job to `to` (validated against ALLOWED_TRANSITIONS, atomically with the
        current state read), setting any other Job fields given, plus updated_at and the state's
        timestamp (submitted_at for RUNNING, finished_at for terminal states); with `settle`,
        charge or refund its reservation in the same transaction. Raises IllegalTransition,
        JobNotFound."""

    async def update_job(self, job_id: int, **fields: object) -> Job:
        """Set non-state fields (stage, progress, card ids, task id/token, costs...)."""

    async def jobs_in_flight(self, guild_id: int | None = None) -> list[Job]:
        """Jobs not in a terminal state, oldest first (all guilds when guild_id is None)."""

    async def jobs_for_user(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        """A member's latest jobs, newest first."""

    async def jobs_for_guild(
        self, guild_id: int, since: datetime | None = None, limit: int = 1000
    ) -> list[Job]: ...

    async def count_in_flight(self, guild_id: int, user_id: int | None = None) -> int: ...

    async def median_duration_seconds(
        self,
        resolution: str,
        duration: int,
        guild_id: int | None = None,
        model: str = "hailuo-2.3",
    ) -> float | None:
        """Median (finished_at - created_at) of SUCCEEDED jobs of this model and settings
        (latest 200)."""

    async def median_cost_usd(
        self, resolution: str, duration: int, model: str = "hailuo-2.3"
    ) -> float | None:
        """Median total_cost_usd of SUCCEEDED jobs of this model and settings (latest 200)."""

    # --- first-frame images ----------------------------------------------------------------
    async def save_frame(self, job_id: int, data: bytes, content_type: str, filename: str) -> None:
        """Store a job's first-frame image (replaces an earlier one)."""

    async def load_frame(self, job_id: int) -> StoredFrame | None:
        """The job's first frame as (data, content_type, filename), or None when gone."""

    async def delete_frame(self, job_id: int, *, keep_for_reroll: bool = False) -> None:
        """Drop a finished job's frame, or keep it FRAME_KEEP longer for a re-roll; either way
        frames whose keep time ran out are removed."""

    @property
    def frames_dir(self) -> Path:
        """Where the first-frame images' files are (counted under the kept media's size cap)."""

    async def frames_in_use(self) -> frozenset[Path]:
        """The files of frames that jobs in flight still need (never evicted by the size cap)."""

    # --- ledger ----------------------------------------------------------------------------
    async def charge(self, job_id: int, *, total_cost_usd: float | None = None) -> bool:
        """Turn the reservation into a charge (idempotent: False if already charged/refunded)."""

    async def refund(self, job_id: int, note: str | None = None) -> bool:
        """Give a job's credits back (idempotent: False if already refunded or never reserved).
        A charged job can still be refunded by a moderator."""

    async def ledger_for_job(self, job_id: int) -> list[LedgerEntry]: ...

    async def credits_used(
        self, guild_id: int, user_id: int, start: datetime, end: datetime
    ) -> int:
        """Reserved minus refunded credits of reservations made in [start, end)."""

    async def spent_usd(self, guild_id: int, start: datetime, end: datetime) -> float:
        """Sum of Wiro totalcost of this server's jobs finished in [start, end)."""

    async def in_flight_expected_usd(self, guild_id: int) -> float: ...

    async def usage_numbers(
        self, guild_id: int, user_id: int, windows: UsageWindows
    ) -> UsageNumbers:
        """The numbers a reservation is checked against, read in one snapshot (for the early
        check: the reservation reads them again inside its write lock)."""

    async def usage(
        self, guild_id: int, since: datetime, user_id: int | None = None
    ) -> list[UsageRow]:
        """Per-member totals of jobs created since `since` (credits net of refunds)."""

    async def usage_by_model(
        self, guild_id: int, since: datetime, user_id: int | None = None
    ) -> list[ModelUsageRow]:
        """Per-model totals of jobs created since `since` (credits net of refunds)."""

    # --- server settings -------------------------------------------------------------------
    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """Defaults when the server has no row yet."""

    async def set_limit(
        self,
        guild_id: int,
        scope: Scope,
        target_id: int,
        credits: int,
        period: Period,
        actor_id: int,
    ) -> None: ...

    async def clear_limit(
        self, guild_id: int, scope: Scope, target_id: int, actor_id: int
    ) -> bool: ...

    async def limits(self, guild_id: int) -> list[ScopedLimit]: ...

    async def set_mod_role(self, guild_id: int, role_id: int | None, actor_id: int) -> None: ...

    async def allow_channel(self, guild_id: int, channel_id: int, actor_id: int) -> bool: ...

    async def remove_channel(self, guild_id: int, channel_id: int, actor_id: int) -> bool: ...

    async def set_paused(
        self, guild_id: int, paused: bool, reason: str | None, actor_id: int
    ) -> None: ...

    async def block_member(
        self, guild_id: int, user_id: int, reason: str | None, actor_id: int
    ) -> None: ...

    async def unblock_member(self, guild_id: int, user_id: int, actor_id: int) -> bool: ...

    async def blocked_member(self, guild_id: int, user_id: int) -> BlockedMember | None: ...

    async def set_budget(self, guild_id: int, usd: float | None, actor_id: int) -> None: ...

    async def add_blocked_word(self, guild_id: int, word: str, actor_id: int) -> bool: ...

    async def remove_blocked_word(self, guild_id: int, word: str, actor_id: int) -> bool: ...

    async def set_audit_channel(
        self, guild_id: int, channel_id: int | None, actor_id: int
    ) -> None: ...

    async def record_action(self, guild_id: int, actor_id: int, action: str, detail: str) -> None:
        """Append to the moderator audit log (the setters above call this themselves)."""

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]: ...

    # --- the approval queue and budget alerts (storage/approvals.py) ------------------------------
    async def approval_settings(self, guild_id: int) -> ApprovalSettings | None: ...

    async def set_approval(
        self,
        guild_id: int,
        *,
        enabled: bool,
        review_channel_id: int | None,
        trusted_role_id: int | None,
        actor_id: int,
        detail: str,
    ) -> None: ...

    async def approval(self, job_id: int) -> Approval | None: ...

    async def approvals_for(self, job_ids: Iterable[int]) -> dict[int, Approval]: ...

    async def decide_approval(
        self,
        job_id: int,
        status: ApprovalStatus,
        *,
        actor_id: int | None,
        reason: str | None,
        now: datetime,
    ) -> tuple[bool, Approval | None]: ...

    async def set_review_message(self, job_id: int, message_id: int | None) -> None: ...

    async def approvals_due(self, now: datetime, limit: int = 100) -> list[Approval]: ...

    async def next_approval_expiry(self) -> datetime | None: ...

    async def unsettled_approvals(self) -> list[Approval]: ...

    async def waiting_approvals(self, guild_id: int) -> list[Approval]: ...

    async def claim_budget_alert(
        self, guild_id: int, month: str, threshold: int, now: datetime
    ) -> bool: ...

    async def release_budget_alert(self, guild_id: int, month: str, threshold: int) -> None: ...

    async def budget_alerts_announced(self, guild_id: int, month: str) -> set[int]: ...

    # --- the studio: styles and Delete (storage/studio.py, storage/jobs.py) -----------------------
    async def styles(self, guild_id: int) -> list[Style]: ...

    async def style(self, guild_id: int, name: str) -> Style | None: ...

    async def mark_deleted(self, job_id: int, actor_id: int) -> tuple[Job, bool]: ...

    # --- consent for Animate -------------------------------------------------------------------
    async def animate_rule(self, guild_id: int) -> AnimateRule: ...

    async def set_animate_rule(self, guild_id: int, who: AnimateRule, actor_id: int) -> None: ...

    async def animate_refused_by(self, guild_id: int, user_id: int) -> bool: ...

    async def set_animate_refusal(self, guild_id: int, user_id: int, refused: bool) -> bool: ...

    async def server_language(self, guild_id: int) -> str | None:
        """The Discord locale a moderator set for this server's public messages, if any."""

    async def set_server_language(self, guild_id: int, locale: str, actor_id: int) -> None: ...

    async def requester_of_message(self, guild_id: int, message_id: int) -> int | None: ...


__all__ = [
    "FollowUpInFlight",
    "IllegalTransition",
    "JobNotFound",
    "NewJob",
    "ReservationRefused",
    "Stage",
    "Storage",
    "StoredFrame",
]
