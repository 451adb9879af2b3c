"""`/videoadmin …`: the moderators' console (limits, channels, pause, blocks, budget, words,
audit channel, refunds and cancels, usage, moderator role).

Registered with default member permission Manage Server (which only hides it) and checked again
when run by `moderator_only()` on every subcommand. Command bodies are thin: the service in
`bot.moderation` validates, writes through storage (which records who did what and when) and
returns facts; the module functions here (`apply_limit`, `describe_limits`, …) put those facts
in words, raise `Refused` with the moderator-facing answer, and are tested without Discord.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import moderation
from bot.jobs import JobService, Refused
from bot.moderation import (
    MAX_BUDGET_USD,
    MAX_CREDITS,
    MAX_DAYS,
    MAX_REASON_CHARS,
    MAX_WORD_CHARS,
    MAX_WORDS,
    PERIODS,
    RECENT_CHANGES,
    SCOPES,
    Target,
    validate_budget,
    validate_credits,
    validate_days,
    validate_limit_target,
    validate_mod_role,
    validate_period,
    validate_reason,
    validate_scope,
    validate_word,
)
from bot.permissions import CHANNEL_PERMISSIONS, labels
from bot.usage import usage_csv, usd
from cogs.approval import (
    approval_summary,
    check_review_channel,
    check_trusted_role,
    turn_off,
    turn_on,
)
from cogs.cards import prompt_as_text
from cogs.common import moderator_only, reply
from cogs.governance import explain_limit, limit_words
from cogs.usage import usage_summary
from cogs.words import fit_lines, plural, user, when
from storage.api import Storage
from storage.db import Database
from storage.models import Limit, Scope, ScopedLimit

if TYPE_CHECKING:
    from bot.app import VideoBot

# Re-exported: the service's limits and validators, as the commands and tests use them here.
__all__ = [
    "MAX_BUDGET_USD",
    "MAX_CREDITS",
    "MAX_DAYS",
    "MAX_REASON_CHARS",
    "MAX_WORDS",
    "MAX_WORD_CHARS",
    "PERIODS",
    "RECENT_CHANGES",
    "SCOPES",
    "AdminCog",
    "Target",
    "validate_budget",
    "validate_credits",
    "validate_days",
    "validate_limit_target",
    "validate_mod_role",
    "validate_period",
    "validate_reason",
    "validate_scope",
    "validate_word",
]

log = logging.getLogger(__name__)

# What the bot needs in a channel: /video posts cards with thumbnails and clips there.
# (View Channel is checked first, on its own.)
VIDEO_CHANNEL_PERMISSIONS = {
    attr: label for attr, label in labels(CHANNEL_PERMISSIONS).items() if attr != "view_channel"
}


# ----------------------------------------------------------------------------------------------
# From Discord objects to the service's inputs
# ----------------------------------------------------------------------------------------------
def target_of(obj: discord.Member | discord.User | discord.Role | None) -> Target | None:
    """Describe the resolved option value (None when the option was left out)."""
    if obj is None:
        return None
    if isinstance(obj, discord.Role):
        return Target("role", obj.id, obj.guild.id, obj.is_default())
    if isinstance(obj, discord.Member):
        return Target("member", obj.id, obj.guild.id)
    return Target("user", obj.id)


def validate_channel(
    channel_guild_id: int,
    guild_id: int,
    bot_permissions: discord.Permissions | None,
    *,
    need_send: bool,
) -> list[str]:
    """Check a channel of this server the bot can see; return permissions it still lacks."""
    if channel_guild_id != guild_id:
        raise Refused("That channel is not in this server.")
    if bot_permissions is None:
        return []
    if not bot_permissions.view_channel:
        raise Refused("I can't see that channel. Give me the View Channel permission there first.")
    missing = [
        label
        for attr, label in VIDEO_CHANNEL_PERMISSIONS.items()
        if not getattr(bot_permissions, attr)
    ]
    if need_send and not bot_permissions.send_messages:
        raise Refused("I can't send messages in that channel. Give me Send Messages there first.")
    return missing


# ----------------------------------------------------------------------------------------------
# The service's answers in words (bot.moderation does the work)
# ----------------------------------------------------------------------------------------------
def scope_label(scope: Scope, target_id: int) -> str:
    """'the server default', 'role <@&id>', 'member <@id>'."""
    if scope == "server":
        return "the server default"
    if scope == "role":
        return f"role <@&{target_id}>"
    return f"member <@{target_id}>"


async def apply_limit(
    storage: Storage,
    guild_id: int,
    scope: str,
    target_id: int,
    credits: int,
    period: str,
    actor_id: int,
) -> str:
    """Set a limit and say what changed."""
    checked, limit = await moderation.set_limit(
        storage, guild_id, scope, target_id, credits, period, actor_id
    )
    note = " That means no access to `/video`." if credits == 0 else ""
    return f"Limit for {scope_label(checked, target_id)}: **{limit_words(limit)}**.{note}"


async def remove_limit(
    storage: Storage, guild_id: int, scope: str, target_id: int, actor_id: int
) -> str:
    """Clear a limit, or refuse when there was none."""
    checked, removed = await moderation.clear_limit(storage, guild_id, scope, target_id, actor_id)
    if not removed:
        raise Refused(f"There is no limit for {scope_label(checked, target_id)}.")
    after = {
        "server": "the bot's default applies to members without a role or member limit",
        "role": "members with that role fall back to their other limits",
        "user": "the member's role and server limits apply again",
    }[checked]
    return f"Removed the limit for {scope_label(checked, target_id)}: {after}."


def _rule_line(rule: ScopedLimit) -> str:
    who = {
        "server": "Server default",
        "role": f"<@&{rule.target_id}>",
        "user": f"<@{rule.target_id}>",
    }
    by = f" · set by <@{rule.set_by}>" if rule.set_by else ""
    at = f" {when(rule.set_at)}" if rule.set_at else ""
    return f"{who[rule.scope]}: {limit_words(rule)}{by}{at}"


async def describe_limits(
    storage: Storage,
    guild_id: int,
    *,
    default: Limit,
    member_id: int | None = None,
    member_role_ids: Iterable[int] = (),
    approval_line: str | None = None,
) -> str:
    """List the server's limit rules and latest changes; with a member, what applies and why.

    `approval_line` (from `cogs.approval.approval_summary`) says whether requests wait."""
    overview = await moderation.limits_overview(storage, guild_id)
    header = ["**Video limits in this server**"]
    if member_id is not None:
        explanation = explain_limit(
            overview.rules,
            guild_id=guild_id,
            user_id=member_id,
            role_ids=member_role_ids,
            default=default,
        )
        header.append(
            f"For <@{member_id}>: **{limit_words(explanation.limit)}**, from {explanation.reason}."
        )
    header.append(f"Bot default (operator's environment): {limit_words(default)}")
    if overview.server_rule is None:
        header.append("Server default: not set (the bot default applies)")
    if approval_line:
        header.append(approval_line)
    items = [_rule_line(r) for r in overview.rules]
    if not overview.has_role_or_member_rules:
        items.append("No role or member limits.")
    changes = overview.changes
    footer = ["**Latest changes**"] if changes else []
    footer += [
        f"{when(c.created_at)} <@{c.actor_id}> {c.action}: {c.detail[:160]}" for c in changes
    ]
    return fit_lines(header, items, footer=footer)


async def allow_channel(storage: Storage, guild_id: int, channel_id: int, actor_id: int,
                        missing: Sequence[str] = ()) -> str:  # fmt: skip
    """Add a channel where /video may run."""
    added, allowed = await moderation.allow_channel(storage, guild_id, channel_id, actor_id)
    text = (
        f"`/video` is now allowed in <#{channel_id}>."
        if added
        else f"<#{channel_id}> was already allowed."
    )
    text += f" Allowed channels: {allowed}; `/video` works only there."
    if missing:
        text += f"\n⚠️ I still lack {', '.join(missing)} there: jobs would fail to post."
    return text


async def remove_channel(storage: Storage, guild_id: int, channel_id: int, actor_id: int) -> str:
    """Remove a channel from the allowed list, or refuse when it was not on it."""
    left = await moderation.remove_channel(storage, guild_id, channel_id, actor_id)
    if left is None:
        raise Refused(f"<#{channel_id}> was not on the allowed list.")
    if not left:
        return f"Removed <#{channel_id}>. The list is empty: `/video` works in every channel."
    return f"Removed <#{channel_id}>. `/video` still works in the other allowed channels."


def describe_channels(
    channel_ids: Iterable[int], exists: Callable[[int], bool] | None = None
) -> str:
    """List the allowed channels (empty = everywhere), marking ones that no longer exist."""
    ids = sorted(channel_ids)
    if not ids:
        return "`/video` works in every channel (no allowed list is set)."
    items = [
        f"<#{c}>" + ("" if exists is None or exists(c) else f" (deleted channel {c})") for c in ids
    ]
    return fit_lines([f"**`/video` works only in these {len(ids)} channels**"], items)


async def pause(storage: Storage, guild_id: int, reason: str | None, actor_id: int) -> str:
    """Stop new jobs in the server (jobs in flight finish)."""
    reason, was = await moderation.pause(storage, guild_id, reason, actor_id)
    why = f" Members see: “{reason}”." if reason else ""
    again = " (it was already paused; the reason is updated)" if was else ""
    return f"⏸️ Video generation is paused{again}. Jobs in progress will finish.{why}"


async def resume(storage: Storage, guild_id: int, actor_id: int) -> str:
    """Let new jobs start again."""
    if not await moderation.resume(storage, guild_id, actor_id):
        return "Video generation is not paused."
    return "▶️ Video generation is back on."


async def block(
    storage: Storage, guild_id: int, user_id: int, reason: str | None, actor_id: int
) -> str:
    """Block a member from /video."""
    reason, was = await moderation.block(storage, guild_id, user_id, reason, actor_id)
    why = f" Reason shown to them: “{reason}”." if reason else ""
    again = " (already blocked; the reason is updated)" if was else ""
    return f"⛔ <@{user_id}> can no longer generate videos here{again}.{why}"


async def unblock(storage: Storage, guild_id: int, user_id: int, actor_id: int) -> str:
    """Lift a member's block, or refuse when there was none."""
    if not await moderation.unblock(storage, guild_id, user_id, actor_id):
        raise Refused(f"<@{user_id}> is not blocked.")
    return f"<@{user_id}> can generate videos again."


async def set_budget(storage: Storage, guild_id: int, amount: float, actor_id: int) -> str:
    """Set the monthly USD cap."""
    amount = await moderation.set_budget(storage, guild_id, amount, actor_id)
    if amount == 0:
        return "Monthly budget set to $0: no new videos can start until it is raised."
    return (
        f"Monthly budget set to **{usd(amount)}** (Wiro's cost, counted per calendar month, UTC)."
    )


async def describe_budget(storage: Storage, guild_id: int, now: datetime) -> str:
    """The monthly cap, spending so far this month, jobs in flight and when it resets."""
    status = await moderation.budget_status(storage, guild_id, now)
    lines = ["**Video budget**"]
    if status.cap is None or status.left is None:
        lines.append("No monthly budget is set: spending is not capped.")
    else:
        lines.append(f"Cap: **{usd(status.cap)}** per month · left: **{usd(status.left)}**")
    lines.append(
        f"Spent this month: {usd(status.spent)} · expected for jobs in progress: "
        f"{usd(status.in_flight)}"
    )
    lines.append(f"The month resets {when(status.resets_at)}.")
    return "\n".join(lines)


async def add_word(storage: Storage, guild_id: int, word: str, actor_id: int) -> str:
    """Block a word or phrase in prompts (at most 200 per server)."""
    folded, added = await moderation.add_word(storage, guild_id, word, actor_id)
    if not added:
        raise Refused(f"“{prompt_as_text(folded)}” is already blocked.")
    return (
        f"Blocked “{prompt_as_text(folded)}”: prompts containing it as a whole word, in any "
        "case, are refused."
    )


async def remove_word(storage: Storage, guild_id: int, word: str, actor_id: int) -> str:
    """Unblock a word or phrase, or refuse when it was not blocked."""
    folded, removed = await moderation.remove_word(storage, guild_id, word, actor_id)
    if not removed:
        raise Refused(f"“{prompt_as_text(folded)}” is not blocked.")
    return f"Unblocked “{prompt_as_text(folded)}”."


def describe_words(words: Sequence[str]) -> tuple[str, bytes | None]:
    """List blocked words; when they do not all fit, also return the full list as a file."""
    if not words:
        return "No words are blocked.", None
    items = [f"• {prompt_as_text(w)}" for w in words]
    header = [f"**{len(words)} blocked words** (whole words, any case)"]
    text = fit_lines(header, items)
    if text != "\n".join([*header, *items]):  # some were left out: send them all as a file
        text = fit_lines(header, items, footer=["The full list is attached."])
        return text, "\n".join(words).encode("utf-8")
    return text, None


async def set_audit_channel(
    storage: Storage, guild_id: int, channel_id: int | None, actor_id: int
) -> str:
    """Set (or turn off, with None) the channel that gets one line per finished job."""
    await moderation.set_audit_channel(storage, guild_id, channel_id, actor_id)
    if channel_id is None:
        return "The audit channel is off."
    return f"Every finished job will get one line in <#{channel_id}>."


moderator_cancel = moderation.cancel_job


async def moderator_refund(
    storage: Storage, jobs: JobService, job_id: int, guild_id: int, actor_id: int
) -> str:
    """Refund any job of this server (cancelling it first if it runs) and say what happened."""
    outcome = await moderation.refund_job(storage, jobs, job_id, guild_id, actor_id)
    if outcome.cancelling is not None:
        return (
            f"{outcome.cancelling} A cancelled job's credits come back by themselves; if it "
            "finishes before Wiro stops it, refund it again once it is done."
        )
    job = outcome.job
    return f"Refunded {plural(job.credits, 'credit')} to {user(job.user_id)} for job {job.id}."


async def usage_report(
    storage: Storage, guild_id: int, *, days: int, user_id: int | None, now: datetime
) -> tuple[str, bytes, str]:
    """Return the usage summary, the CSV bytes and the CSV file name."""
    rows, name = await moderation.usage(storage, guild_id, days=days, user_id=user_id, now=now)
    by_model = await moderation.usage_by_model(
        storage, guild_id, days=days, user_id=user_id, now=now
    )
    summary = usage_summary(rows, days=days, user_id=user_id, by_model=by_model)
    return summary, usage_csv(rows), name


async def set_mod_role(storage: Storage, guild_id: int, role: Target, actor_id: int) -> str:
    """Make a role count as moderator for /videoadmin and cancelling others' jobs."""
    role_id = await moderation.set_mod_role(storage, guild_id, role, actor_id)
    return f"Members with <@&{role_id}> are now video moderators (as well as Manage Server)."


async def clear_mod_role(storage: Storage, guild_id: int, actor_id: int) -> str:
    """Forget the moderator role (Manage Server still counts)."""
    await moderation.clear_mod_role(storage, guild_id, actor_id)
    return "The moderator role is cleared: only members with Manage Server are moderators now."


def _bot_permissions(channel: discord.abc.GuildChannel) -> discord.Permissions | None:
    me = channel.guild.me
    return channel.permissions_for(me) if me is not None else None


# ----------------------------------------------------------------------------------------------
# The command tree
# ----------------------------------------------------------------------------------------------
ScopeChoice = Literal["server", "role", "user"]
PeriodChoice = Literal["day", "week", "month"]
Mentionable = discord.Member | discord.User | discord.Role


class AdminCog(commands.Cog):
    """Moderator console for the video bot."""

    videoadmin = app_commands.Group(
        name="videoadmin",
        description="Moderate the video bot: limits, channels, blocks, budget, words, usage",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    limit = app_commands.Group(name="limit", description="Credit limits", parent=videoadmin)
    channels = app_commands.Group(
        name="channels", description="Where /video may run", parent=videoadmin
    )
    budget = app_commands.Group(
        name="budget", description="Monthly USD spending cap", parent=videoadmin
    )
    words = app_commands.Group(
        name="words", description="Blocked words in prompts", parent=videoadmin
    )
    audit = app_commands.Group(
        name="audit", description="One line per finished job", parent=videoadmin
    )
    modrole = app_commands.Group(
        name="modrole", description="A role that counts as moderator", parent=videoadmin
    )
    approval = app_commands.Group(
        name="approval", description="Hold members' requests for a moderator", parent=videoadmin
    )

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @property
    def storage(self) -> Database:
        return self.bot.storage

    @staticmethod
    def _ids(interaction: discord.Interaction[VideoBot]) -> tuple[int, int]:
        assert interaction.guild_id is not None
        return interaction.guild_id, interaction.user.id

    # --- limits -----------------------------------------------------------------------------
    @limit.command(name="set")
    @app_commands.describe(
        scope="server (everyone's default), role, or user (one member)",
        credits="Credits per period, 0–100,000 (0 = no access)",
        period="Calendar window in UTC",
        target="The role or member (leave empty for scope server)",
    )
    @moderator_only()
    async def limit_set(
        self,
        interaction: discord.Interaction[VideoBot],
        scope: ScopeChoice,
        credits: app_commands.Range[int, 0, MAX_CREDITS],
        period: PeriodChoice,
        target: Mentionable | None = None,
    ) -> None:
        """Set a credit limit for the server, a role or a member."""
        guild_id, actor = self._ids(interaction)
        target_id = validate_limit_target(scope, target_of(target), guild_id)
        text = await apply_limit(self.storage, guild_id, scope, target_id, credits, period, actor)
        await reply(interaction, text)

    @limit.command(name="clear")
    @app_commands.describe(
        scope="server, role or user", target="The role or member (empty for scope server)"
    )
    @moderator_only()
    async def limit_clear(
        self,
        interaction: discord.Interaction[VideoBot],
        scope: ScopeChoice,
        target: Mentionable | None = None,
    ) -> None:
        """Remove a credit limit."""
        guild_id, actor = self._ids(interaction)
        target_id = validate_limit_target(scope, target_of(target), guild_id, clearing=True)
        await reply(
            interaction, await remove_limit(self.storage, guild_id, scope, target_id, actor)
        )

    @limit.command(name="show")
    @app_commands.describe(member="Show exactly which limit applies to this member, and why")
    @moderator_only()
    async def limit_show(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member | None = None
    ) -> None:
        """Show the server's limits, the latest changes, and what applies to a member."""
        guild_id, _ = self._ids(interaction)
        waiting = len(await self.bot.storage.waiting_approvals(guild_id))
        text = await describe_limits(
            self.storage,
            guild_id,
            default=self.bot.jobs.config.default_limit,
            member_id=member.id if member else None,
            member_role_ids=[r.id for r in member.roles] if member else (),
            approval_line=approval_summary(
                await self.bot.storage.approval_settings(guild_id),
                waiting,
                self.bot.approvals.expiry,
            ),
        )
        await reply(interaction, text)

    # --- channels ---------------------------------------------------------------------------
    @channels.command(name="allow")
    @app_commands.describe(channel="A text channel where /video may run")
    @moderator_only()
    async def channels_allow(
        self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel
    ) -> None:
        """Allow /video in a channel (once any is allowed, only those channels work)."""
        guild_id, actor = self._ids(interaction)
        missing = validate_channel(
            channel.guild.id, guild_id, _bot_permissions(channel), need_send=False
        )
        await reply(
            interaction, await allow_channel(self.storage, guild_id, channel.id, actor, missing)
        )

    @channels.command(name="remove")
    @app_commands.describe(channel="The channel to take off the allowed list")
    @moderator_only()
    async def channels_remove(
        self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel
    ) -> None:
        """Take a channel off the allowed list."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await remove_channel(self.storage, guild_id, channel.id, actor))

    @channels.command(name="list")
    @moderator_only()
    async def channels_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """List the channels where /video may run."""
        guild_id, _ = self._ids(interaction)
        settings = await self.storage.guild_settings(guild_id)
        guild = interaction.guild
        exists = (lambda c: guild.get_channel(c) is not None) if guild is not None else None
        await reply(interaction, describe_channels(settings.allowed_channel_ids, exists))

    # --- pause ------------------------------------------------------------------------------
    @videoadmin.command(name="pause")
    @app_commands.describe(reason="Shown to members who try /video (up to 200 characters)")
    @moderator_only()
    async def pause_command(
        self,
        interaction: discord.Interaction[VideoBot],
        reason: app_commands.Range[str, 1, MAX_REASON_CHARS] | None = None,
    ) -> None:
        """Stop new videos in this server (jobs in progress finish)."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await pause(self.storage, guild_id, reason, actor))

    @videoadmin.command(name="resume")
    @moderator_only()
    async def resume_command(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Let new videos start again."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await resume(self.storage, guild_id, actor))

    # --- blocks -----------------------------------------------------------------------------
    @videoadmin.command(name="block")
    @app_commands.describe(
        user="The member to block", reason="Shown to them (up to 200 characters)"
    )
    @moderator_only()
    async def block_command(
        self,
        interaction: discord.Interaction[VideoBot],
        user: discord.Member | discord.User,
        reason: app_commands.Range[str, 1, MAX_REASON_CHARS] | None = None,
    ) -> None:
        """Block a member from generating videos."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await block(self.storage, guild_id, user.id, reason, actor))

    @videoadmin.command(name="unblock")
    @app_commands.describe(user="The member to unblock")
    @moderator_only()
    async def unblock_command(
        self, interaction: discord.Interaction[VideoBot], user: discord.Member | discord.User
    ) -> None:
        """Let a blocked member generate videos again."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await unblock(self.storage, guild_id, user.id, actor))

    # --- budget -----------------------------------------------------------------------------
    @budget.command(name="set")
    @app_commands.describe(usd="Monthly cap in USD of Wiro's cost (0 = no spending)")
    @moderator_only()
    async def budget_set(
        self,
        interaction: discord.Interaction[VideoBot],
        usd: app_commands.Range[float, 0.0, MAX_BUDGET_USD],
    ) -> None:
        """Cap this server's video spending per calendar month."""
        guild_id, actor = self._ids(interaction)
        text = await set_budget(self.storage, guild_id, usd, actor)
        # A budget lowered below this month's spending has just been passed: say so once.
        await self.bot.budget_alerts.check(guild_id)
        await reply(interaction, text)

    @budget.command(name="show")
    @moderator_only()
    async def budget_show(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the monthly cap and spending so far."""
        guild_id, _ = self._ids(interaction)
        await reply(
            interaction, await describe_budget(self.storage, guild_id, self.bot.jobs.clock())
        )

    # --- words ------------------------------------------------------------------------------
    @words.command(name="add")
    @app_commands.describe(word="A word or phrase (1–50 characters; whole words, any case)")
    @moderator_only()
    async def words_add(
        self,
        interaction: discord.Interaction[VideoBot],
        word: app_commands.Range[str, 1, MAX_WORD_CHARS],
    ) -> None:
        """Refuse prompts containing a word or phrase."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await add_word(self.storage, guild_id, word, actor))

    @words.command(name="remove")
    @app_commands.describe(word="The blocked word or phrase to allow again")
    @moderator_only()
    async def words_remove(
        self,
        interaction: discord.Interaction[VideoBot],
        word: app_commands.Range[str, 1, MAX_WORD_CHARS],
    ) -> None:
        """Allow a blocked word again."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await remove_word(self.storage, guild_id, word, actor))

    @words.command(name="list")
    @moderator_only()
    async def words_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """List the blocked words."""
        guild_id, _ = self._ids(interaction)
        settings = await self.storage.guild_settings(guild_id)
        text, full = describe_words(settings.blocked_words)
        if full is None:
            await reply(interaction, text)
        else:
            await reply(interaction, text, file=discord.File(io.BytesIO(full), "blocked-words.txt"))

    # --- audit ------------------------------------------------------------------------------
    @audit.command(name="channel")
    @app_commands.describe(channel="Where to post one line per finished job (empty = turn off)")
    @moderator_only()
    async def audit_channel(
        self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel | None = None
    ) -> None:
        """Set or turn off the channel that logs every finished job."""
        guild_id, actor = self._ids(interaction)
        if channel is not None:
            validate_channel(channel.guild.id, guild_id, _bot_permissions(channel), need_send=True)
        text = await set_audit_channel(
            self.storage, guild_id, channel.id if channel else None, actor
        )
        self.bot.audit.rearm(guild_id)
        await reply(interaction, text)

    # --- refunds and cancels ----------------------------------------------------------------
    @videoadmin.command(name="refund")
    @app_commands.describe(job="The job id (see /jobs or the card's footer)")
    @moderator_only()
    async def refund_command(
        self, interaction: discord.Interaction[VideoBot], job: app_commands.Range[int, 1]
    ) -> None:
        """Give a job's credits back (cancelling it first if it is still running)."""
        guild_id, actor = self._ids(interaction)
        # Cancelling a running job calls Wiro: acknowledge first (Discord's 3 seconds).
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(
            interaction, await moderator_refund(self.storage, self.bot.jobs, job, guild_id, actor)
        )

    @videoadmin.command(name="cancel")
    @app_commands.describe(job="The job id (see /jobs or the card's footer)")
    @moderator_only()
    async def cancel_command(
        self, interaction: discord.Interaction[VideoBot], job: app_commands.Range[int, 1]
    ) -> None:
        """Cancel any job of this server (its credits are refunded)."""
        guild_id, actor = self._ids(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(
            interaction, await moderator_cancel(self.storage, self.bot.jobs, job, guild_id, actor)
        )

    # --- usage ------------------------------------------------------------------------------
    @videoadmin.command(name="usage")
    @app_commands.describe(days="How many days back (1–366, default 30)", user="Only this member")
    @moderator_only()
    async def usage_command(
        self,
        interaction: discord.Interaction[VideoBot],
        days: app_commands.Range[int, 1, MAX_DAYS] = 30,
        user: discord.Member | discord.User | None = None,
    ) -> None:
        """Totals per member (jobs, credits, USD) with a CSV file."""
        guild_id, _ = self._ids(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text, data, name = await usage_report(
            self.storage, guild_id, days=days, user_id=user.id if user else None,
            now=self.bot.jobs.clock(),
        )  # fmt: skip
        await reply(interaction, text, file=discord.File(io.BytesIO(data), name))

    # --- approval -----------------------------------------------------------------------------
    @approval.command(name="on")
    @app_commands.describe(
        channel="Where requests wait for a moderator's Approve or Deny",
        trusted_role="Members with this role skip the queue (moderators always do)",
    )
    @moderator_only()
    async def approval_on(
        self,
        interaction: discord.Interaction[VideoBot],
        channel: discord.TextChannel,
        trusted_role: discord.Role | None = None,
    ) -> None:
        """Hold members' video requests until a moderator approves them."""
        guild_id, actor = self._ids(interaction)
        check_review_channel(channel.guild.id, guild_id, _bot_permissions(channel))
        if trusted_role is not None:
            check_trusted_role(
                trusted_role.guild.id, guild_id, is_default=trusted_role.is_default()
            )
        text = await turn_on(
            self.bot.storage, guild_id, channel.id, trusted_role.id if trusted_role else None,
            actor, self.bot.approvals.expiry,
        )  # fmt: skip
        await reply(interaction, text)

    @approval.command(name="off")
    @moderator_only()
    async def approval_off(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Let members' video requests start at once again."""
        guild_id, actor = self._ids(interaction)
        waiting = len(await self.bot.storage.waiting_approvals(guild_id))
        await reply(interaction, await turn_off(self.bot.storage, guild_id, actor, waiting))

    # --- moderator role ---------------------------------------------------------------------
    @modrole.command(name="set")
    @app_commands.describe(role="Members with this role can use /videoadmin")
    @moderator_only()
    async def modrole_set(
        self, interaction: discord.Interaction[VideoBot], role: discord.Role
    ) -> None:
        """Make a role count as video moderator."""
        guild_id, actor = self._ids(interaction)
        target = target_of(role)
        assert target is not None
        await reply(interaction, await set_mod_role(self.storage, guild_id, target, actor))

    @modrole.command(name="clear")
    @moderator_only()
    async def modrole_clear(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Forget the moderator role (Manage Server still counts)."""
        guild_id, actor = self._ids(interaction)
        await reply(interaction, await clear_mod_role(self.storage, guild_id, actor))


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(AdminCog(bot))
