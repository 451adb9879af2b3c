"""The approval queue on Discord: the review message, its Approve and Deny buttons, the Deny
form, and audit-channel lines (the moderators' `/videoadmin approval` answers are
`cogs/admin/approval.py`).

`render_review` is pure (job + approval → embed + view). Buttons are DynamicItems (the job id is
in the custom_id, the state in SQLite), so they keep working after a restart. The Deny form is
answered by a listener rather than a stored Modal object, for the same reason: a form opened
before a restart is still honoured after it. `DiscordReviews` implements
`bot.governance.approval.ReviewPresenter`.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import i18n
from bot.governance.approval import (
    MAX_DENY_REASON_CHARS,
    NO_REASON,
    AlreadyDecided,
    expiry_text,
    not_waiting_here,
)
from bot.jobs.contracts import Refused
from cogs.audit import AuditWords
from cogs.cards.render import THUMBNAIL_NAME
from cogs.cards.text import card_link, image_author, prompt_as_text, settings_line
from cogs.common import (
    NO_MENTIONS,
    ListenedForm,
    guarded,
    is_moderator,
    reply,
    stored_thumbnail,
    submitted_form,
)
from cogs.job_buttons import JobButton
from cogs.language import member_locale, server_locale
from cogs.words import decided_words, user, when
from storage.approvals import Approval, ApprovalStatus
from storage.models import Job

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

DEFAULT_MODEL = "hailuo-2.3"
DENY_FORM = re.compile(r"approval:deny-form:(?P<job_id>[0-9]+)")
REASON_INPUT = "reason"

_COLOURS = {
    ApprovalStatus.WAITING: discord.Colour.gold(),
    ApprovalStatus.APPROVED: discord.Colour.green(),
    ApprovalStatus.DENIED: discord.Colour.red(),
    ApprovalStatus.EXPIRED: discord.Colour.orange(),
    ApprovalStatus.CANCELLED: discord.Colour.light_grey(),
}


def review_title(status: ApprovalStatus, locale: str | None = None) -> str:
    """The review message's title for the request's state."""
    if status is ApprovalStatus.WAITING:
        return i18n.gettext(locale, "🔎 Video request waiting for approval")
    if status is ApprovalStatus.APPROVED:
        return i18n.gettext(locale, "✅ Approved")
    if status is ApprovalStatus.DENIED:
        return i18n.gettext(locale, "⛔ Denied")
    if status is ApprovalStatus.EXPIRED:
        return i18n.gettext(locale, "⌛ Expired: nobody reviewed it in time")
    return i18n.gettext(locale, "🚫 Cancelled while waiting")


def cost_words(job: Job, locale: str | None = None) -> str:
    """'1 credit reserved · about $0.28 at Wiro' (USD only when an estimate exists)."""
    reserved = i18n.ngettext(
        locale, "{count} credit reserved", "{count} credits reserved", job.credits
    )
    text = reserved.format(count=i18n.number(locale, job.credits))
    if job.expected_cost_usd is not None:
        about = i18n.gettext(locale, "about {cost} at Wiro")
        text += " · " + about.format(cost=i18n.money(locale, job.expected_cost_usd))
    return text


def _decider(approval: Approval, locale: str | None) -> str:
    if approval.decided_by:
        return user(approval.decided_by)
    return i18n.gettext(locale, "the bot")


def decision_words(approval: Approval, expiry: timedelta, locale: str | None = None) -> str:
    """Who decided what, when: the review message's last field."""
    at = f" {when(approval.decided_at)}" if approval.decided_at else ""
    by = _decider(approval, locale)
    if approval.status is ApprovalStatus.APPROVED:
        text = i18n.gettext(locale, "Approved by {by}{at}; the video is being made.")
        return text.format(by=by, at=at)
    if approval.status is ApprovalStatus.DENIED:
        given = approval.reason or i18n.gettext(locale, NO_REASON)
        text = i18n.gettext(locale, "Denied by {by}{at}. Reason shown to the member: {reason}")
        return text.format(by=by, at=at, reason=prompt_as_text(given, limit=400))
    if approval.status is ApprovalStatus.EXPIRED:
        text = i18n.gettext(locale, "Nobody reviewed it within {expiry}{at}; credits refunded.")
        return text.format(expiry=expiry_text(expiry).render(locale), at=at)
    if approval.decided_by is None:
        text = i18n.gettext(locale, "The request ended before anyone reviewed it{at}.")
        return text.format(at=at)
    return i18n.gettext(locale, "Cancelled by {by}{at}; credits refunded.").format(by=by, at=at)


def approved_line(job: Job, approval: Approval, locale: str | None = None) -> str:
    """The audit line of an approval (denials, expiries and cancels end the job: its own line)."""
    text = i18n.gettext(
        locale,
        "👍 Job `{job_id}` by {member} approved by {by} after waiting {waited}; it is starting.",
    )
    return text.format(
        job_id=job.id,
        member=user(job.user_id),
        by=_decider(approval, locale),
        waited=_waited(approval, locale),
    )


def _waited(approval: Approval, locale: str | None) -> str:
    end = approval.decided_at or approval.requested_at
    seconds = max(0, round((end - approval.requested_at).total_seconds()))
    if seconds < 60:
        return i18n.gettext(locale, "{seconds} s").format(seconds=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return i18n.gettext(locale, "{minutes} min").format(minutes=minutes)
    text = i18n.gettext(locale, "{hours} h {minutes} min")
    return text.format(hours=minutes // 60, minutes=f"{minutes % 60:02d}")


def render_review(
    job: Job,
    approval: Approval,
    *,
    expiry: timedelta,
    has_thumbnail: bool = False,
    locale: str | None = None,
) -> tuple[discord.Embed, discord.ui.View | None]:
    """Build the review message for the request's current state (buttons only while waiting),
    in the server's language (`locale`; English when None)."""
    status = approval.status
    embed = discord.Embed(title=review_title(status, locale), colour=_COLOURS[status])
    prompt = i18n.gettext(locale, "Prompt")
    embed.description = f"**{prompt}**\n{prompt_as_text(job.prompt, limit=3000)}"
    embed.add_field(
        name=i18n.gettext(locale, "Settings"), value=settings_line(job, locale), inline=True
    )
    embed.add_field(
        name=i18n.gettext(locale, "Model"),
        value=str(getattr(job, "model", None) or DEFAULT_MODEL),
    )
    camera = getattr(job, "camera", None)
    moves = ", ".join(m.strip() for m in str(camera).split(",") if m.strip()) if camera else ""
    embed.add_field(
        name=i18n.gettext(locale, "Camera"),
        value=prompt_as_text(moves) if moves else i18n.pgettext(locale, "camera moves", "none"),
    )
    requested = i18n.gettext(locale, "Requested by")
    embed.add_field(name=requested, value=f"<@{job.user_id}>", inline=True)
    author = image_author(job)
    if author is not None:  # Animate of another member's image: whose picture it is
        embed.add_field(name=i18n.gettext(locale, "Image by"), value=user(author), inline=True)
    cost = cost_words(job, locale)
    embed.add_field(name=i18n.gettext(locale, "Expected cost"), value=cost, inline=True)
    link = card_link(job, locale)
    job_words = i18n.gettext(locale, "Job {job_id}").format(job_id=job.id)
    if link.startswith("https://"):
        embed.add_field(name=i18n.gettext(locale, "Card"), value=f"[{job_words}]({link})")
    if status is ApprovalStatus.WAITING:
        embed.add_field(
            name=i18n.gettext(locale, "Expires"), value=when(approval.expires_at), inline=True
        )
    else:
        embed.add_field(
            name=i18n.gettext(locale, "Decision"),
            value=decision_words(approval, expiry, locale),
            inline=False,
        )
    if has_thumbnail:
        embed.set_thumbnail(url=f"attachment://{THUMBNAIL_NAME}")
    footer = i18n.gettext(locale, "Job {job_id} · requested").format(job_id=job.id)
    embed.set_footer(text=footer)
    embed.timestamp = approval.requested_at
    if status is not ApprovalStatus.WAITING:
        return embed, None
    view = discord.ui.View(timeout=None)
    approve, deny = ApproveButton(job.id), DenyButton(job.id)
    approve.item.label = i18n.gettext(locale, "Approve")
    deny.item.label = i18n.gettext(locale, "Deny")
    view.add_item(approve)
    view.add_item(deny)
    return embed, view


# ----------------------------------------------------------------------------------------------
# Buttons and the Deny form
# ----------------------------------------------------------------------------------------------
async def _moderator_here(interaction: discord.Interaction[VideoBot]) -> None:
    if interaction.guild_id is None or not await is_moderator(interaction):
        raise Refused(
            i18n.Text("Only moderators (Manage Server, or the bot's moderator role) can review.")
        )


async def _answer_decision(
    interaction: discord.Interaction[VideoBot], decision: Awaitable[i18n.Text]
) -> None:
    """Tell the moderator who clicked what their decision did, in their own language (also
    when another moderator decided first)."""
    locale = member_locale(interaction)
    try:
        text = (await decision).render(locale)
    except AlreadyDecided as exc:
        text = decided_words(exc.approval, locale)
    await reply(interaction, text)


class ApproveButton(
    JobButton, prefix="approval:approve", label="Approve", style=discord.ButtonStyle.success
):
    """Approve a waiting request (moderators): the job starts at once."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        await _moderator_here(interaction)
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        await _answer_decision(
            interaction,
            bot.approvals.approve(self.job_id, interaction.user.id, interaction.guild_id),
        )


class DenyButton(JobButton, prefix="approval:deny", label="Deny", style=discord.ButtonStyle.danger):
    """Deny a waiting request (moderators): a form asks for the reason the member will see."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        await _moderator_here(interaction)
        bot = interaction.client
        approval = await bot.storage.approval(self.job_id)
        if approval is None or approval.guild_id != interaction.guild_id:
            raise Refused(not_waiting_here(self.job_id))
        locale = member_locale(interaction)
        if not approval.waiting:
            await reply(interaction, decided_words(approval, locale))
            return
        await interaction.response.send_modal(deny_form(self.job_id, locale))


def deny_form(job_id: int, locale: str | None = None) -> discord.ui.Modal:
    """The Deny form, in the clicking moderator's language; `ApprovalCog.on_interaction`
    answers it from its custom_id, before or after a restart."""
    title = i18n.gettext(locale, "Deny job {job_id}").format(job_id=job_id)
    form = ListenedForm(title, f"approval:deny-form:{job_id}")
    reason = discord.ui.TextInput[Any](
        custom_id=REASON_INPUT,
        style=discord.TextStyle.paragraph,
        placeholder=i18n.gettext(locale, "e.g. Not suitable for this server")[:100],
        required=True,
        min_length=1,
        max_length=MAX_DENY_REASON_CHARS,
    )
    form.add_field(reason, i18n.gettext(locale, "Reason (the member sees it)"))
    return form


# ----------------------------------------------------------------------------------------------
# The presenter
# ----------------------------------------------------------------------------------------------
class DiscordReviews:
    """`bot.governance.approval.ReviewPresenter` on Discord, plus audit-channel lines."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    def _expiry(self) -> timedelta:
        return self.bot.approvals.expiry

    async def post_review(self, job: Job, approval: Approval) -> int:
        thumbnail = await stored_thumbnail(self.bot, job)
        embed, view = render_review(
            job,
            approval,
            expiry=self._expiry(),
            has_thumbnail=thumbnail is not None,
            locale=await server_locale(self.bot, job.guild_id),
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
            job,
            approval,
            expiry=self._expiry(),
            has_thumbnail=job.has_image,
            locale=await server_locale(self.bot, job.guild_id),
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
        return await self.audit(job.guild_id, lambda locale: approved_line(job, approval, locale))

    async def audit(self, guild_id: int, text: AuditWords) -> bool:
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
        submitted = submitted_form(interaction, DENY_FORM)
        if submitted is None:
            return
        job_id, values = submitted
        reason = str(values.get(REASON_INPUT) or "")

        async def deny(interaction: discord.Interaction[VideoBot]) -> None:
            await _moderator_here(interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)
            assert interaction.guild_id is not None
            await _answer_decision(
                interaction,
                self.bot.approvals.deny(job_id, interaction.user.id, interaction.guild_id, reason),
            )

        await guarded(interaction, deny)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(ApprovalCog(bot))
