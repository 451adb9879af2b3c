"""Checks before anything is spent: may this member run this /video here, now?

`Admission.precheck` answers early (before the member's image is downloaded) with the specific
reason; the reservation in storage is the atomic check that has the last word.
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import bot.governance.consent as consent
import bot.governance.quota as quota
import bot.governance.styles as styles
from bot import camera, i18n
from bot.catalogue import DEFAULT_MODEL, MODELS, NEEDS_IMAGE_REASON, get_model
from bot.jobs.contracts import (
    ChannelNotAllowed,
    JobConfig,
    LimitReached,
    QuotaStatus,
    Refused,
    VideoRequest,
)
from bot.wiro.client import SCHEMA_INLINE_TIMEOUT_SECONDS, WiroClient
from bot.wiro.errors import WiroError
from storage.api import Storage

# While Tool/Detail has not named the model's image field, image runs are refused (text runs go).
IMAGE_RUNS_PAUSED = str(
    i18n.Text(
        "Wiro's model details could not be read just now, so videos from an image are paused. "
        "Try again in a minute (a text-only /video works now)."
    )
)

MAX_PROMPT_CHARS = 2000

# Below MIN_FREE_DISK_MB no new job starts: its clip could not be stored or delivered.
DISK_NEARLY_FULL = str(
    i18n.Text(
        "The bot's server is nearly out of disk space, so it is not starting new videos right "
        "now. Nothing was spent; please try again later (the bot's operator has been alerted in "
        "its log)."
    )
)


def normalise_prompt(prompt: str) -> str:
    """Trim the prompt and drop control characters (NUL and the like; not newlines or tabs).

    Everything else is kept as typed, emoji joiners included."""
    kept = "".join(c for c in prompt if c in "\n\t" or unicodedata.category(c) != "Cc")
    return kept.strip()


def has_visible_text(prompt: str) -> bool:
    """Whether the prompt shows anything: zero-width or spacing characters alone do not."""
    return any(unicodedata.category(c)[0] not in "CZM" for c in prompt)


def _with_reason(reason: str | None, with_it: i18n.Text, without: i18n.Text) -> i18n.Text:
    """A moderator's reason (their own words, as typed) in its sentence, or the plain one."""
    return i18n.Text(with_it.message, reason=reason) if reason else without


class FreeSpaceFloor(Protocol):
    """Whether the data directory's disk is under its free-space floor (`bot.ops.disk`)."""

    def low(self) -> bool: ...


@dataclass(kw_only=True, eq=False)
class Admission:
    """The early checks of a request, and the words for a refused reservation."""

    storage: Storage
    wiro: WiroClient
    config: JobConfig
    clock: Callable[[], datetime]
    disk: FreeSpaceFloor | None = None

    async def precheck(self, req: VideoRequest) -> int:
        """Check everything that can be checked before the image; return the run's cost.

        Raises Refused with the member-facing reason. Nothing is written."""
        if self.disk is not None and self.disk.low():
            raise Refused(DISK_NEARLY_FULL)
        settings = await self.storage.guild_settings(req.guild_id)
        if settings.paused:
            raise Refused(
                _with_reason(
                    settings.pause_reason,
                    i18n.Text("Video generation is paused in this server: {reason}"),
                    i18n.Text("Video generation is paused in this server."),
                )
            )
        blocked = await self.storage.blocked_member(req.guild_id, req.user_id)
        if blocked is not None:
            raise Refused(
                _with_reason(
                    blocked.reason,
                    i18n.Text(
                        "You are blocked from generating videos in this server. Reason: {reason}"
                    ),
                    i18n.Text("You are blocked from generating videos in this server."),
                )
            )
        if settings.allowed_channel_ids and req.channel_id not in settings.allowed_channel_ids:
            raise ChannelNotAllowed(sorted(settings.allowed_channel_ids)[:5])
        await consent.check(self.storage, req)
        prompt = normalise_prompt(req.prompt)
        # A style's words count as the prompt's: they are sent with it (bot/governance/styles.py).
        combined = styles.combine(prompt, req.style_prompt)
        word = quota.blocked_word_in(combined, settings.blocked_words)
        if word is not None:
            if req.style:
                raise Refused(
                    i18n.Text(
                        "Your prompt with the style “{style}” contains a word this server has "
                        "blocked (“{word}”).",
                        style=req.style,
                        word=word,
                    )
                )
            raise Refused(
                i18n.Text(
                    "Your prompt contains a word this server has blocked (“{word}”).", word=word
                )
            )
        if not has_visible_text(prompt):
            raise Refused(i18n.Text("The prompt is empty. Describe the video you want."))
        self._check_studio(req, prompt, combined)
        try:
            cost = quota.run_cost(req.resolution, req.duration, req.model)
        except ValueError:
            raise Refused(
                i18n.Text(
                    "{resolution} videos can only be 6 seconds long. "
                    "Choose 768P for a 10-second clip.",
                    resolution=req.resolution,
                )
            ) from None
        client = self.wiro.for_project(get_model(req.model).slug_project)
        wants_image = req.has_image or req.image_url is not None
        if wants_image and client.tool.from_fallback and client is not self.wiro:
            # Another model's schema is read in the background at start: ask once more.
            with contextlib.suppress(TimeoutError, WiroError):
                async with asyncio.timeout(SCHEMA_INLINE_TIMEOUT_SECONDS):
                    await client.tool_detail()
        if wants_image and client.tool.from_fallback:
            # Never spend on a guessed image field (docs/wiro-protocol.md "Inputs"); the
            # client keeps asking this model's Tool/Detail in the background.
            client.refresh_schema_soon()
            raise Refused(IMAGE_RUNS_PAUSED)
        await self._check_limits(req, cost)
        return cost

    @staticmethod
    def _check_studio(req: VideoRequest, prompt: str, combined: str) -> None:
        """The model and camera moves: a known model, an image for Fast, moves that fit."""
        model = MODELS.get(req.model)
        if model is None:
            first, *others = MODELS
            raise Refused(
                i18n.Text(
                    "“{model}” is not a model; choose {first} or {second}.",
                    model=req.model,
                    first=first,
                    second=" / ".join(others),
                )
            )
        if model.needs_image and not req.has_image:
            raise Refused(NEEDS_IMAGE_REASON)
        unknown = [m for m in req.camera if m not in camera.CAMERA_MOVES]
        if unknown or len(req.camera) > camera.MAX_MOVES:
            # The cogs parse the option first; this guards other callers.
            raise Refused(
                i18n.Text(
                    "Choose up to {count} camera moves among: {moves}.",
                    count=camera.MAX_MOVES,
                    moves=camera.moves_list(),
                )
            )
        if len(combined) > MAX_PROMPT_CHARS:
            raise Refused(styles.too_long_words(prompt, req.style, len(combined), MAX_PROMPT_CHARS))
        sent = len(combined) + camera.prefix_length(req.camera)
        if sent > MAX_PROMPT_CHARS:
            raise Refused(
                i18n.Text(
                    "With the camera moves, the prompt sent to Hailuo is {sent} characters long; "
                    "the limit is {limit}. Shorten the prompt a little.",
                    sent=sent,
                    limit=MAX_PROMPT_CHARS,
                )
            )

    async def _check_limits(self, req: VideoRequest, cost: int) -> None:
        """Answer early (before downloading the image) when the reservation would be refused:
        the same `quota.check_limits` the reservation runs, on a snapshot of the numbers."""
        policy = await self.policy(req)
        numbers = await self.storage.usage_numbers(req.guild_id, req.user_id, policy.windows)
        expected = (
            await self.expected_cost_usd(req.resolution, req.duration, req.model)
            if policy.monthly_budget_usd is not None  # only the budget looks at USD
            else None
        )
        refusal = policy.check(numbers, cost, expected)
        if refusal is not None:
            raise LimitReached(refusal)

    async def policy(self, req: VideoRequest) -> quota.Policy:
        """The limits this request is checked against, now."""
        applied = quota.pick_limits(
            await self.storage.limits(req.guild_id),
            guild_id=req.guild_id,
            user_id=req.user_id,
            role_ids=req.role_ids,
            default=self.config.default_limit,
        )
        now = self.clock()
        settings = await self.storage.guild_settings(req.guild_id)
        return quota.Policy(
            credits=applied.limit,
            credits_window=quota.window(applied.limit.period, now),
            max_jobs_per_user=self.config.max_jobs_per_user,
            max_jobs_per_guild=self.config.max_jobs_per_guild,
            monthly_budget_usd=settings.monthly_budget_usd,
            month_window=quota.month_window(now),
        )

    async def quota_status(
        self, guild_id: int, user_id: int, role_ids: Iterable[int]
    ) -> QuotaStatus:
        """Which limit applies to a member, what is used, when it resets, jobs in flight."""
        applied = quota.pick_limits(
            await self.storage.limits(guild_id),
            guild_id=guild_id,
            user_id=user_id,
            role_ids=role_ids,
            default=self.config.default_limit,
        )
        start, end = quota.window(applied.limit.period, self.clock())
        used = await self.storage.credits_used(guild_id, user_id, start, end)
        in_flight = await self.storage.count_in_flight(guild_id, user_id)
        return QuotaStatus(
            applied=applied,
            used=used,
            window_start=start,
            resets_at=end,
            in_flight=in_flight,
            max_in_flight=self.config.max_jobs_per_user,
            costs={model.id: model.credits for model in MODELS.values()},
        )

    async def expected_cost_usd(
        self, resolution: str, duration: int, model: str = DEFAULT_MODEL
    ) -> float | None:
        """Wiro's price of this model for these settings, else the median of its past runs."""
        client = self.wiro.for_project(get_model(model).slug_project)
        price = client.tool.price_for(resolution, duration)
        median = (
            None
            if price is not None
            else await self.storage.median_cost_usd(resolution, duration, model)
        )
        return quota.expected_run_cost_usd(price, median)
