"""`/quota` and `/jobs`: what a member may still generate, and what they asked for lately.

The commands are thin: `explain_limit`, `describe_quota` and `describe_jobs` hold the decisions
and the wording, and are tested without Discord.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

import discord
from babel.numbers import format_percent
from discord import app_commands
from discord.ext import commands

import bot.governance.quota as quota
from bot import i18n
from bot.catalogue import MODELS
from bot.jobs.contracts import QuotaStatus, Refused
from cogs.cards.text import card_link, model_label, prompt_as_text, whose_image
from cogs.common import is_moderator, reply, role_ids
from cogs.language import member_locale
from cogs.words import fit_lines, outcome_words, stage_words, when
from storage.approvals import ApprovalStatus
from storage.models import Job, JobState, Limit, ScopedLimit, Stage

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

JOBS_SHOWN = 10
PROMPT_EXCERPT = 60


def _per_period(locale: str | None, period: str, credits: int) -> str:
    """'10 credits per day' with the language's plural for the number."""
    if period == "day":
        text = i18n.ngettext(locale, "{count} credit per day", "{count} credits per day", credits)
    elif period == "week":
        text = i18n.ngettext(locale, "{count} credit per week", "{count} credits per week", credits)
    else:
        text = i18n.ngettext(
            locale, "{count} credit per month", "{count} credits per month", credits
        )
    return text.format(count=credits)


def _window_words(locale: str | None, period: str) -> str:
    if period == "day":
        return i18n.gettext(locale, "today (UTC)")
    if period == "week":
        return i18n.gettext(locale, "this week (UTC)")
    return i18n.gettext(locale, "this month (UTC)")


@dataclass(frozen=True, slots=True)
class LimitExplanation:
    """The limit that applies to a member, the stored rule it came from, and why, in words."""

    applied: quota.AppliedLimit
    rule: ScopedLimit | None  # None for the operator's default
    reason: str

    @property
    def limit(self) -> Limit:
        return self.applied.limit


def limit_words(limit: Limit, locale: str | None = None) -> str:
    """'10 credits per day' (or 'no access' for 0)."""
    if limit.credits <= 0:
        return i18n.gettext(locale, "no access (0 credits)")
    return _per_period(locale, limit.period, limit.credits)


def explain_limit(
    scoped: Sequence[ScopedLimit],
    *,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int],
    default: Limit,
    locale: str | None = None,
) -> LimitExplanation:
    """Say which limit applies to a member and why (quota.pick_limits names the rule)."""
    applied = quota.pick_limits(
        scoped, guild_id=guild_id, user_id=user_id, role_ids=role_ids, default=default
    )
    rule = applied.rule
    if applied.source == "member":
        why = i18n.gettext(locale, "a limit set for this member (member override)")
        return LimitExplanation(applied, rule, why)
    if applied.source == "role" and rule is not None:
        count = applied.role_candidates
        role = f"<@&{rule.target_id}>"
        if count > 1:
            why = i18n.ngettext(
                locale,
                "the limit of role {role} (the most generous of {count} role with a limit)",
                "the limit of role {role} (the most generous of {count} roles with a limit)",
                count,
            ).format(role=role, count=count)
        else:
            why = i18n.gettext(locale, "the limit of role {role}").format(role=role)
        return LimitExplanation(applied, rule, why)
    if applied.source == "server":
        return LimitExplanation(applied, rule, i18n.gettext(locale, "this server's default limit"))
    why = i18n.gettext(locale, "the bot's default (no server, role or member limit is set)")
    return LimitExplanation(applied, None, why)


def costs_line(costs: dict[tuple[str, int], int], locale: str | None = None) -> str:
    """What each resolution/duration costs, e.g. '768P·6 s: 1 · 768P·10 s: 2 · 1080P·6 s: 2'."""
    parts = []
    for (resolution, seconds), credits in costs.items():
        price = i18n.ngettext(locale, "{count} credit", "{count} credits", credits)
        parts.append(f"{resolution}·{seconds} s = {price.format(count=credits)}")
    return " · ".join(parts)


def describe_quota(
    status: QuotaStatus,
    explanation: LimitExplanation,
    *,
    notes: Sequence[str] = (),
    locale: str | None = None,
) -> str:
    """Build the /quota answer: the limit and its origin, used/left, reset, jobs in flight."""
    limit = status.applied.limit
    lines = [i18n.gettext(locale, "**Your video quota in this server**")]
    if status.applied.no_access:
        lines.append(
            i18n.gettext(
                locale,
                "You have no access to video generation here: the limit that applies to you is "
                "0 credits ({reason}). Ask a moderator if you think this is a mistake.",
            ).format(reason=explanation.reason)
        )
    else:
        lines.append(
            i18n.gettext(locale, "Limit: **{limit}**, from {reason}.").format(
                limit=limit_words(limit, locale), reason=explanation.reason
            )
        )
        lines.append(
            i18n.gettext(
                locale, "Used {window}: **{used}** of {credits} · left: **{left}** · resets {when}"
            ).format(
                window=_window_words(locale, limit.period),
                used=status.used,
                credits=limit.credits,
                left=status.left,
                when=when(status.resets_at),
            )
        )
    lines.append(
        i18n.gettext(locale, "Jobs in progress: **{count}** of {most} at a time").format(
            count=status.in_flight, most=status.max_in_flight
        )
    )
    lines.append(i18n.gettext(locale, "Cost per video:"))
    for model_id, costs in status.costs.items():
        model = MODELS.get(model_id)
        name = model.label if model else model_id
        needs = i18n.gettext(locale, " (animates an image)") if model and model.needs_image else ""
        lines.append(f"· {name}{needs}: {costs_line(costs, locale)}")
    lines.extend(notes)
    return fit_lines(lines, [], locale=locale)


def _approval_words(locale: str | None, approval: ApprovalStatus) -> str | None:
    """A held job's review in a few words (None when the review says nothing /jobs shows)."""
    if approval is ApprovalStatus.WAITING:
        return i18n.gettext(locale, "⏳ waiting for a moderator")
    if approval is ApprovalStatus.DENIED:
        return i18n.gettext(locale, "⛔ denied by a moderator")
    if approval is ApprovalStatus.EXPIRED:
        return i18n.gettext(locale, "⌛ expired (not reviewed in time)")
    return None


def job_status_words(
    job: Job,
    *,
    refunded: bool = False,
    approval: ApprovalStatus | None = None,
    locale: str | None = None,
) -> str:
    """The job's outcome when finished, else its current stage, in a few words."""
    held = _approval_words(locale, approval) if approval is not None else None
    if held is not None and job.state in (JobState.PENDING, JobState.CANCELLED):
        return held
    if job.is_terminal:
        words = outcome_words(job.state, locale)
        if job.deleted_at is not None:
            # kept in /jobs, not refunded
            words = i18n.gettext(locale, "{outcome} · clip deleted").format(outcome=words)
        # Failed, cancelled and timed-out jobs are always refunded; say so only where it is news.
        if refunded:
            return i18n.gettext(locale, "{outcome} (refunded by a moderator)").format(outcome=words)
        return words
    words = stage_words(job.stage, locale)
    if job.stage is Stage.GENERATING and job.progress is not None:
        words += " " + format_percent(job.progress / 100, locale=i18n.babel_locale(locale))
    return f"⏳ {words}"


class JobNews(TypedDict, total=False):
    """What /jobs says about a job besides its state: a moderator's refund, its review, and
    the reader's language (`job_status_words`' options)."""

    refunded: bool
    approval: ApprovalStatus | None
    locale: str | None


def job_line(job: Job, **news: Unpack[JobNews]) -> str:
    """One /jobs line: id, stage or outcome, start, settings, prompt excerpt, card link."""
    locale = news.get("locale")
    link = card_link(job, locale)
    # <…> around the URL keeps Discord from unfurling a preview of every card.
    if link.startswith("https://"):
        card = i18n.gettext(locale, "[card](<{link}>)").format(link=link)
    else:
        card = i18n.gettext(locale, "no card")
    excerpt = prompt_as_text(job.prompt, limit=PROMPT_EXCERPT).replace("\n", " ")
    status = job_status_words(job, **news)
    seconds = i18n.gettext(locale, "{seconds} s").format(seconds=job.duration)
    return (
        f"`{job.id}` · {status} · {when(job.created_at)} · "
        f"{model_label(job)} {job.resolution} {seconds}{whose_image(job, locale)} · {excerpt} · "
        f"{card}"
    )


def describe_jobs(
    jobs: Sequence[Job],
    *,
    own: bool,
    user_id: int,
    refunded: Iterable[int] = (),
    approvals: Mapping[int, ApprovalStatus] | None = None,
    locale: str | None = None,
) -> str:
    """Build the /jobs answer (newest first), within Discord's message limit, in the language
    of `locale` (the asking member's: only they read it)."""
    who = f"<@{user_id}>"
    if not jobs:
        if own:
            return i18n.gettext(locale, "You have no video jobs in this server yet. Try `/video`.")
        return i18n.gettext(locale, "{member} has no video jobs in this server.").format(member=who)
    refunded_ids = set(refunded)
    statuses = approvals or {}
    lines = [
        job_line(j, refunded=j.id in refunded_ids, approval=statuses.get(j.id), locale=locale)
        for j in jobs
    ]
    if own:
        header = i18n.gettext(locale, "**Your latest video jobs**")
    else:
        header = i18n.gettext(locale, "**{member}'s latest video jobs**").format(member=who)
    return fit_lines([header], lines, locale=locale)


def check_jobs_target(actor_id: int, target_id: int, *, moderator: bool) -> None:
    """Refuse to show another member's jobs to a non-moderator."""
    if target_id != actor_id and not moderator:
        raise Refused(
            i18n.Text("Only moderators can see another member's jobs. Use `/jobs` for your own.")
        )


class GovernanceCog(commands.Cog):
    """Quotas and job history for members."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota")
    @app_commands.guild_only()
    async def quota_command(self, interaction: discord.Interaction[VideoBot]) -> None:
        """See your video credits: limit, used and left, when they reset, and what videos cost."""
        assert interaction.guild_id is not None
        guild_id, user_id = interaction.guild_id, interaction.user.id
        roles = role_ids(interaction.user)
        locale = member_locale(interaction)  # only the member sees the answer
        status = await self.bot.jobs.quota_status(guild_id, user_id, roles)
        explanation = explain_limit(
            await self.bot.storage.limits(guild_id),
            guild_id=guild_id,
            user_id=user_id,
            role_ids=roles,
            default=self.bot.jobs.config.default_limit,
            locale=locale,
        )
        notes = await member_notes(self.bot, guild_id, user_id, locale)
        await reply(interaction, describe_quota(status, explanation, notes=notes, locale=locale))

    @app_commands.command(name="jobs")
    @app_commands.guild_only()
    @app_commands.describe(member="Moderators only: whose jobs to show (default: yours)")
    async def jobs_command(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member | discord.User | None = None,
    ) -> None:
        """See your latest video jobs: stage or outcome, when they started, and their cards."""
        assert interaction.guild_id is not None
        actor = interaction.user.id
        target = member.id if member is not None else actor
        if target != actor:
            check_jobs_target(actor, target, moderator=await is_moderator(interaction))
        jobs = await self.bot.storage.jobs_for_user(interaction.guild_id, target, JOBS_SHOWN)
        refunded = [
            j.id
            for j in jobs
            if j.state is JobState.SUCCEEDED
            and any(e.kind == "refund" for e in await self.bot.storage.ledger_for_job(j.id))
        ]
        approvals = {
            job_id: a.status
            for job_id, a in (await self.bot.storage.approvals_for(j.id for j in jobs)).items()
        }
        answer = describe_jobs(
            jobs,
            own=target == actor,
            user_id=target,
            refunded=refunded,
            approvals=approvals,
            locale=member_locale(interaction),  # only the member sees the answer
        )
        await reply(interaction, answer)


async def member_notes(
    bot: VideoBot, guild_id: int, user_id: int, locale: str | None = None
) -> list[str]:
    """Extra /quota lines when the server is paused or the member is blocked."""
    notes: list[str] = []
    settings = await bot.storage.guild_settings(guild_id)
    if settings.paused:
        if settings.pause_reason:
            paused = i18n.gettext(locale, "⏸️ Video generation is paused in this server: {reason}")
            notes.append(paused.format(reason=settings.pause_reason))
        else:
            notes.append(i18n.gettext(locale, "⏸️ Video generation is paused in this server."))
    blocked = await bot.storage.blocked_member(guild_id, user_id)
    if blocked is not None:
        if blocked.reason:
            text = i18n.gettext(
                locale,
                "⛔ You are blocked from generating videos in this server. Reason: {reason}",
            )
            notes.append(text.format(reason=blocked.reason))
        else:
            notes.append(
                i18n.gettext(locale, "⛔ You are blocked from generating videos in this server.")
            )
    return notes


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(GovernanceCog(bot))
