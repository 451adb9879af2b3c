"""The rest of `/videoadmin` in words: pause and resume, blocks, the monthly budget, blocked
words, the audit channel, refunds and cancels, usage, the moderator role. The service in
`bot.governance.moderation` validates and writes; these functions turn its facts into the
moderator's answer (or raise `Refused`) and are tested without Discord. `cogs/admin/commands.py`
adapts the commands to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import bot.governance.moderation as moderation
from bot.governance.moderation import Target
from bot.governance.usage import usage_csv, usd
from bot.jobs.contracts import Refused
from bot.jobs.service import JobService
from cogs.cards.text import prompt_as_text
from cogs.usage import usage_summary
from cogs.words import fit_lines, plural, user, when
from storage.api import Storage


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
