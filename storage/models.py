"""Records the storage layer returns. No SQL and no Discord here: plain pydantic models.

Ids of Discord objects are ints (snowflakes). Times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

Period = Literal["day", "week", "month"]
Scope = Literal["server", "role", "user"]


class AnimateRule(StrEnum):
    """Whose images members may animate in a server (/videoadmin animate)."""

    OWN = "own"  # only images in their own messages (the default)
    ANYONE = "anyone"
    MODERATORS = "moderators"  # their own, and moderators anyone's


class JobState(StrEnum):
    """Where a job is in its lifecycle. Terminal states never change again."""

    PENDING = "pending"  # row written, credits reserved, nothing sent to Wiro yet
    WAITING = "waiting"  # Wiro said "concurrency limit" (code 96): in our local queue
    SUBMITTING = "submitting"  # Run request about to go out / in flight (ambiguous on crash)
    RUNNING = "running"  # Wiro accepted it: we have a task id and token
    DELIVERING = "delivering"  # Wiro finished successfully; downloading/posting the clip
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT}
)

# The only moves the job table accepts. Anything else raises IllegalTransition.
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset(
        {JobState.SUBMITTING, JobState.WAITING, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.WAITING: frozenset(
        {JobState.SUBMITTING, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT}
    ),
    JobState.SUBMITTING: frozenset(
        {JobState.RUNNING, JobState.WAITING, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.RUNNING: frozenset(
        {JobState.DELIVERING, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT}
    ),
    JobState.DELIVERING: frozenset({JobState.SUCCEEDED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMED_OUT: frozenset(),
}


class Stage(StrEnum):
    """What the card shows while a job runs; finer than JobState, coarser than Wiro's statuses."""

    WAITING = "waiting"  # local queue (Wiro busy)
    SUBMITTING = "submitting"
    QUEUED = "queued"  # queued at Wiro
    STARTING = "starting"  # accepted / preprocessing / assigned
    GENERATING = "generating"  # task_start .. task_end
    FINISHING = "finishing"  # postprocessing
    DELIVERING = "delivering"  # downloading and posting the clip
    DONE = "done"  # terminal (see outcome)


class Job(BaseModel):
    """One /video request, from reservation to its final card."""

    model_config = ConfigDict(frozen=True)

    id: int
    guild_id: int
    channel_id: int
    user_id: int
    prompt: str
    resolution: Literal["768P", "1080P"]
    duration: int  # seconds: 6 or 10
    prompt_optimizer: bool
    has_image: bool = False
    image_sha256: str | None = None
    image_url: str | None = None  # Discord CDN URL of the first frame (for the card thumbnail)
    credits: int  # what this run costs / reserved
    state: JobState = JobState.PENDING
    stage: Stage = Stage.SUBMITTING
    progress: int | None = None  # percent when Wiro reports one
    card_message_id: int | None = None
    card_posted_at: datetime | None = None  # to avoid editing messages older than 1 h (30046)
    result_message_id: int | None = None
    delivery_nonce: str | None = None  # Discord message nonce used for the clip post
    wiro_task_id: str | None = None
    # Per-task credential for the socket: stored (needed after a restart), never logged.
    wiro_task_token: str | None = Field(default=None, repr=False)
    submit_attempts: int = 0
    upload_limit: int | None = None  # bytes: the interaction's attachment_size_limit
    outcome_reason: str | None = None  # plain words for the card
    cancelled_by: int | None = None
    total_cost_usd: float | None = None  # Wiro totalcost
    expected_cost_usd: float | None = None  # estimate used for the budget while in flight
    # total_cost_usd is the expected cost of a Run whose answer was lost (Wiro may have billed
    # a task the bot never learned about), not a totalcost Wiro reported.
    cost_is_estimate: bool = False
    reroll_of: int | None = None
    model: str = "hailuo-2.3"  # bot.catalogue.MODELS key
    camera: str | None = None  # camera moves, comma-joined in their official spelling
    image_note: str | None = None  # what was done to the member's image (card)
    source_url: str | None = None  # the message whose image was animated (card link)
    image_author_id: int | None = None  # Animate: who posted that image, when not the requester
    # Extend: the job whose clip this one continues (its clip is posted stitched after that
    # one's); chain_seconds: the nominal length of the clip this job posts (a chain's total).
    extends_job_id: int | None = None
    chain_seconds: int | None = None
    remake_of: int | None = None  # Remake in 1080P of this job
    remix_of: int | None = None  # Remix: a variation of this job's clip, from its first frame
    # A server style: its name (the card shows it apart from the prompt) and its text, kept as
    # they were when the job was asked; `prompt` stays the member's own words.
    style: str | None = None
    style_prompt: str | None = None
    # Delete: the clip message and the kept clip are gone; the row stays (no refund).
    deleted_at: datetime | None = None
    deleted_by: int | None = None
    output_url: str | None = None  # where the clip was downloaded from (linked when too big)
    output_size: int | None = None
    created_at: datetime
    submitted_at: datetime | None = None
    # The current submission's Run left for Wiro (None: not sent yet, so sending it is safe).
    run_sent_at: datetime | None = None
    started_at: datetime | None = None  # Wiro began generating
    finished_at: datetime | None = None
    approved_at: datetime | None = None  # a held request was approved; its deadline counts from it
    # Discord first refused this job's clip then; the delivery retry window counts from it, also
    # across restarts. None while no outage has been met.
    delivery_unavailable_since: datetime | None = None
    # Card changes not yet shown on the card: raised with every state change (in the same
    # transaction) and every render request, set back to 0 only by the edit that showed the
    # newest of them. A start re-renders every card still marked (`Storage.stale_cards`).
    card_pending: int = 0
    updated_at: datetime

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def clip_seconds(self) -> int:
        """The nominal length of the clip this job posts (a whole chain for an extension)."""
        return self.chain_seconds or self.duration


@dataclass(frozen=True, kw_only=True)
class NewJob:
    """A /video request about to be written with its reservation (create_job_with_reservation)."""

    guild_id: int
    channel_id: int
    user_id: int
    prompt: str
    resolution: str = "768P"
    duration: int = 6
    prompt_optimizer: bool = True
    has_image: bool = False
    image_sha256: str | None = None
    image_url: str | None = None
    credits: int = 1
    upload_limit: int | None = None  # bytes: the interaction's attachment_size_limit
    expected_cost_usd: float | None = None  # for the budget while in flight
    reroll_of: int | None = None
    model: str = "hailuo-2.3"
    camera: str | None = None
    image_note: str | None = None
    source_url: str | None = None
    image_author_id: int | None = None
    extends_job_id: int | None = None
    chain_seconds: int | None = None
    remake_of: int | None = None
    remix_of: int | None = None
    style: str | None = None
    style_prompt: str | None = None


class FollowUp(StrEnum):
    """How a job follows up a finished one (Re-roll, Extend, Remake): one at a time of each."""

    REROLL = "reroll"
    EXTEND = "extend"
    REMAKE = "remake"


def follow_up_of(job: Job | NewJob) -> tuple[FollowUp, int] | None:
    """Which finished job `job` follows up, and how; None for a fresh request.

    A re-roll or a remix of an extension also names the clip it is stitched after
    (`extends_job_id`): it is not another extension of that clip. A remix (new words) is not
    limited: several variations of one clip may be on their way at once."""
    if job.reroll_of is not None:
        return FollowUp.REROLL, job.reroll_of
    if job.remix_of is not None:
        return None
    if job.remake_of is not None:
        return FollowUp.REMAKE, job.remake_of
    if job.extends_job_id is not None:
        return FollowUp.EXTEND, job.extends_job_id
    return None


class LedgerEntry(BaseModel):
    """One credit movement, at most one of each kind per job.

    reserve: +credits, written with the job; refund: -credits (given back); charge: +credits
    confirming the reservation, a receipt that is not counted again. Credits used in a window =
    sum of reserve and refund rows of the reservations made in it.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    guild_id: int
    user_id: int
    job_id: int
    kind: Literal["reserve", "charge", "refund"]
    credits: int
    note: str | None = None
    created_at: datetime


class Limit(BaseModel):
    """`credits` per calendar `period` (UTC)."""

    model_config = ConfigDict(frozen=True)

    credits: int
    period: Period


class ScopedLimit(Limit):
    scope: Scope
    target_id: int  # guild id for scope "server"
    set_by: int | None = None
    set_at: datetime | None = None


class GuildSettings(BaseModel):
    """Everything a moderator controls for one server."""

    model_config = ConfigDict(frozen=True)

    guild_id: int
    mod_role_id: int | None = None
    paused: bool = False
    pause_reason: str | None = None
    monthly_budget_usd: float | None = None
    audit_channel_id: int | None = None
    allowed_channel_ids: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()


class Style(BaseModel):
    """A server's named preset: text added to a member's prompt, and default settings."""

    model_config = ConfigDict(frozen=True)

    guild_id: int
    name: str
    prompt: str  # may hold "{prompt}": where the member's words go
    camera: str | None = None  # comma-joined moves, as on a job
    model: str | None = None
    resolution: Literal["768P", "1080P"] | None = None
    duration: int | None = None
    added_by: int
    added_at: datetime


class BlockedMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    guild_id: int
    user_id: int
    reason: str | None = None
    blocked_by: int
    blocked_at: datetime


class AuditEntry(BaseModel):
    """A moderator change: who did what, when."""

    model_config = ConfigDict(frozen=True)

    id: int
    guild_id: int
    actor_id: int
    action: str  # e.g. "limit.set", "pause", "words.add"
    detail: str
    created_at: datetime


class UsageRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: int
    jobs: int
    succeeded: int
    credits: int
    usd: float
    denied: int = 0  # requests a moderator denied (approval queue)
    expired: int = 0  # requests nobody reviewed in time
    # Animate: jobs made from other members' images, and whose images they were.
    from_others: int = 0
    image_authors: tuple[int, ...] = ()


class ModelUsageRow(BaseModel):
    """Usage totals of one model (the `model` of the jobs)."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model: str
    jobs: int
    succeeded: int
    credits: int
    usd: float


class StoredFrame(NamedTuple):
    """A job's first-frame image as it was checked and sent to Wiro."""

    data: bytes
    content_type: str
    filename: str
