"""`/videoadmin …`: the moderators' console (limits, channels, pause, blocks, budget, words,
styles, audit channel, refunds and cancels, usage, moderator role).

Registered with default member permission Manage Server (which only hides it) and checked again when
run by `moderator_only()` on every subcommand. Command bodies are thin: the service in
`bot.governance.moderation` validates, writes through storage (which records who did what and when)
and returns facts; the module functions of `cogs/admin/limits.py` (limits, channels) and
`cogs/admin/server.py` (the rest) put those facts in words in the moderator's own language
(`member_locale`: only they see the answer), raise `Refused` (answered in that language by the
error funnel), and are tested without Discord. This module only adapts: the command tree, options,
permissions and replies. The `style` group is `StyleCommands`, beside its words in
`cogs/admin/styles.py`; it sits here in the class body so that the tree keeps its order.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

import bot.governance.consent as consent
from bot.governance.moderation import (
    MAX_BUDGET_USD,
    MAX_CREDITS,
    MAX_DAYS,
    MAX_REASON_CHARS,
    MAX_WORD_CHARS,
    check_trusted_role,
    validate_limit_target,
)
from cogs.admin.approval import approval_summary, check_review_channel, turn_off, turn_on
from cogs.admin.language import LanguageCommands
from cogs.admin.limits import (
    allow_channel,
    apply_limit,
    bot_permissions,
    describe_channels,
    describe_limits,
    remove_channel,
    remove_limit,
    target_of,
    validate_channel,
)
from cogs.admin.server import (
    add_word,
    block,
    clear_mod_role,
    describe_budget,
    describe_words,
    moderator_cancel,
    moderator_refund,
    pause,
    remove_word,
    resume,
    service_words,
    set_audit_channel,
    set_budget,
    set_mod_role,
    unblock,
    usage_report,
)
from cogs.admin.styles import StyleCommands
from cogs.cards.cog import cards_of
from cogs.common import guild_and_actor, moderator_only, reply
from cogs.consent import rule_words
from cogs.language import member_locale
from storage.db import Database

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot


log = logging.getLogger(__name__)


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
    style = StyleCommands(parent=videoadmin)
    audit = app_commands.Group(
        name="audit", description="One line per finished job", parent=videoadmin
    )
    modrole = app_commands.Group(
        name="modrole", description="A role that counts as moderator", parent=videoadmin
    )
    approval = app_commands.Group(
        name="approval", description="Hold members' requests for a moderator", parent=videoadmin
    )
    language = LanguageCommands(parent=videoadmin)

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @property
    def storage(self) -> Database:
        return self.bot.storage

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
        guild_id, actor = guild_and_actor(interaction)
        target_id = validate_limit_target(scope, target_of(target), guild_id)
        text = await apply_limit(self.storage, guild_id, scope, target_id, credits, period, actor,
                                 member_locale(interaction))  # fmt: skip
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
        guild_id, actor = guild_and_actor(interaction)
        target_id = validate_limit_target(scope, target_of(target), guild_id, clearing=True)
        locale = member_locale(interaction)
        text = await remove_limit(self.storage, guild_id, scope, target_id, actor, locale)
        await reply(interaction, text)

    @limit.command(name="show")
    @app_commands.describe(member="Show exactly which limit applies to this member, and why")
    @moderator_only()
    async def limit_show(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member | None = None
    ) -> None:
        """Show the server's limits, the latest changes, and what applies to a member."""
        guild_id, _ = guild_and_actor(interaction)
        waiting = len(await self.bot.storage.waiting_approvals(guild_id))
        locale = member_locale(interaction)
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
                locale,
            ),
            locale=locale,
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
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        missing = validate_channel(
            channel.guild.id, guild_id, bot_permissions(channel), need_send=False, locale=locale
        )
        text = await allow_channel(self.storage, guild_id, channel.id, actor, missing, locale)
        await reply(interaction, text)

    @channels.command(name="remove")
    @app_commands.describe(channel="The channel to take off the allowed list")
    @moderator_only()
    async def channels_remove(
        self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel
    ) -> None:
        """Take a channel off the allowed list."""
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(
            interaction, await remove_channel(self.storage, guild_id, channel.id, actor, locale)
        )

    @channels.command(name="list")
    @moderator_only()
    async def channels_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """List the channels where /video may run."""
        guild_id, _ = guild_and_actor(interaction)
        settings = await self.storage.guild_settings(guild_id)
        guild = interaction.guild
        exists = (lambda c: guild.get_channel(c) is not None) if guild is not None else None
        text = describe_channels(settings.allowed_channel_ids, exists, member_locale(interaction))
        await reply(interaction, text)

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
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(interaction, await pause(self.storage, guild_id, reason, actor, locale))

    @videoadmin.command(name="resume")
    @moderator_only()
    async def resume_command(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Let new videos start again."""
        guild_id, actor = guild_and_actor(interaction)
        await reply(
            interaction, await resume(self.storage, guild_id, actor, member_locale(interaction))
        )

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
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(
            interaction, await block(self.storage, guild_id, user.id, reason, actor, locale)
        )

    @videoadmin.command(name="unblock")
    @app_commands.describe(user="The member to unblock")
    @moderator_only()
    async def unblock_command(
        self, interaction: discord.Interaction[VideoBot], user: discord.Member | discord.User
    ) -> None:
        """Let a blocked member generate videos again."""
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(interaction, await unblock(self.storage, guild_id, user.id, actor, locale))

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
        guild_id, actor = guild_and_actor(interaction)
        text = await set_budget(self.storage, guild_id, usd, actor, member_locale(interaction))
        # A budget lowered below this month's spending has just been passed: say so once.
        await self.bot.budget_alerts.check(guild_id)
        await reply(interaction, text)

    @budget.command(name="show")
    @moderator_only()
    async def budget_show(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the monthly cap and spending so far."""
        guild_id, _ = guild_and_actor(interaction)
        now, locale = self.bot.jobs.clock(), member_locale(interaction)
        await reply(interaction, await describe_budget(self.storage, guild_id, now, locale))

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
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(interaction, await add_word(self.storage, guild_id, word, actor, locale))

    @words.command(name="remove")
    @app_commands.describe(word="The blocked word or phrase to allow again")
    @moderator_only()
    async def words_remove(
        self,
        interaction: discord.Interaction[VideoBot],
        word: app_commands.Range[str, 1, MAX_WORD_CHARS],
    ) -> None:
        """Allow a blocked word again."""
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(interaction, await remove_word(self.storage, guild_id, word, actor, locale))

    @words.command(name="list")
    @moderator_only()
    async def words_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """List the blocked words."""
        guild_id, _ = guild_and_actor(interaction)
        settings = await self.storage.guild_settings(guild_id)
        text, full = describe_words(settings.blocked_words, member_locale(interaction))
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
        guild_id, actor = guild_and_actor(interaction)
        if channel is not None:
            validate_channel(channel.guild.id, guild_id, bot_permissions(channel), need_send=True)
        text = await set_audit_channel(
            self.storage, guild_id, channel.id if channel else None, actor,
            member_locale(interaction),
        )  # fmt: skip
        cards_of(self.bot).audit.rearm(guild_id)
        await reply(interaction, text)

    # --- refunds and cancels ----------------------------------------------------------------
    @videoadmin.command(name="refund")
    @app_commands.describe(job="The job id (see /jobs or the card's footer)")
    @moderator_only()
    async def refund_command(
        self, interaction: discord.Interaction[VideoBot], job: app_commands.Range[int, 1]
    ) -> None:
        """Give a job's credits back (cancelling it first if it is still running)."""
        guild_id, actor = guild_and_actor(interaction)
        # Cancelling a running job calls Wiro: acknowledge first (Discord's 3 seconds).
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await moderator_refund(self.storage, self.bot.jobs, job, guild_id, actor,
                                      member_locale(interaction))  # fmt: skip
        await reply(interaction, text)

    @videoadmin.command(name="cancel")
    @app_commands.describe(job="The job id (see /jobs or the card's footer)")
    @moderator_only()
    async def cancel_command(
        self, interaction: discord.Interaction[VideoBot], job: app_commands.Range[int, 1]
    ) -> None:
        """Cancel any job of this server (its credits are refunded)."""
        guild_id, actor = guild_and_actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        said = await moderator_cancel(self.storage, self.bot.jobs, job, guild_id, actor)
        await reply(interaction, service_words(member_locale(interaction), said))

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
        guild_id, _ = guild_and_actor(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text, data, name = await usage_report(
            self.storage, guild_id, days=days, user_id=user.id if user else None,
            now=self.bot.jobs.clock(), locale=member_locale(interaction),
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
        guild_id, actor = guild_and_actor(interaction)
        check_review_channel(channel.guild.id, guild_id, bot_permissions(channel))
        if trusted_role is not None:
            check_trusted_role(
                trusted_role.guild.id, guild_id, is_default=trusted_role.is_default()
            )
        text = await turn_on(
            self.bot.storage, guild_id, channel.id, trusted_role.id if trusted_role else None,
            actor, self.bot.approvals.expiry, member_locale(interaction),
        )  # fmt: skip
        await reply(interaction, text)

    @approval.command(name="off")
    @moderator_only()
    async def approval_off(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Let members' video requests start at once again."""
        guild_id, actor = guild_and_actor(interaction)
        waiting = len(await self.bot.storage.waiting_approvals(guild_id))
        locale = member_locale(interaction)
        await reply(interaction, await turn_off(self.bot.storage, guild_id, actor, waiting, locale))

    # --- whose images Animate may use --------------------------------------------------------
    @videoadmin.command(name="animate")
    @app_commands.describe(
        who="own (default): members animate only their own images; anyone; moderators: "
        "moderators may animate anyone's. Leave empty to see what applies."
    )
    @moderator_only()
    async def animate_rule(
        self,
        interaction: discord.Interaction[VideoBot],
        who: Literal["own", "anyone", "moderators"] | None = None,
    ) -> None:
        """Choose whose images members may animate (or, without an option, say what applies)."""
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        if who is None:
            rule = await self.storage.animate_rule(guild_id)
            await reply(interaction, rule_words(rule, locale=locale))
            return
        rule = await consent.set_rule(self.storage, guild_id, who, actor)
        await reply(interaction, rule_words(rule, changed=True, locale=locale))

    # --- moderator role ---------------------------------------------------------------------
    @modrole.command(name="set")
    @app_commands.describe(role="Members with this role can use /videoadmin")
    @moderator_only()
    async def modrole_set(
        self, interaction: discord.Interaction[VideoBot], role: discord.Role
    ) -> None:
        """Make a role count as video moderator."""
        guild_id, actor = guild_and_actor(interaction)
        target = target_of(role)
        assert target is not None
        locale = member_locale(interaction)
        await reply(interaction, await set_mod_role(self.storage, guild_id, target, actor, locale))

    @modrole.command(name="clear")
    @moderator_only()
    async def modrole_clear(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Forget the moderator role (Manage Server still counts)."""
        guild_id, actor = guild_and_actor(interaction)
        locale = member_locale(interaction)
        await reply(interaction, await clear_mod_role(self.storage, guild_id, actor, locale))


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(AdminCog(bot))
