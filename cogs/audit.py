"""The audit channel: one line per finished job, in the channel a moderator chose.

`AuditPoster.job_finished` never raises and never blocks a job. When the bot cannot post in the
audit channel (deleted, or permissions taken away), moderators are told once per server and
channel while the process runs:
- a warning in the log (for the operator);
- an entry in the moderator log (`audit.unreachable`), which `/videoadmin limit show` lists
  under the latest changes, so it is still there when a moderator next looks;
- one short notice in the channel of the job that could not be audited, because that is a
  channel the bot can post in and that moderators read, whereas DMs to moderators would need the
  members intent and would ping people who never asked for it.
Setting the audit channel again (even to the same channel) re-arms the notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from bot import i18n
from bot.governance.approval import NO_REASON
from cogs.cards.pacing import SendPacer
from cogs.cards.text import card_link, prompt_as_text, settings_line, whose_image
from cogs.common import NO_MENTIONS
from cogs.language import server_locale
from cogs.words import OUTCOME_ICON, user, what_happened
from storage.approvals import Approval, ApprovalStatus
from storage.models import Job, JobState

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

AUDIT_PROMPT_EXCERPT = 200

# What an audit line is handed as: words already in a language, a sentence in none yet
# (`i18n.Text`), or a function writing the line in a language. `AuditPoster.post` puts it in the
# server's language.
AuditWords = str | i18n.Text | Callable[[str], str]


def in_language(locale: str, words: AuditWords) -> str:
    """An audit line's words in the language of `locale`."""
    return words(locale) if callable(words) else i18n.words(locale, words)


def _held_outcome(
    job: Job, approval: Approval | None, locale: str | None
) -> tuple[str, str] | None:
    """The outcome of a request the approval queue ended (it never ran), else None."""
    if approval is None or job.state is not JobState.CANCELLED:
        return None
    if approval.status is ApprovalStatus.DENIED:
        given = approval.reason or i18n.gettext(locale, NO_REASON)
        reason = prompt_as_text(given, limit=150)
        if approval.decided_by:
            text = i18n.gettext(locale, "denied by {who} ({reason})")
            return "⛔", text.format(who=user(approval.decided_by), reason=reason)
        return "⛔", i18n.gettext(locale, "denied by a moderator ({reason})").format(reason=reason)
    if approval.status is ApprovalStatus.EXPIRED:
        return "⌛", i18n.gettext(locale, "expired: no moderator reviewed it in time")
    if approval.status is ApprovalStatus.CANCELLED:
        return "🚫", i18n.gettext(locale, "cancelled while waiting for a moderator")
    return None


def outcome_word(state: JobState, locale: str | None = None) -> str:
    """How the audit line names a finished job's outcome ('done', 'timed out')."""
    if state is JobState.SUCCEEDED:
        return i18n.pgettext(locale, "audit outcome", "done")
    if state is JobState.FAILED:
        return i18n.pgettext(locale, "audit outcome", "failed")
    if state is JobState.CANCELLED:
        return i18n.pgettext(locale, "audit outcome", "cancelled")
    if state is JobState.TIMED_OUT:
        return i18n.pgettext(locale, "audit outcome", "timed out")
    return state.value


def _credits(job: Job, locale: str | None) -> str:
    if job.state is JobState.SUCCEEDED:
        text = i18n.ngettext(
            locale, "{count} credit charged", "{count} credits charged", job.credits
        )
    else:
        text = i18n.ngettext(
            locale, "{count} credit refunded", "{count} credits refunded", job.credits
        )
    return text.format(count=i18n.number(locale, job.credits))


def _cost(job: Job, locale: str | None) -> str:
    if job.total_cost_usd is None:
        cost = i18n.gettext(locale, "USD n/a")
    else:
        cost = i18n.money(locale, job.total_cost_usd)
    if not job.cost_is_estimate:
        return cost
    # A Run whose answer was lost: Wiro may run and bill its task.
    if job.total_cost_usd is None:
        return i18n.gettext(locale, "may have been billed by Wiro")
    return i18n.gettext(locale, "{cost} expected, may have been billed by Wiro").format(cost=cost)


def audit_line(job: Job, approval: Approval | None = None, locale: str | None = None) -> str:
    """One audit line: who, prompt excerpt (inert), settings, outcome, credits, USD, card link,
    in the server's language (`locale`; English when None).

    A request the approval queue ended says so (who denied it and why, or that it expired)."""
    held = _held_outcome(job, approval, locale)
    icon, outcome = held or (OUTCOME_ICON.get(job.state, "•"), outcome_word(job.state, locale))
    reason = what_happened(job, locale)
    if held is None and job.state is not JobState.SUCCEEDED and reason:
        outcome += f" ({reason[:150]})"
    link = card_link(job, locale)
    if link.startswith("https://"):
        card = i18n.gettext(locale, "card")
        card = f"[{card}](<{link}>)"
    else:
        card = i18n.gettext(locale, "no card")
    prompt = prompt_as_text(job.prompt, limit=AUDIT_PROMPT_EXCERPT).replace("\n", " ")
    title = i18n.gettext(locale, "Job `{job_id}`").format(job_id=job.id)
    settings = settings_line(job, locale)
    line = (
        f"{icon} {title} · <@{job.user_id}>{whose_image(job, locale)} · {settings} · {outcome} · "
        f"{_credits(job, locale)} · {_cost(job, locale)} · {card}\n> {prompt}"
    )
    return line[:2000]


def unreachable_notice(channel_id: int, locale: str | None = None) -> str:
    """What moderators are told, once, when the audit channel cannot be posted in."""
    text = i18n.gettext(
        locale,
        "⚠️ I can't post in this server's audit channel {channel} (it was deleted or I lost "
        "permission to send messages there). Jobs keep running; a moderator can fix it with "
        "`/videoadmin audit channel`.",
    )
    return text.format(channel=f"<#{channel_id}>")


class AuditPoster:
    """The one poster of the audit channel: every finished job's line (the presenter calls
    `job_finished`), approval decisions and budget alerts (`post`). Built by the cards
    extension with the presenter's send pacer, so lines never flood a channel; an audit channel
    the bot cannot post in is reported to the moderators once."""

    def __init__(self, bot: VideoBot, sends: SendPacer | None = None) -> None:
        self.bot = bot
        self.sends = sends or SendPacer()
        self._warned: set[tuple[int, int]] = set()  # (guild id, audit channel id)

    def rearm(self, guild_id: int) -> None:
        """Forget earlier failures of this server (the audit channel was just set)."""
        self._warned = {key for key in self._warned if key[0] != guild_id}

    async def job_finished(self, job: Job) -> None:
        """Post the job's audit line if its server has an audit channel; never raise. (The
        budget alert its cost may set off comes next, from the job lifecycle.)"""
        try:
            approval = (
                await self.bot.storage.approval(job.id) if job.state is JobState.CANCELLED else None
            )
            await self.post(job.guild_id, lambda locale: audit_line(job, approval, locale), job=job)
        except Exception:
            log.exception("job=%s could not write the audit line", job.id)

    async def post(self, guild_id: int, text: AuditWords, *, job: Job | None = None) -> bool:
        """Post one line in the server's audit channel, in the server's language; False when it
        has none or the bot cannot post there (reported to the moderators once; `job` says where
        to tell members). Other HTTP errors are raised: each caller logs them its own way."""
        channel_id = (await self.bot.storage.guild_settings(guild_id)).audit_channel_id
        if channel_id is None:
            return False
        locale = await server_locale(self.bot, guild_id)
        await self.sends.acquire(channel_id)  # many jobs ending together must not flood it
        channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            await channel.send(in_language(locale, text)[:2000], allowed_mentions=NO_MENTIONS)
        except (discord.Forbidden, discord.NotFound) as exc:
            await self._unreachable(guild_id, channel_id, exc, job, locale)
            return False
        return True

    async def _unreachable(
        self,
        guild_id: int,
        channel_id: int,
        exc: discord.HTTPException,
        job: Job | None,
        locale: str,
    ) -> None:
        key = (guild_id, channel_id)
        if key in self._warned:
            return
        self._warned.add(key)
        log.warning(
            "job=%s audit channel %s of guild %s is unreachable (%s %s); telling moderators once",
            job.id if job else "-", channel_id, guild_id, exc.status, exc.code,
        )  # fmt: skip
        await self.bot.storage.record_action(
            guild_id,
            self.bot.user.id if self.bot.user else 0,
            "audit.unreachable",
            f"could not post in audit channel {channel_id} (HTTP {exc.status})",
        )
        if job is None or job.channel_id == channel_id:
            return
        try:
            await self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id).send(
                unreachable_notice(channel_id, locale), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as notice_exc:
            log.warning("job=%s could not post the audit notice either: %s", job.id, notice_exc)
