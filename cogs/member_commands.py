"""`/quota` and `/jobs`: what a member may still generate, and what they asked for lately.

The commands are thin: `explain_limit`, `describe_quota` and `describe_jobs` hold the decisions
and the wording, and are tested without Discord.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

import bot.governance.quota as quota
from bot.catalogue import MODELS
from bot.jobs.contracts import QuotaStatus, Refused
from cogs.cards.text import card_link, model_label, prompt_as_text, whose_image
from cogs.common import is_moderator, reply, role_ids
from cogs.words import fit_lines, outcome_words, stage_words, when
from storage.approvals import ApprovalStatus
from storage.models import Job, JobState, Limit, ScopedLimit, Stage

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

JOBS_SHOWN = 10
PROMPT_EXCERPT = 60

_PERIOD_WORDS = {"day": "per day", "week": "per week", "month": "per month"}
_WINDOW_WORDS = {"day": "today (UTC)", "week": "this week (UTC)", "month": "this month (UTC)"}


@dataclass(frozen=True, slots=True)
class LimitExplanation:
    """The limit that applies to a member, the stored rule it came from, and why, in words."""

    applied: quota.AppliedLimit
    rule: ScopedLimit | None  # None for the operator's default
    reason: str

    @property
    def limit(self) -> Limit:
        return self.applied.limit


def limit_words(limit: Limit) -> str:
    """'10 credits per day' (or 'no access' for 0)."""
    if limit.credits <= 0:
        return "no access (0 credits)"
    unit = "credit" if limit.credits == 1 else "credits"
    return f"{limit.credits} {unit} {_PERIOD_WORDS[limit.period]}"


def explain_limit(
    scoped: Sequence[ScopedLimit],
    *,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int],
    default: Limit,
) -> LimitExplanation:
    """Say which limit applies to a member and why (quota.pick_limits names the rule)."""
    applied = quota.pick_limits(
        scoped, guild_id=guild_id, user_id=user_id, role_ids=role_ids, default=default
    )
    rule = applied.rule
    if applied.source == "member":
        return LimitExplanation(applied, rule, "a limit set for this member (member override)")
    if applied.source == "role" and rule is not None:
        count = applied.role_candidates
        extra = f" (the most generous of {count} roles with a limit)" if count > 1 else ""
        return LimitExplanation(applied, rule, f"the limit of role <@&{rule.target_id}>{extra}")
    if applied.source == "server":
        return LimitExplanation(applied, rule, "this server's default limit")
    return LimitExplanation(
        applied, None, "the bot's default (no server, role or member limit is set)"
    )


def costs_line(costs: dict[tuple[str, int], int]) -> str:
    """What each resolution/duration costs, e.g. '768P·6 s: 1 · 768P·10 s: 2 · 1080P·6 s: 2'."""
    parts = []
    for (resolution, seconds), credits in costs.items():
        unit = "credit" if credits == 1 else "credits"
        parts.append(f"{resolution}·{seconds} s = {credits} {unit}")
    return " · ".join(parts)


def describe_quota(
    status: QuotaStatus, explanation: LimitExplanation, *, notes: Sequence[str] = ()
) -> str:
    """Build the /quota answer: the limit and its origin, used/left, reset, jobs in flight."""
    limit = status.applied.limit
    lines = ["**Your video quota in this server**"]
    if status.applied.no_access:
        lines.append(
            f"You have no access to video generation here: the limit that applies to you is "
            f"0 credits ({explanation.reason}). Ask a moderator if you think this is a mistake."
        )
    else:
        lines.append(f"Limit: **{limit_words(limit)}**, from {explanation.reason}.")
        lines.append(
            f"Used {_WINDOW_WORDS[limit.period]}: **{status.used}** of {limit.credits} · "
            f"left: **{status.left}** · resets {when(status.resets_at)}"
        )
    lines.append(f"Jobs in progress: **{status.in_flight}** of {status.max_in_flight} at a time")
    lines.append("Cost per video:")
    for model_id, costs in status.costs.items():
        model = MODELS.get(model_id)
        name = model.label if model else model_id
        needs = " (animates an image)" if model and model.needs_image else ""
        lines.append(f"· {name}{needs}: {costs_line(costs)}")
    lines.extend(notes)
    return fit_lines(lines, [])


_APPROVAL_WORDS = {
    ApprovalStatus.WAITING: "⏳ waiting for a moderator",
    ApprovalStatus.DENIED: "⛔ denied by a moderator",
    ApprovalStatus.EXPIRED: "⌛ expired (not reviewed in time)",
}


def job_status_words(
    job: Job, *, refunded: bool = False, approval: ApprovalStatus | None = None
) -> str:
    """The job's outcome when finished, else its current stage, in a few words."""
    if approval in _APPROVAL_WORDS and job.state in (JobState.PENDING, JobState.CANCELLED):
        return _APPROVAL_WORDS[approval]
    if job.is_terminal:
        words = outcome_words(job.state)
        if job.deleted_at is not None:
            words += " · clip deleted"  # kept in /jobs, not refunded
        # Failed, cancelled and timed-out jobs are always refunded; say so only where it is news.
        return f"{words} (refunded by a moderator)" if refunded else words
    words = stage_words(job.stage)
    if job.stage is Stage.GENERATING and job.progress is not None:
        words += f" {job.progress}%"
    return f"⏳ {words}"


def job_line(job: Job, *, refunded: bool = False, approval: ApprovalStatus | None = None) -> str:
    """One /jobs line: id, stage or outcome, start, settings, prompt excerpt, card link."""
    link = card_link(job)
    # <…> around the URL keeps Discord from unfurling a preview of every card.
    card = f"[card](<{link}>)" if link.startswith("https://") else "no card"
    excerpt = prompt_as_text(job.prompt, limit=PROMPT_EXCERPT).replace("\n", " ")
    return (
        f"`{job.id}` · {job_status_words(job, refunded=refunded, approval=approval)} · "
        f"{when(job.created_at)} · "
        f"{model_label(job)} {job.resolution} {job.duration} s{whose_image(job)} · {excerpt} · "
        f"{card}"
    )


def describe_jobs(
    jobs: Sequence[Job],
    *,
    own: bool,
    user_id: int,
    refunded: Iterable[int] = (),
    approvals: Mapping[int, ApprovalStatus] | None = None,
) -> str:
    """Build the /jobs answer (newest first), within Discord's message limit."""
    whose = "Your" if own else f"<@{user_id}>'s"
    if not jobs:
        return (
            "You have no video jobs in this server yet. Try `/video`."
            if own
            else f"<@{user_id}> has no video jobs in this server."
        )
    refunded_ids = set(refunded)
    statuses = approvals or {}
    lines = [job_line(j, refunded=j.id in refunded_ids, approval=statuses.get(j.id)) for j in jobs]
    return fit_lines([f"**{whose} latest video jobs**"], lines)


def check_jobs_target(actor_id: int, target_id: int, *, moderator: bool) -> None:
    """Refuse to show another member's jobs to a non-moderator."""
    if target_id != actor_id and not moderator:
        raise Refused("Only moderators can see another member's jobs. Use `/jobs` for your own.")


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
        status = await self.bot.jobs.quota_status(guild_id, user_id, roles)
        explanation = explain_limit(
            await self.bot.storage.limits(guild_id),
            guild_id=guild_id,
            user_id=user_id,
            role_ids=roles,
            default=self.bot.jobs.config.default_limit,
        )
        notes = await member_notes(self.bot, guild_id, user_id)
        await reply(interaction, describe_quota(status, explanation, notes=notes))

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
        await reply(
            interaction,
            describe_jobs(
                jobs, own=target == actor, user_id=target, refunded=refunded, approvals=approvals
            ),
        )


async def member_notes(bot: VideoBot, guild_id: int, user_id: int) -> list[str]:
    """Extra /quota lines when the server is paused or the member is blocked."""
    notes: list[str] = []
    settings = await bot.storage.guild_settings(guild_id)
    if settings.paused:
        why = f": {settings.pause_reason}" if settings.pause_reason else "."
        notes.append(f"⏸️ Video generation is paused in this server{why}")
    blocked = await bot.storage.blocked_member(guild_id, user_id)
    if blocked is not None:
        why = f" Reason: {blocked.reason}" if blocked.reason else ""
        notes.append(f"⛔ You are blocked from generating videos in this server.{why}")
    return notes


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(GovernanceCog(bot))
