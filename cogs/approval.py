"""The approval queue on Discord: the review message, its Approve and Deny buttons, the Deny
form, the moderators' `/videoadmin approval` words, and audit-channel lines.

`render_review` is pure (job + approval → embed + view). Buttons are DynamicItems (the job id is
in the custom_id, the state in SQLite), so they keep working after a restart. The Deny form is
answered by a listener rather than a stored Modal object, for the same reason: a form opened
before a restart is still honoured after it. `DiscordReviews` implements
`bot.governance.approval.ReviewPresenter`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import permissions
from bot.governance.approval import MAX_DENY_REASON_CHARS, AlreadyDecided, expiry_words
from bot.governance.moderation import turn_approval_off, turn_approval_on
from bot.governance.usage import usd
from bot.jobs.contracts import Refused
from bot.permissions import labels
from cogs.cards.render import THUMBNAIL_NAME
from cogs.cards.text import card_link, image_author, prompt_as_text, settings_line
from cogs.common import NO_MENTIONS, form_values, guarded, is_moderator, reply
from cogs.job_buttons import JobButton
from cogs.words import user, when
from storage.approvals import Approval, ApprovalSettings, ApprovalStatus
from storage.db import Database
from storage.models import Job

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

DEFAULT_MODEL = "hailuo-2.3"
DENY_FORM = re.compile(r"approval:deny-form:(?P<job_id>[0-9]+)")
REASON_INPUT = "reason"
# What the bot needs in the review channel: the review embed, its thumbnail, its buttons.
REVIEW_CHANNEL_PERMISSIONS = labels(permissions.REVIEW_CHANNEL_PERMISSIONS)

_TITLES = {
    ApprovalStatus.WAITING: "🔎 Video request waiting for approval",
    ApprovalStatus.APPROVED: "✅ Approved",
    ApprovalStatus.DENIED: "⛔ Denied",
    ApprovalStatus.EXPIRED: "⌛ Expired: nobody reviewed it in time",
    ApprovalStatus.CANCELLED: "🚫 Cancelled while waiting",
}
_COLOURS = {
    ApprovalStatus.WAITING: discord.Colour.gold(),
    ApprovalStatus.APPROVED: discord.Colour.green(),
    ApprovalStatus.DENIED: discord.Colour.red(),
    ApprovalStatus.EXPIRED: discord.Colour.orange(),
    ApprovalStatus.CANCELLED: discord.Colour.light_grey(),
}


def credits_words(credits: int) -> str:
    return f"{credits} credit" if credits == 1 else f"{credits} credits"


def cost_words(job: Job) -> str:
    """'1 credit reserved · about $0.28 at Wiro' (USD only when an estimate exists)."""
    text = f"{credits_words(job.credits)} reserved"
    if job.expected_cost_usd is not None:
        text += f" · about {usd(job.expected_cost_usd)} at Wiro"
    return text


def decision_words(approval: Approval, expiry: timedelta) -> str:
    """Who decided what, when: the review message's last field."""
    at = f" {when(approval.decided_at)}" if approval.decided_at else ""
    by = f"<@{approval.decided_by}>" if approval.decided_by else "the bot"
    if approval.status is ApprovalStatus.APPROVED:
        return f"Approved by {by}{at}; the video is being made."
    if approval.status is ApprovalStatus.DENIED:
        reason = prompt_as_text(approval.reason or "no reason given", limit=400)
        return f"Denied by {by}{at}. Reason shown to the member: {reason}"
    if approval.status is ApprovalStatus.EXPIRED:
        return f"Nobody reviewed it within {expiry_words(expiry)}{at}; credits refunded."
    if approval.decided_by is None:
        return f"The request ended before anyone reviewed it{at}."
    return f"Cancelled by {by}{at}; credits refunded."


def approved_line(job: Job, approval: Approval) -> str:
    """The audit line of an approval (denials, expiries and cancels end the job: its own line)."""
    by = user(approval.decided_by) if approval.decided_by is not None else "the bot"
    return (
        f"👍 Job `{job.id}` by {user(job.user_id)} approved by {by} "
        f"after waiting {_waited(approval)}; it is starting."
    )


def _waited(approval: Approval) -> str:
    end = approval.decided_at or approval.requested_at
    seconds = max(0, round((end - approval.requested_at).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def render_review(
    job: Job, approval: Approval, *, expiry: timedelta, has_thumbnail: bool = False
) -> tuple[discord.Embed, discord.ui.View | None]:
    """Build the review message for the request's current state (buttons only while waiting)."""
    status = approval.status
    embed = discord.Embed(title=_TITLES[status], colour=_COLOURS[status])
    embed.description = f"**Prompt**\n{prompt_as_text(job.prompt, limit=3000)}"
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Model", value=str(getattr(job, "model", None) or DEFAULT_MODEL))
    camera = getattr(job, "camera", None)
    moves = ", ".join(m.strip() for m in str(camera).split(",") if m.strip()) if camera else ""
    embed.add_field(name="Camera", value=prompt_as_text(moves) if moves else "none")
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    author = image_author(job)
    if author is not None:  # Animate of another member's image: whose picture it is
        embed.add_field(name="Image by", value=user(author), inline=True)
    embed.add_field(name="Expected cost", value=cost_words(job), inline=True)
    link = card_link(job)
    if link.startswith("https://"):
        embed.add_field(name="Card", value=f"[Job {job.id}]({link})", inline=True)
    if status is ApprovalStatus.WAITING:
        embed.add_field(name="Expires", value=when(approval.expires_at), inline=True)
    else:
        embed.add_field(name="Decision", value=decision_words(approval, expiry), inline=False)
    if has_thumbnail:
        embed.set_thumbnail(url=f"attachment://{THUMBNAIL_NAME}")
    embed.set_footer(text=f"Job {job.id} · requested")
    embed.timestamp = approval.requested_at
    if status is not ApprovalStatus.WAITING:
        return embed, None
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(job.id))
    view.add_item(DenyButton(job.id))
    return embed, view


# ----------------------------------------------------------------------------------------------
# Buttons and the Deny form
# ----------------------------------------------------------------------------------------------
async def _moderator_here(interaction: discord.Interaction[VideoBot]) -> None:
    if interaction.guild_id is None or not await is_moderator(interaction):
        raise Refused("Only moderators (Manage Server, or the bot's moderator role) can review.")


class ApproveButton(
    JobButton, prefix="approval:approve", label="Approve", style=discord.ButtonStyle.success
):
    """Approve a waiting request (moderators): the job starts at once."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        await _moderator_here(interaction)
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        text = await bot.approvals.approve(self.job_id, interaction.user.id, interaction.guild_id)
        await reply(interaction, text)


class DenyButton(JobButton, prefix="approval:deny", label="Deny", style=discord.ButtonStyle.danger):
    """Deny a waiting request (moderators): a form asks for the reason the member will see."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        await _moderator_here(interaction)
        bot = interaction.client
        approval = await bot.storage.approval(self.job_id)
        if approval is None or approval.guild_id != interaction.guild_id:
            raise Refused(f"Job {self.job_id} is not waiting for approval in this server.")
        if not approval.waiting:
            raise AlreadyDecided(approval)
        await interaction.response.send_modal(deny_form(self.job_id))


def deny_form(job_id: int) -> discord.ui.Modal:
    """The Deny form. It is sent stopped, so discord.py does not keep it in memory: the submit
    is answered by `ApprovalCog.on_interaction` from its custom_id, before or after a restart."""
    form = discord.ui.Modal(title=f"Deny job {job_id}", custom_id=f"approval:deny-form:{job_id}")
    form.add_item(
        discord.ui.Label(
            text="Reason (the member sees it)",
            component=discord.ui.TextInput(
                custom_id=REASON_INPUT,
                style=discord.TextStyle.paragraph,
                placeholder="e.g. Not suitable for this server",
                required=True,
                min_length=1,
                max_length=MAX_DENY_REASON_CHARS,
            ),
        )
    )
    form.stop()
    return form


def submitted_value(components: Sequence[dict[str, Any]], custom_id: str) -> str | None:
    """The value typed into input `custom_id` of a modal submission (rows or labels)."""
    value = form_values(components).get(custom_id)
    return None if value is None else str(value)


# ----------------------------------------------------------------------------------------------
# Moderator commands' words (the commands live in the admin cog)
# ----------------------------------------------------------------------------------------------
def check_review_channel(
    channel_guild_id: int, guild_id: int, bot_permissions: discord.Permissions | None
) -> None:
    """Refuse a review channel of another server, or one the bot cannot post reviews in."""
    if channel_guild_id != guild_id:
        raise Refused("That channel is not in this server.")
    if bot_permissions is None:
        return
    missing = [
        label
        for attr, label in REVIEW_CHANNEL_PERMISSIONS.items()
        if not getattr(bot_permissions, attr)
    ]
    if missing:
        raise Refused(
            f"I can't post reviews in that channel: I need {', '.join(missing)} there first."
        )


async def turn_on(
    storage: Database,
    guild_id: int,
    channel_id: int,
    trusted_role_id: int | None,
    actor_id: int,
    expiry: timedelta,
) -> str:
    """Turn approval on (or change its channel and trusted role) and say what it means."""
    trusted = f", holders of <@&{trusted_role_id}>" if trusted_role_id else ""
    await turn_approval_on(storage, guild_id, channel_id, trusted_role_id, actor_id)
    return (
        f"🔎 Approval is on. Requests from members wait for a moderator in <#{channel_id}>; "
        f"moderators{trusted} skip the queue. Credits are reserved while a request waits, and "
        f"a request nobody reviews within {expiry_words(expiry)} expires and is refunded."
    )


async def turn_off(storage: Database, guild_id: int, actor_id: int, waiting: int) -> str:
    """Turn approval off; requests already waiting still wait for a decision."""
    await turn_approval_off(storage, guild_id, actor_id)
    still = (
        f" The {waiting} request{'s' if waiting != 1 else ''} already waiting still need a "
        "decision (or expire)."
        if waiting
        else ""
    )
    return f"Approval is off: new requests start at once.{still}"


def approval_summary(settings: ApprovalSettings | None, waiting: int, expiry: timedelta) -> str:
    """One line for `limit show`: whether requests wait, where, who skips, how many wait."""
    if settings is None or not settings.enabled:
        tail = f" ({waiting} earlier requests still wait)" if waiting else ""
        return f"Approval: off, requests start at once{tail}."
    trusted = f", and holders of <@&{settings.trusted_role_id}>" if settings.trusted_role_id else ""
    return (
        f"Approval: **on**, reviewed in <#{settings.review_channel_id}>; moderators{trusted} "
        f"skip it. Waiting now: **{waiting}** · unreviewed requests expire after "
        f"{expiry_words(expiry)}."
    )


# ----------------------------------------------------------------------------------------------
# The presenter
# ----------------------------------------------------------------------------------------------
class DiscordReviews:
    """`bot.governance.approval.ReviewPresenter` on Discord, plus audit-channel lines."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    def _expiry(self) -> timedelta:
        return self.bot.approvals.expiry

    async def _thumbnail(self, job: Job) -> bytes | None:
        if not job.has_image:
            return None
        from bot.media.images import make_thumbnail

        frame = await self.bot.storage.load_frame(job.id)
        if frame is None:
            return None
        try:
            return await asyncio.to_thread(make_thumbnail, frame.data)
        except Exception:
            log.warning("job=%s could not build the review thumbnail", job.id, exc_info=True)
            return None

    async def post_review(self, job: Job, approval: Approval) -> int:
        thumbnail = await self._thumbnail(job)
        embed, view = render_review(
            job, approval, expiry=self._expiry(), has_thumbnail=thumbnail is not None
        )
        kwargs: dict[str, Any] = {"embed": embed, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        if thumbnail is not None:
            kwargs["file"] = discord.File(io.BytesIO(thumbnail), filename=THUMBNAIL_NAME)
        channel = self.bot.get_partial_messageable(
            approval.review_channel_id, guild_id=job.guild_id
        )
        from cogs.cards.cog import cards_of

        await cards_of(self.bot).presenter.sends.acquire(approval.review_channel_id)
        message = await channel.send(**kwargs)
        return message.id

    async def update_review(self, job: Job, approval: Approval) -> None:
        if approval.review_message_id is None:
            return
        embed, view = render_review(
            job, approval, expiry=self._expiry(), has_thumbnail=job.has_image
        )
        channel = self.bot.get_partial_messageable(
            approval.review_channel_id, guild_id=job.guild_id
        )
        try:
            await channel.get_partial_message(approval.review_message_id).edit(
                embed=embed, view=view, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning("job=%s could not update the review message: %s", job.id, exc)

    async def audit_approval(self, job: Job, approval: Approval) -> bool:
        return await self.audit(job.guild_id, approved_line(job, approval))

    async def audit(self, guild_id: int, text: str) -> bool:
        from cogs.cards.cog import cards_of

        try:
            return await cards_of(self.bot).audit.post(guild_id, text)
        except discord.HTTPException as exc:
            log.warning("guild=%s could not post in its audit channel: %s", guild_id, exc)
            return False


class ApprovalCog(commands.Cog):
    """The approval queue on Discord: the review messages, the Approve and Deny buttons
    (dynamic items registered here) and the Deny form."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.approvals.presenter = DiscordReviews(self.bot)
        self.bot.add_dynamic_items(ApproveButton, DenyButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ApproveButton, DenyButton)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[VideoBot]) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        match = DENY_FORM.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return
        job_id = int(match["job_id"])
        reason = submitted_value(data.get("components") or [], REASON_INPUT) or ""

        async def deny(interaction: discord.Interaction[VideoBot]) -> None:
            await _moderator_here(interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)
            assert interaction.guild_id is not None
            text = await self.bot.approvals.deny(
                job_id, interaction.user.id, interaction.guild_id, reason
            )
            await reply(interaction, text)

        await guarded(interaction, deny)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(ApprovalCog(bot))
