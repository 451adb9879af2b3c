"""The Discord bot: composition root for the Discord side, cogs, start-up and shutdown order."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Literal

import discord
from discord.ext import commands

from bot.app.global_limit import GlobalPace
from bot.app.shards import (
    REPORT_SECONDS,
    STATE_KEY,
    IdentifySchedule,
    ShardingRequired,
    build_report,
    describe_shards,
    session_start_delay,
)
from bot.background import BackgroundTasks
from bot.governance.approval import ApprovalService
from bot.governance.budget_alerts import BudgetAlerts
from bot.jobs.contracts import JobConfig
from bot.jobs.outage import RetryPolicy
from bot.jobs.service import JobService
from bot.ops.disk import MIB, DiskSpace
from bot.settings import Settings
from bot.timing import PRODUCT, Timing
from bot.wiro.client import WiroClient
from storage.db import Database
from storage.models import Limit

log = logging.getLogger(__name__)

# The Discord side, named by string: each extension's setup() registers its own cogs, buttons,
# forms and presenters (the cards first: the others reach its presenter).
COGS = (
    "cogs.errors",
    "cogs.language",
    "cogs.cards.cog",
    "cogs.video",
    "cogs.animate",
    "cogs.member_commands",
    "cogs.consent",
    "cogs.admin.commands",
    "cogs.approval",
)
Mode = Literal["run", "sync"]

# The shutdown budget (the process must be gone within 10 s of SIGTERM; bot/__main__.py cuts the
# whole teardown at 9 s): runners stop at once (at most 1 s), a Run already sent gets up to
# RUN_GRACE_SECONDS for Wiro's answer and its saved task id (Wiro bills the task whether or not
# we listen: this comes first), then the cards (1 s), background work (0.5 s), Discord (1 s).
# A Run is a small JSON request (the first frame is uploaded before it), answered in well under
# a second; the grace is for a slow Wiro or the multipart fallback.
RUNNERS_STOP_SECONDS = 1.0
RUN_GRACE_SECONDS = 6.0
CARDS_FLUSH_SECONDS = 1.0
BACKGROUND_STOP_SECONDS = 0.5
DISCORD_CLOSE_SECONDS = 1.0


def quiet_voice_warnings() -> None:
    """This bot never joins voice: skip discord.py's start-up warnings about voice libraries."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def build_intents() -> discord.Intents:
    """Only what the bot uses: guilds (channels, roles). No privileged intents."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


def manages_guild_by_roles(
    guild: discord.Guild | None, user_id: int, role_ids: frozenset[int]
) -> bool:
    """Manage Server (or Administrator, or ownership) from the cached server and the member's
    roles, as Discord computes a member's server-wide permissions."""
    if guild is None:
        return False
    if guild.owner_id == user_id:
        return True
    value = guild.default_role.permissions.value
    for role_id in role_ids:
        role = guild.get_role(role_id)
        if role is not None:
            value |= role.permissions.value
    permissions = discord.Permissions(value)
    return permissions.administrator or permissions.manage_guild


class VideoBot(commands.AutoShardedBot):
    """The bot process. Services are built in `bot.__main__` and passed in.

    Sharded as Discord recommends (GET /gateway/bot) or as SHARD_COUNT/SHARD_IDS say (shards.py)."""

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Database,
        wiro: WiroClient,
        mode: Mode = "run",
        job_config: JobConfig | None = None,
        timing: Timing = PRODUCT,
    ) -> None:
        quiet_voice_warnings()
        pace = GlobalPace()  # Discord's 50 requests/s per token, kept rather than hit
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=build_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=None,  # no message cache: every card edit goes by id
            # A 429 asking for a longer wait raises RateLimited instead of stalling the caller:
            # clip posts retry on their own schedule, a card edit posts a fresh card (30046).
            max_ratelimit_timeout=30.0,
            chunk_guilds_at_startup=False,
            # on_ready waits this long after a shard's last GUILD_CREATE (default 2 s, meant for
            # member chunking, which is off): every start is a second shorter, and a server that
            # arrives later is added as it comes (commands work before on_ready anyway).
            guild_ready_timeout=1.0,
            help_command=None,
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids or ()) or None,  # type: ignore[arg-type]  # None: all
            http_trace=pace.trace_config(),
        )
        self.global_pace = pace
        self.identify_schedule = IdentifySchedule(interval_scale=timing.identify_scale)
        self.settings = settings
        self.storage = storage
        self.wiro = wiro
        self.mode = mode
        self.timing = timing  # how fast the clocks run: the product's, unless a test's
        self.background = BackgroundTasks("bot")
        self.jobs = JobService(
            storage=storage,
            wiro=wiro,
            config=job_config
            or JobConfig(
                default_limit=Limit(
                    credits=settings.default_quota_credits, period=settings.default_quota_period
                ),
                max_jobs_per_user=settings.max_jobs_per_user,
                max_jobs_per_guild=settings.max_jobs_per_guild,
                timeout=timedelta(minutes=settings.job_timeout_minutes),
                sandbox=settings.wiro_sandbox,
                delivery_retry=RetryPolicy(
                    window=timedelta(minutes=settings.delivery_retry_minutes)
                ),
                work_dir=settings.database_path.parent / "tmp",
                max_clip_seconds=settings.max_clip_seconds,
                clips_dir=settings.database_path.parent / "clips",
                clip_store_bytes=settings.clip_store_mb * MIB,
            ),
            # New jobs are refused while the data directory's disk is under MIN_FREE_DISK_MB.
            disk=DiskSpace(settings.database_path.parent, settings.min_free_disk_mb * MIB),
            timing=timing,
        )
        self.approvals = ApprovalService(
            storage=storage,
            jobs=self.jobs,
            expiry=timedelta(hours=settings.approval_expiry_hours),
            clock=self.jobs.clock,
            system_actor=self._own_id,
            manages_guild=self._manages_guild,
        )
        self.jobs.gate = self.approvals
        self.budget_alerts = BudgetAlerts(
            storage=storage,
            clock=self.jobs.clock,
            system_actor=self._own_id,
        )
        # Fired by the lifecycle after every job that cost something (the cards extension
        # wires where and in which words they are posted).
        self.jobs.outcomes.budget_alerts = self.budget_alerts
        self._resumed = False

    def _own_id(self) -> int:
        return self.user.id if self.user is not None else 0

    def _manages_guild(self, guild_id: int, user_id: int, role_ids: frozenset[int]) -> bool:
        return manages_guild_by_roles(self.get_guild(guild_id), user_id, role_ids)

    async def setup_hook(self) -> None:
        for name in COGS:
            await self.load_extension(name)
        if self.mode != "run":
            return
        await self._publish_commands()
        # The other models' schemas and prices (Hailuo 2.3 Fast), read in the background: a slow
        # Wiro must not hold up the start, and an image run asks again if it has to.
        self.background.spawn(self.jobs.prepare_models(), name="model-schemas")
        self.background.spawn(self._resume_when_ready(), name="resume-jobs")
        await self._read_session_limits()
        self.background.spawn(self._report_shards(), name="shard-report")

    async def _read_session_limits(self) -> None:
        """Learn Discord's identify concurrency; start no shard Discord has no session for."""
        while True:
            try:
                recommended, _, data = await self.http.get_bot_gateway()
            except discord.HTTPException as exc:
                log.warning("could not read Discord's session start limit (%s)", exc.status)
                return
            limits = discord.SessionStartLimits(**data)
            self.identify_schedule.max_concurrency = max(1, limits.max_concurrency)
            starting = len(self.shard_ids or ()) or self.shard_count or recommended
            wait = session_start_delay(limits.remaining, limits.total, limits.reset_after, starting)
            if not wait:
                return
            await asyncio.sleep(wait)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.identify_schedule.wait_turn(shard_id)

    async def connect(self, *, reconnect: bool = True) -> None:
        try:
            await super().connect(reconnect=reconnect)
        except discord.ConnectionClosed as exc:
            if exc.code != 4011:
                raise
            operator = self.settings.shard_count is not None
            raise ShardingRequired(self.shard_count, chosen_by_operator=operator) from None

    async def _report_shards(self) -> None:
        """Keep each shard's latency in bot_state for `python -m bot doctor`."""
        await self.wait_until_ready()
        while not self.is_closed():
            report = build_report(
                self.shard_count or 1,
                self.latencies,
                {i for i, shard in self.shards.items() if not shard.is_closed()},
                (g.id for g in self.guilds),
            )
            await self.storage.set_state(STATE_KEY, report.to_json())
            await asyncio.sleep(REPORT_SECONDS)

    async def _publish_commands(self) -> None:
        """Publish the slash commands if they changed since the last publication.

        To DEV_GUILD_ID when set (instant), else globally. A server the bot cannot publish to
        is a configuration error (PublishError with `config`); any other refusal is logged and
        tried again at the next start.
        """
        from bot.ops.publishing import PublishError, publish_if_changed

        target = self.settings.dev_guild_id
        where = f"to server {target}" if target else "globally"
        try:
            count = await publish_if_changed(self, self.tree, self.storage, target)
        except PublishError as exc:
            if exc.config:
                raise
            log.warning("slash commands not published: %s", exc)
            return
        if count is None:
            log.info("slash commands unchanged since they were last published %s", where)
        else:
            log.info("published %d slash commands %s (they changed)", count, where)

    async def _resume_when_ready(self) -> None:
        await self.wait_until_ready()
        if self._resumed:
            return
        self._resumed = True
        # Decisions a restart interrupted are applied before any job is resumed.
        fixed = await self.approvals.recover()
        if fixed:
            log.info("finished %d approval decisions interrupted by the restart", fixed)
        self.background.spawn(self.approvals.run_expiry(), name="approval-expiry")
        count = await self.jobs.resume_all()
        if count:
            log.info("resumed %d jobs in flight", count)

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "Ready: logged in as %s (%s) in %d servers on %s%s",
            self.user,
            self.user.id,
            len(self.guilds),
            describe_shards(self.shards, self.shard_count or 1),
            " [sandbox]" if self.settings.wiro_sandbox else "",
        )

    async def shutdown(self) -> None:
        """Stop new jobs, save state, flush the cards, close Discord (bounded in time)."""
        log.info("shutting down: no new jobs; jobs in flight resume at the next start")
        await self.jobs.shutdown(timeout=RUNNERS_STOP_SECONDS, submit_grace=RUN_GRACE_SECONDS)
        if self.jobs.presenter is not None:
            await self.jobs.presenter.close(timeout=CARDS_FLUSH_SECONDS)
        await self.background.cancel_all(timeout=BACKGROUND_STOP_SECONDS)
        try:
            await asyncio.wait_for(self.close(), timeout=DISCORD_CLOSE_SECONDS)
        except TimeoutError:
            log.warning("Discord connection did not close in time")
