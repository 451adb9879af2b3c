"""What the job lifecycle offers and needs: requests, settings, errors, the presenter protocol.

Cogs import these to talk to `bot.jobs.service.JobService` without importing the service itself.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

import bot.governance.quota as quota
from bot.catalogue import DEFAULT_MODEL
from bot.i18n import Text, from_english
from bot.jobs.outage import RetryPolicy
from storage.approvals import ApprovalStatus, Hold
from storage.models import Job, JobState, Limit

# Clips above this are linked, never downloaded: a 10 s 1080P clip is a few tens of MB at most.
MAX_CLIP_BYTES = 500 * 1024 * 1024
# Discord's upload limit for a server without boosts (and a member without Nitro): the smallest
# limit a bot message can meet, so the one a 413 for a file believed to fit falls back to.
DISCORD_BASE_UPLOAD_LIMIT = 10 * 1024 * 1024
# Wiro said "busy" (code 96): the head of our local queue tries again at least this often, even
# when none of our own tasks finished (another client of the same account may have).
BUSY_RETRY_SECONDS = 30.0


class Refused(Exception):
    """A request or action was refused. `text` is the short answer for the member, put in their
    language by whoever answers them (`words(locale)`); `message` is it in English (logs)."""

    def __init__(self, message: str | Text):
        self.text = message if isinstance(message, Text) else None
        self.message = str(message)
        super().__init__(self.message)

    def words(self, locale: str | None) -> str:
        """The answer in the language of `locale` (English when not translated). A plain
        string is English the bot wrote (a reason kept for a button, a card's note): the
        catalogs read it back (`from_english`), templates with values included."""
        if self.text is None:
            return from_english(locale, self.message)
        return self.text.render(locale)


class LimitReached(Refused):
    """A run does not fit the member's or the server's limits (`refusal` says which and when
    it resets). Cogs put it in words (`cogs.words.refused_words`); `message` is for logs."""

    def __init__(self, refusal: quota.Refusal):
        super().__init__(
            f"{refusal.what} limit reached: {refusal.used:g} of {refusal.limit:g} used"
        )
        self.refusal = refusal


@dataclass(frozen=True)
class RefundOutcome:
    """A moderator's refund: the job, and when it was still running, what cancelling it said
    (its credits then come back when it stops)."""

    job: Job
    cancelling: str | None = None


class ChannelNotAllowed(Refused):
    """/video is limited to other channels in this server (`channel_ids`: a few of them)."""

    def __init__(self, channel_ids: list[int]):
        super().__init__(f"not an allowed channel (allowed: {channel_ids})")
        self.channel_ids = channel_ids


class PresenterError(Exception):
    """The presenter could not show something (missing permission, deleted channel...)."""


class CardExtras(BaseModel):
    """What the card needs besides the job row."""

    model_config = ConfigDict(frozen=True)

    queue_position: int | None = None
    eta: datetime | None = None
    sandbox: bool = False
    note: str | None = None
    cancelling: bool = False
    retrying: bool = False  # Wiro hit a problem (`task_error`) and is retrying the task
    # The approval queue's word on a held request: "waiting", "denied", "expired", "cancelled".
    approval: str | None = None
    # Discord refused the finished clip for now: it is being retried (bot/jobs/outage.py).
    delivery_delayed: bool = False
    max_clip_seconds: int = 60  # Extend's limit: the button says when a chain reached it
    # Clips over this were linked, never downloaded: the Extend button says it cannot have them.
    max_clip_bytes: int | None = None
    # Remix: the card message of the job it varies (the card links it), when known.
    remix_of_message_id: int | None = None


class Delivery(BaseModel):
    """How the clip reached the channel."""

    model_config = ConfigDict(frozen=True)

    message_id: int | None
    attached: bool
    note: str | None = None  # why it was linked instead of attached, or that it was compressed


class UploadTooLarge(Exception):
    """Discord refused an attached clip as too large (413 / 40005) although the bot believed it
    fit (a server that lost its boosts, a stale cache). Nothing was posted."""

    def __init__(self, size: int):
        super().__init__(f"Discord refused {size} bytes as too large")
        self.size = size


class ApprovalGate(Protocol):
    """The approval queue as the lifecycle sees it (`bot.governance.approval.ApprovalService`)."""

    async def hold_for(
        self, guild_id: int, user_id: int, *, role_ids: Iterable[int], manage_guild: bool
    ) -> Hold | None:
        """Where and until when this member's request waits, or None when it runs at once."""

    async def open_review(self, job: Job) -> None:
        """Post the review of a held job; raise Refused (job refunded) if it cannot."""

    async def holds(self, job_id: int) -> bool:
        """True while the job may not run (waiting for a moderator, or decided against)."""

    async def state_of(self, job_id: int) -> ApprovalStatus | None:
        """The job's approval status, None when it never had to wait."""

    async def cancel_waiting(self, job_id: int, actor_id: int) -> str | None:
        """Cancel a request still waiting; None when it is not waiting."""


@dataclass(frozen=True)
class ClipToPost:
    """What the presenter posts for a finished job (`JobPresenter.deliver_clip`).

    `clip` is None when the clip is not attached: link only, with `link_reason` (plain words:
    why it is linked) or else "too big to download". `original_size` is set when `clip` is a
    copy compressed to fit (the original is at job.output_url)."""

    clip: Path | None
    size: int | None
    original_size: int | None = None
    link_reason: str | None = None


class JobPresenter(Protocol):
    """Discord side of the lifecycle, implemented by the video cog (and a recorder in tests)."""

    async def post_card(self, job: Job, extras: CardExtras, thumbnail: bytes | None) -> int:
        """Post the public job card; return its message id. Raise PresenterError if impossible."""

    async def update_card(self, job: Job, extras: CardExtras) -> None:
        """Show the job's current state (coalesced and paced by the implementation)."""

    def attach_limit(self, job: Job) -> int:
        """The largest file this job's clip may be attached as, now: the interaction's limit
        while its token lives (with room for the upload), else the server's."""

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        """Post the clip (attached when it fits, else linked to job.output_url with the reason).

        Posting must be
        idempotent for `job.delivery_nonce`. Raise UploadTooLarge when Discord refuses the file
        as too large (nothing posted), PresenterError if it cannot be posted."""

    async def find_delivery(self, job: Job) -> int | None:
        """The id of this job's clip message if an earlier attempt posted it, else None."""

    async def find_card(self, job: Job) -> int | None:
        """The id of this job's card if it was posted but never recorded (the process died
        in between), else None. Best effort: None also when the channel cannot be read."""

    async def job_finished(self, job: Job) -> None:
        """A job reached a terminal state (audit line, etc.)."""

    async def close(self, timeout: float) -> None:
        """Flush pending card edits at shutdown, within `timeout` seconds."""


@dataclass(frozen=True)
class JobConfig:
    """The knobs of the lifecycle (from Settings in production, small values in tests)."""

    default_limit: Limit
    max_jobs_per_user: int = 2
    max_jobs_per_guild: int = 10
    timeout: timedelta = timedelta(minutes=20)
    sandbox: bool = False
    max_clip_bytes: int = MAX_CLIP_BYTES
    busy_retry_seconds: float = BUSY_RETRY_SECONDS
    # How long a finished clip (and its final card) is retried while Discord is unavailable.
    delivery_retry: RetryPolicy = field(default_factory=RetryPolicy)
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    # Extend: the longest a chain's stitched clip may be (MAX_CLIP_SECONDS), and where posted
    # clips are kept so that they can be extended (default: work_dir / "clips").
    max_clip_seconds: int = 60
    clips_dir: Path | None = None
    # Kept clips, their last frames and first frames stay under this (CLIP_STORE_MB; None: no
    # cap). The free-space floor (MIN_FREE_DISK_MB) is the `disk` the app gives JobService.
    clip_store_bytes: int | None = None
    # What a clip is fitted to after Discord refused it as too large although the bot believed
    # it fit (a 413): Discord's limit for a server without boosts. Tests make it small.
    base_upload_limit: int = DISCORD_BASE_UPLOAD_LIMIT


@dataclass(frozen=True)
class Asker:
    """Who asks for a follow-up of a finished job (Re-roll, Extend, Remix, Remake): the member,
    their roles (for their limits), their interaction's upload limit, and whether they hold
    Manage Server (moderators skip the approval queue)."""

    user_id: int
    role_ids: frozenset[int] = frozenset()
    upload_limit: int | None = None
    manage_guild: bool = False


@dataclass(frozen=True)
class VideoRequest:
    """A member's /video (or a re-roll) with who asked, where, and with which settings."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: frozenset[int]
    prompt: str
    resolution: str = "768P"
    duration: int = 6
    prompt_optimizer: bool = True
    upload_limit: int | None = None
    image_url: str | None = None
    reroll_of: int | None = None
    # The requester holds Manage Server (from the interaction): a moderator, who never waits
    # for approval. Left False, the safe default, a moderator's request would wait like any.
    manage_guild: bool = False
    has_image: bool = False  # a first frame comes with the request (checked before reading it)
    model: str = DEFAULT_MODEL  # bot.catalogue.MODELS key
    camera: tuple[str, ...] = ()  # camera moves, parsed (bot.camera.parse_moves)
    source_url: str | None = None  # Animate with Hailuo: the message the image came from
    # Animate: who posted that image (the requester of the bot's own messages); None otherwise.
    image_author_id: int | None = None
    image_note: str | None = None  # a re-roll keeps what was done to the original image
    extends_job_id: int | None = None
    chain_seconds: int | None = None
    remake_of: int | None = None
    remix_of: int | None = None
    # A server style (bot/governance/styles.py): its name and text; the text is added to `prompt`.
    style: str | None = None
    style_prompt: str | None = None


@dataclass(frozen=True)
class QuotaStatus:
    """What /quota shows."""

    applied: quota.AppliedLimit
    used: int
    window_start: datetime
    resets_at: datetime
    in_flight: int
    max_in_flight: int
    costs: dict[str, dict[tuple[str, int], int]]  # by model, then setting

    @property
    def left(self) -> int:
        return max(0, self.applied.limit.credits - self.used)


def utcnow() -> datetime:
    return datetime.now(UTC)


def finished_words(job: Job) -> Text:
    """Why a finished job cannot be cancelled: 'Job 7 has already finished (timed out).'"""
    if job.state is JobState.SUCCEEDED:
        return Text("Job {id} has already finished (succeeded).", id=job.id)
    if job.state is JobState.FAILED:
        return Text("Job {id} has already finished (failed).", id=job.id)
    if job.state is JobState.TIMED_OUT:
        return Text("Job {id} has already finished (timed out).", id=job.id)
    return Text("Job {id} has already finished (cancelled).", id=job.id)


def check_in_server(job: Job, guild_id: int | None) -> Job:
    """The one "this job belongs to this server" guard: a button, a form or a moderator's
    command may only act on jobs of the server it is used in."""
    if job.guild_id != guild_id:
        raise Refused(Text("Job {id} does not belong to this server.", id=job.id))
    return job
