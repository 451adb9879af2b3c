"""The bot's words, written once: plurals, lists, times, state and stage names, refusals.

Everything a member or moderator reads about a job's state or a refused request comes from here,
so the card, `/jobs`, the audit line and the answers never disagree. Discord markup (timestamps
that tick in the client, mentions) is made here and in the other cogs, never in `bot/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import discord
from babel.lists import format_list

from bot import i18n
from bot.governance.approval import CANCELLED_WHILE_WAITING, AlreadyDecided
from bot.governance.budget_alerts import BudgetAlert
from bot.governance.quota import Refusal
from bot.jobs.contracts import ChannelNotAllowed, LimitReached, Refused
from storage.approvals import Approval, ApprovalStatus
from storage.models import Job, JobState, Period, Stage

TimestampStyle = Literal["f", "F", "d", "D", "t", "T", "R"]


def human_join(items: Sequence[str], final: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {final} {items[-1]}"


def when(moment: datetime, style: TimestampStyle = "R") -> str:
    """A Discord timestamp that ticks in the client without edits ('in 3 hours')."""
    return discord.utils.format_dt(moment, style)


def user(user_id: int) -> str:
    return f"<@{user_id}>"


def role(role_id: int) -> str:
    return f"<@&{role_id}>"


def channel(channel_id: int) -> str:
    return f"<#{channel_id}>"


# Discord refuses message content above 2000 characters (50035).
MESSAGE_LIMIT = 2000


def fit_lines(
    header: Sequence[str],
    items: Sequence[str],
    *,
    limit: int = MESSAGE_LIMIT,
    footer: Sequence[str] = (),
    locale: str | None = None,
) -> str:
    """Join header, as many items as fit and footer within `limit`, noting "and N more" (in the
    language of `locale`)."""
    head = "\n".join(header)
    foot = "\n".join(footer)

    def build(shown: int) -> str:
        parts = [head] if head else []
        parts.extend(items[:shown])
        hidden = len(items) - shown
        if hidden:
            parts.append(i18n.gettext(locale, "… and {count} more").format(count=hidden))
        if foot:
            parts.append(foot)
        return "\n".join(parts)

    shown = len(items)
    text = build(shown)
    while len(text) > limit and shown > 0:
        shown -= 1
        text = build(shown)
    if len(text) > limit:  # header and footer alone are too long: cut hard, never refuse
        text = text[: limit - 1] + "…"
    return text


# --- states and stages ------------------------------------------------------------------------
# The stage while a job runs, as the card's title and stage line show it.
_STAGE_TEXT: dict[Stage, i18n.Text] = {
    Stage.WAITING: i18n.Text("Waiting for a free slot at Wiro"),
    Stage.SUBMITTING: i18n.Text("Sending to Wiro"),
    Stage.QUEUED: i18n.Text("Queued at Wiro"),
    Stage.STARTING: i18n.Text("Starting"),
    Stage.GENERATING: i18n.Text("Generating"),
    Stage.FINISHING: i18n.Text("Finishing"),
    Stage.DELIVERING: i18n.Text("Posting the clip"),
    Stage.DONE: i18n.Text("Done"),
}
STAGE_LABEL: dict[Stage, str] = {stage: str(text) for stage, text in _STAGE_TEXT.items()}
# A finished job's outcome: its icon and its word.
OUTCOME_ICON: dict[JobState, str] = {
    JobState.SUCCEEDED: "✅",
    JobState.FAILED: "❌",
    JobState.CANCELLED: "🚫",
    JobState.TIMED_OUT: "⌛",
}
# Its word, and the card's title once a job is over.
_OUTCOME_TEXT: dict[JobState, tuple[i18n.Text, i18n.Text]] = {
    JobState.SUCCEEDED: (i18n.Text("done"), i18n.Text("✅ Video ready")),
    JobState.FAILED: (i18n.Text("failed"), i18n.Text("❌ Video failed")),
    JobState.CANCELLED: (i18n.Text("cancelled"), i18n.Text("🚫 Video cancelled")),
    JobState.TIMED_OUT: (i18n.Text("timed out"), i18n.Text("⌛ Video timed out")),
}
OUTCOME_WORD: dict[JobState, str] = {state: str(t[0]) for state, t in _OUTCOME_TEXT.items()}
OUTCOME_TITLE: dict[JobState, str] = {state: str(t[1]) for state, t in _OUTCOME_TEXT.items()}


def stage_label(stage: Stage, locale: str | None = None) -> str:
    """'Queued at Wiro' (in the language of `locale`)."""
    text = _STAGE_TEXT.get(stage)
    return text.render(locale) if text is not None else stage.value


def stage_words(stage: Stage, locale: str | None = None) -> str:
    """'queued at Wiro' (inside a sentence; German nouns keep their capital)."""
    label = stage_label(stage, locale)
    if i18n.catalog_name(locale) == "de":
        return label
    return label[0].lower() + label[1:]


def outcome_words(state: JobState, locale: str | None = None) -> str:
    """'✅ done', '⌛ timed out'."""
    return f"{OUTCOME_ICON[state]} {_OUTCOME_TEXT[state][0].render(locale)}"


def outcome_title(state: JobState, locale: str | None = None) -> str:
    """The card's title once a job is over ('✅ Video ready')."""
    return _OUTCOME_TEXT[state][1].render(locale)


def what_happened(job: Job, locale: str | None = None) -> str | None:
    """A finished job's outcome in words (None if nothing was recorded); a cancel by a person
    names them (the service stores who in `cancelled_by`, not in the words). The reason kept in
    English is put in the language of `locale`."""
    if job.state is JobState.CANCELLED and job.outcome_reason == CANCELLED_WHILE_WAITING:
        if job.cancelled_by:
            return i18n.gettext(locale, "Cancelled by {who} while waiting for a moderator.").format(
                who=user(job.cancelled_by)
            )
        return i18n.gettext(locale, "Cancelled by the bot while waiting for a moderator.")
    if job.outcome_reason:
        return i18n.from_english(locale, job.outcome_reason)
    if job.state is JobState.CANCELLED and job.cancelled_by is not None:
        return i18n.gettext(locale, "Cancelled by {who}.").format(who=user(job.cancelled_by))
    return None


# --- refusals ---------------------------------------------------------------------------------
def refusal_words(refusal: Refusal, locale: str | None = None) -> str:
    """A refused run in words, in the language of `locale`: which limit, how much is used, and
    when it resets (a Discord timestamp: the client writes it in the member's language)."""
    if refusal.what == "no_access":
        return i18n.gettext(locale, "You don't have access to video generation in this server.")
    if refusal.what == "credits":
        return _credits_words(refusal, locale)
    if refusal.what == "user_concurrency":
        used = int(refusal.used)
        return i18n.ngettext(
            locale,
            "You already have {count} video in progress (the limit is {limit}). Wait for one to "
            "finish or cancel it.",
            "You already have {count} videos in progress (the limit is {limit}). Wait for one to "
            "finish or cancel it.",
            used,
        ).format(count=i18n.number(locale, used), limit=i18n.number(locale, refusal.limit))
    if refusal.what == "guild_concurrency":
        return i18n.gettext(
            locale,
            "This server has too many videos in progress right now (limit {limit}). Try again in "
            "a few minutes.",
        ).format(limit=i18n.number(locale, refusal.limit))
    spent = i18n.gettext(
        locale,
        "This server's video budget for the month is used up ({used} of {limit} spent or in "
        "progress).",
    ).format(used=i18n.money(locale, refusal.used), limit=i18n.money(locale, refusal.limit))
    parts = [spent]
    if refusal.needs is not None and refusal.used < refusal.limit:
        cost = i18n.gettext(locale, "This run costs about {cost}.")
        parts.append(cost.format(cost=i18n.money(locale, refusal.needs)))
    if refusal.resets_at:
        resets = i18n.gettext(locale, "It resets {when}.")
        parts.append(resets.format(when=when(refusal.resets_at)))
    return " ".join(parts)


def _credits_words(refusal: Refusal, locale: str | None) -> str:
    """Not enough credits: used of the limit in its window, what this run costs, the reset."""
    period: Period = refusal.period or "day"
    needs = int(refusal.needs or 0)
    if period == "week":
        template = i18n.ngettext(
            locale,
            "Not enough credits: you have used {used} of {limit} this week and this run costs "
            "{count} credit.",
            "Not enough credits: you have used {used} of {limit} this week and this run costs "
            "{count} credits.",
            needs,
        )
    elif period == "month":
        template = i18n.ngettext(
            locale,
            "Not enough credits: you have used {used} of {limit} this month and this run costs "
            "{count} credit.",
            "Not enough credits: you have used {used} of {limit} this month and this run costs "
            "{count} credits.",
            needs,
        )
    else:
        template = i18n.ngettext(
            locale,
            "Not enough credits: you have used {used} of {limit} today and this run costs "
            "{count} credit.",
            "Not enough credits: you have used {used} of {limit} today and this run costs "
            "{count} credits.",
            needs,
        )
    text = template.format(
        used=i18n.number(locale, refusal.used),
        limit=i18n.number(locale, refusal.limit),
        count=i18n.number(locale, refusal.needs or 0),
    )
    if refusal.resets_at:
        resets = i18n.gettext(locale, "Your credits reset {when}.")
        text += " " + resets.format(when=when(refusal.resets_at))
    return text


def list_words(locale: str | None, items: Sequence[str]) -> str:
    """'a, b and c' in the language of `locale` (English as `human_join` writes it)."""
    if i18n.catalog_name(locale) is None or len(items) <= 1:
        return human_join(items)
    return format_list(list(items), locale=i18n.babel_locale(locale))


def refused_words(exc: Refused, locale: str | None = None) -> str:
    """What to answer for any refusal from the service floor, in the language of `locale`."""
    if isinstance(exc, LimitReached):
        return refusal_words(exc.refusal, locale)
    if isinstance(exc, ChannelNotAllowed):
        where = ", ".join(channel(c) for c in exc.channel_ids)
        text = i18n.gettext(locale, "`/video` is not enabled in this channel. Try {channels}.")
        return text.format(channels=where)
    if isinstance(exc, AlreadyDecided):
        return decided_words(exc.approval, locale)
    return exc.words(locale)


def decided_words(approval: Approval, locale: str | None = None) -> str:
    """How an already-decided request is described to a moderator who clicked too late, in
    their language (`locale`)."""
    job_id, status = approval.job_id, approval.status
    if status is ApprovalStatus.EXPIRED:
        text = i18n.gettext(locale, "Job {job_id} expired before anyone reviewed it.")
    elif status is ApprovalStatus.WAITING:
        text = i18n.gettext(locale, "Job {job_id} is waiting for a moderator.")
    elif approval.decided_by is None:
        text = {
            ApprovalStatus.APPROVED: i18n.gettext(locale, "Job {job_id} was already approved."),
            ApprovalStatus.DENIED: i18n.gettext(locale, "Job {job_id} was already denied."),
            ApprovalStatus.CANCELLED: i18n.gettext(
                locale, "Job {job_id} was cancelled while waiting."
            ),
        }[status]
    else:
        text = {
            ApprovalStatus.APPROVED: i18n.gettext(
                locale, "Job {job_id} was already approved by {member}."
            ),
            ApprovalStatus.DENIED: i18n.gettext(
                locale, "Job {job_id} was already denied by {member}."
            ),
            ApprovalStatus.CANCELLED: i18n.gettext(
                locale, "Job {job_id} was cancelled by {member} while waiting."
            ),
        }[status]
    member = user(approval.decided_by) if approval.decided_by else ""
    return text.format(job_id=job_id, member=member)


# --- budget alerts ----------------------------------------------------------------------------
def budget_alert_text(alert: BudgetAlert) -> i18n.Text:
    """The one line moderators get when spending passes a threshold (no mention of anyone), in
    no language yet: the audit channel writes it in the server's language."""
    spent, budget = i18n.Money(alert.spent), i18n.Money(alert.budget)
    reset = when(alert.resets_at)
    if alert.threshold >= 100:
        return i18n.Text(
            "🛑 Video budget reached: {spent} of this month's {budget} is spent. New videos are "
            "refused until it resets {reset}, unless a moderator raises it with "
            "`/videoadmin budget set`.",
            spent=spent,
            budget=budget,
            reset=reset,
        )
    return i18n.Text(
        "⚠️ Video spending passed {percent} % of this month's budget: {spent} of {budget}. It "
        "resets {reset}.",
        percent=i18n.Number(alert.threshold),
        spent=spent,
        budget=budget,
        reset=reset,
    )


def budget_alert_line(alert: BudgetAlert, locale: str | None = None) -> str:
    """The budget alert's line in the language of `locale` (English when None)."""
    return budget_alert_text(alert).render(locale)


def _who_deleted(job: Job, locale: str | None) -> str:
    if job.deleted_by is None:
        return i18n.gettext(locale, "someone")
    return user(job.deleted_by)


def deleted_card_words(job: Job, locale: str | None = None) -> str:
    """The card of a deleted clip: who deleted it and when, and what is no longer offered."""
    who = _who_deleted(job, locale)
    if job.deleted_at is None:
        text = i18n.gettext(
            locale,
            "The clip was deleted by {who}. Its credits were not refunded; Re-roll, Extend, "
            "Remix and Remake are no longer offered.",
        )
        return text.format(who=who)
    text = i18n.gettext(
        locale,
        "The clip was deleted by {who}, {when}. Its credits were not refunded; Re-roll, "
        "Extend, Remix and Remake are no longer offered.",
    )
    return text.format(who=who, when=when(job.deleted_at))


def deleted_line(job: Job, locale: str | None = None) -> str:
    """The answer to Delete on a clip already deleted."""
    who = _who_deleted(job, locale)
    if job.deleted_at is None:
        text = i18n.gettext(locale, "The clip of job {id} was already deleted by {who}.")
        return text.format(id=job.id, who=who)
    text = i18n.gettext(locale, "The clip of job {id} was already deleted by {who}, {when}.")
    return text.format(id=job.id, who=who, when=when(job.deleted_at))
