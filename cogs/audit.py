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
from typing import TYPE_CHECKING

import discord

from bot.governance.usage import usd
from cogs.cards.pacing import SendPacer
from cogs.cards.text import card_link, prompt_as_text, settings_line, whose_image
from cogs.common import NO_MENTIONS
from cogs.words import OUTCOME_ICON, OUTCOME_WORD, plural, user, what_happened
from storage.approvals import Approval, ApprovalStatus
from storage.models import Job, JobState

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

AUDIT_PROMPT_EXCERPT = 200


def _held_outcome(job: Job, approval: Approval | None) -> tuple[str, str] | None:
    """The outcome of a request the approval queue ended (it never ran), else None."""
    if approval is None or job.state is not JobState.CANCELLED:
        return None
    if approval.status is ApprovalStatus.DENIED:
        reason = prompt_as_text(approval.reason or "no reason given", limit=150)
        who = user(approval.decided_by) if approval.decided_by else "a moderator"
        return "⛔", f"denied by {who} ({reason})"
    if approval.status is ApprovalStatus.EXPIRED:
        return "⌛", "expired: no moderator reviewed it in time"
    if approval.status is ApprovalStatus.CANCELLED:
        return "🚫", "cancelled while waiting for a moderator"
    return None


def audit_line(job: Job, approval: Approval | None = None) -> str:
    """One audit line: who, prompt excerpt (inert), settings, outcome, credits, USD, card link.

    A request the approval queue ended says so (who denied it and why, or that it expired)."""
    held = _held_outcome(job, approval)
    icon, outcome = held or (
        OUTCOME_ICON.get(job.state, "•"),
        OUTCOME_WORD.get(job.state, job.state.value),
    )
    settled = "charged" if job.state is JobState.SUCCEEDED else "refunded"
    credits = f"{plural(job.credits, 'credit')} {settled}"
    cost = usd(job.total_cost_usd) if job.total_cost_usd is not None else "USD n/a"
    if job.cost_is_estimate:  # a Run whose answer was lost: Wiro may run and bill its task
        expected = f"{cost} expected, " if job.total_cost_usd is not None else ""
        cost = f"{expected}may have been billed by Wiro"
    reason = what_happened(job)
    if held is None and job.state is not JobState.SUCCEEDED and reason:
        outcome += f" ({reason[:150]})"
    link = card_link(job)
    card = f"[card](<{link}>)" if link.startswith("https://") else "no card"
    prompt = prompt_as_text(job.prompt, limit=AUDIT_PROMPT_EXCERPT).replace("\n", " ")
    line = (
        f"{icon} Job `{job.id}` · <@{job.user_id}>{whose_image(job)} · {settings_line(job)} · "
        f"{outcome} · "
        f"{credits} · {cost} · {card}\n> {prompt}"
    )
    return line[:2000]


def unreachable_notice(channel_id: int) -> str:
    """What moderators are told, once, when the audit channel cannot be posted in."""
    return (
        f"⚠️ I can't post in this server's audit channel <#{channel_id}> (it was deleted or I "
        "lost permission to send messages there). Jobs keep running; a moderator can fix it with "
        "`/videoadmin audit channel`."
    )


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
            await self.post(job.guild_id, audit_line(job, approval), job=job)
        except Exception:
            log.exception("job=%s could not write the audit line", job.id)

    async def post(self, guild_id: int, text: str, *, job: Job | None = None) -> bool:
        """Post one line in the server's audit channel; False when it has none or the bot cannot
        post there (reported to the moderators once; `job` says where to tell members). Other
        HTTP errors are raised: each caller logs them its own way."""
        channel_id = (await self.bot.storage.guild_settings(guild_id)).audit_channel_id
        if channel_id is None:
            return False
        await self.sends.acquire(channel_id)  # many jobs ending together must not flood it
        channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            await channel.send(text[:2000], allowed_mentions=NO_MENTIONS)
        except (discord.Forbidden, discord.NotFound) as exc:
            await self._unreachable(guild_id, channel_id, exc, job)
            return False
        return True

    async def _unreachable(
        self, guild_id: int, channel_id: int, exc: discord.HTTPException, job: Job | None
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
                unreachable_notice(channel_id), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as notice_exc:
            log.warning("job=%s could not post the audit notice either: %s", job.id, notice_exc)
