"""The rest of `/videoadmin` in words: pause and resume, blocks, the monthly budget, blocked
words, the audit channel, refunds and cancels, usage, the moderator role. The service in
`bot.governance.moderation` validates and writes; these functions turn its facts into the
moderator's answer, in the moderator's language (`locale`), or raise `Refused` (which the error
funnel answers in that language), and are tested without Discord. `cogs/admin/commands.py` adapts
the commands to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import bot.governance.moderation as moderation
from bot import i18n
from bot.governance.moderation import Target
from bot.governance.usage import figure, usage_csv, usd
from bot.jobs.contracts import Refused
from bot.jobs.service import JobService
from cogs.cards.text import prompt_as_text
from cogs.usage import usage_summary
from cogs.words import channel, fit_lines, role, user, when
from storage.api import Storage


def _with_reason(text: str, sentence: str, reason: str | None) -> str:
    """`text`, then `sentence` (a translated template) quoting the reason when there is one."""
    return f"{text} {sentence.format(reason=reason)}" if reason else text


async def pause(
    storage: Storage, guild_id: int, reason: str | None, actor_id: int, locale: str | None = None
) -> str:
    """Stop new jobs in the server (jobs in flight finish)."""
    reason, was = await moderation.pause(storage, guild_id, reason, actor_id)
    if was:
        text = i18n.gettext(
            locale,
            "⏸️ Video generation is paused (it was already paused; the reason is updated). "
            "Jobs in progress will finish.",
        )
    else:
        text = i18n.gettext(locale, "⏸️ Video generation is paused. Jobs in progress will finish.")
    return _with_reason(text, i18n.gettext(locale, "Members see: “{reason}”."), reason)


async def resume(storage: Storage, guild_id: int, actor_id: int, locale: str | None = None) -> str:
    """Let new jobs start again."""
    if not await moderation.resume(storage, guild_id, actor_id):
        return i18n.gettext(locale, "Video generation is not paused.")
    return i18n.gettext(locale, "▶️ Video generation is back on.")


async def block(
    storage: Storage,
    guild_id: int,
    user_id: int,
    reason: str | None,
    actor_id: int,
    locale: str | None = None,
) -> str:
    """Block a member from /video."""
    reason, was = await moderation.block(storage, guild_id, user_id, reason, actor_id)
    if was:
        text = i18n.gettext(
            locale,
            "⛔ {member} can no longer generate videos here (already blocked; the reason is "
            "updated).",
        )
    else:
        text = i18n.gettext(locale, "⛔ {member} can no longer generate videos here.")
    text = text.format(member=user(user_id))
    why = i18n.gettext(locale, "Reason shown to them: “{reason}”.")
    return _with_reason(text, why, reason)


async def unblock(
    storage: Storage, guild_id: int, user_id: int, actor_id: int, locale: str | None = None
) -> str:
    """Lift a member's block, or refuse when there was none."""
    if not await moderation.unblock(storage, guild_id, user_id, actor_id):
        raise Refused(i18n.Text("{member} is not blocked.", member=user(user_id)))
    return i18n.gettext(locale, "{member} can generate videos again.").format(member=user(user_id))


async def set_budget(
    storage: Storage, guild_id: int, amount: float, actor_id: int, locale: str | None = None
) -> str:
    """Set the monthly USD cap."""
    amount = await moderation.set_budget(storage, guild_id, amount, actor_id)
    if amount == 0:
        return i18n.gettext(
            locale, "Monthly budget set to $0: no new videos can start until it is raised."
        )
    return i18n.gettext(
        locale,
        "Monthly budget set to **{amount}** (Wiro's cost, counted per calendar month, UTC).",
    ).format(amount=usd(amount, locale))


async def describe_budget(
    storage: Storage, guild_id: int, now: datetime, locale: str | None = None
) -> str:
    """The monthly cap, spending so far this month, jobs in flight and when it resets."""
    status = await moderation.budget_status(storage, guild_id, now)
    lines = [i18n.gettext(locale, "**Video budget**")]
    if status.cap is None or status.left is None:
        lines.append(i18n.gettext(locale, "No monthly budget is set: spending is not capped."))
    else:
        lines.append(
            i18n.gettext(locale, "Cap: **{cap}** per month · left: **{left}**").format(
                cap=usd(status.cap, locale), left=usd(status.left, locale)
            )
        )
    lines.append(
        i18n.gettext(
            locale, "Spent this month: {spent} · expected for jobs in progress: {in_flight}"
        ).format(spent=usd(status.spent, locale), in_flight=usd(status.in_flight, locale))
    )
    lines.append(
        i18n.gettext(locale, "The month resets {when}.").format(when=when(status.resets_at))
    )
    return "\n".join(lines)


async def add_word(
    storage: Storage, guild_id: int, word: str, actor_id: int, locale: str | None = None
) -> str:
    """Block a word or phrase in prompts (at most 200 per server)."""
    folded, added = await moderation.add_word(storage, guild_id, word, actor_id)
    shown = prompt_as_text(folded)
    if not added:
        raise Refused(i18n.Text("“{word}” is already blocked.", word=shown))
    return i18n.gettext(
        locale,
        "Blocked “{word}”: prompts containing it as a whole word, in any case, are refused.",
    ).format(word=shown)


async def remove_word(
    storage: Storage, guild_id: int, word: str, actor_id: int, locale: str | None = None
) -> str:
    """Unblock a word or phrase, or refuse when it was not blocked."""
    folded, removed = await moderation.remove_word(storage, guild_id, word, actor_id)
    shown = prompt_as_text(folded)
    if not removed:
        raise Refused(i18n.Text("“{word}” is not blocked.", word=shown))
    return i18n.gettext(locale, "Unblocked “{word}”.").format(word=shown)


def describe_words(words: Sequence[str], locale: str | None = None) -> tuple[str, bytes | None]:
    """List blocked words; when they do not all fit, also return the full list as a file."""
    if not words:
        return i18n.gettext(locale, "No words are blocked."), None
    items = [f"• {prompt_as_text(w)}" for w in words]
    header = [
        i18n.ngettext(
            locale,
            "**{count} blocked word** (whole words, any case)",
            "**{count} blocked words** (whole words, any case)",
            len(words),
        ).format(count=figure(len(words), locale))
    ]
    text = fit_lines(header, items, locale=locale)
    if text != "\n".join([*header, *items]):  # some were left out: send them all as a file
        attached = i18n.gettext(locale, "The full list is attached.")
        text = fit_lines(header, items, footer=[attached], locale=locale)
        return text, "\n".join(words).encode("utf-8")
    return text, None


async def set_audit_channel(
    storage: Storage,
    guild_id: int,
    channel_id: int | None,
    actor_id: int,
    locale: str | None = None,
) -> str:
    """Set (or turn off, with None) the channel that gets one line per finished job."""
    await moderation.set_audit_channel(storage, guild_id, channel_id, actor_id)
    if channel_id is None:
        return i18n.gettext(locale, "The audit channel is off.")
    return i18n.gettext(locale, "Every finished job will get one line in {channel}.").format(
        channel=channel(channel_id)
    )


moderator_cancel = moderation.cancel_job


def service_words(locale: str | None, said: str | i18n.Text) -> str:
    """What the job service said (a cancel's answer), in the language of `locale`: a `Text`, or
    English the service wrote, read back through the catalogs."""
    return said.render(locale) if isinstance(said, i18n.Text) else i18n.from_english(locale, said)


async def moderator_refund(
    storage: Storage,
    jobs: JobService,
    job_id: int,
    guild_id: int,
    actor_id: int,
    locale: str | None = None,
) -> str:
    """Refund any job of this server (cancelling it first if it runs) and say what happened."""
    outcome = await moderation.refund_job(storage, jobs, job_id, guild_id, actor_id)
    if outcome.cancelling is not None:
        later = i18n.gettext(
            locale,
            "A cancelled job's credits come back by themselves; if it finishes before Wiro stops "
            "it, refund it again once it is done.",
        )
        return f"{service_words(locale, outcome.cancelling)} {later}"
    job = outcome.job
    return i18n.ngettext(
        locale,
        "Refunded {count} credit to {member} for job {id}.",
        "Refunded {count} credits to {member} for job {id}.",
        job.credits,
    ).format(count=figure(job.credits, locale), member=user(job.user_id), id=job.id)


async def usage_report(
    storage: Storage,
    guild_id: int,
    *,
    days: int,
    user_id: int | None,
    now: datetime,
    locale: str | None = None,
) -> tuple[str, bytes, str]:
    """Return the usage summary, the CSV bytes and the CSV file name."""
    rows, name = await moderation.usage(storage, guild_id, days=days, user_id=user_id, now=now)
    by_model = await moderation.usage_by_model(
        storage, guild_id, days=days, user_id=user_id, now=now
    )
    summary = usage_summary(rows, days=days, user_id=user_id, by_model=by_model, locale=locale)
    return summary, usage_csv(rows), name


async def set_mod_role(
    storage: Storage, guild_id: int, target: Target, actor_id: int, locale: str | None = None
) -> str:
    """Make a role count as moderator for /videoadmin and cancelling others' jobs."""
    role_id = await moderation.set_mod_role(storage, guild_id, target, actor_id)
    return i18n.gettext(
        locale, "Members with {role} are now video moderators (as well as Manage Server)."
    ).format(role=role(role_id))


async def clear_mod_role(
    storage: Storage, guild_id: int, actor_id: int, locale: str | None = None
) -> str:
    """Forget the moderator role (Manage Server still counts)."""
    await moderation.clear_mod_role(storage, guild_id, actor_id)
    return i18n.gettext(
        locale, "The moderator role is cleared: only members with Manage Server are moderators now."
    )
