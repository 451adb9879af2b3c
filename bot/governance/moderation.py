"""Moderation: what moderators may change, checked, written through storage, audited.

Independent of Discord and written against the `storage.api.Storage` protocol. Each action
validates its input (raising `Refused` with the moderator-facing reason), writes through a
storage setter (which records who did what and when in the audit log) and returns facts: what
changed, what was already so, the numbers. `cogs/admin/commands.py` turns them into words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import bot.governance.quota as quota
from bot import i18n
from bot.jobs.contracts import RefundOutcome, Refused, check_in_server
from storage.api import JobNotFound, Storage
from storage.folding import normalize_word
from storage.models import (
    AuditEntry,
    Job,
    Limit,
    ModelUsageRow,
    Period,
    Scope,
    ScopedLimit,
    UsageRow,
)


class JobControls(Protocol):
    """What a moderator's cancel and refund ask of the job lifecycle (`JobService`)."""

    async def cancel(self, job_id: int, actor_id: int, *, is_moderator: bool) -> str: ...

    async def moderator_refund(
        self, job_id: int, actor_id: int, guild_id: int
    ) -> RefundOutcome: ...


MAX_CREDITS = 100_000
MAX_DAYS = 366
MAX_WORD_CHARS = 50
MAX_WORDS = 200
MAX_REASON_CHARS = 200
MAX_BUDGET_USD = 1_000_000.0
RECENT_CHANGES = 8
PERIODS: tuple[Period, ...] = ("day", "week", "month")
SCOPES: tuple[Scope, ...] = ("server", "role", "user")


# ----------------------------------------------------------------------------------------------
# Validation (pure)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Target:
    """A limit's target as given in the mentionable option, reduced to what validation needs."""

    kind: Literal["role", "member", "user"]
    id: int
    guild_id: int | None = None  # the role's or member's server; None for a plain user
    is_default_role: bool = False  # @everyone


def validate_scope(scope: str) -> Scope:
    """Return the scope, or refuse anything but server/role/user."""
    if scope not in SCOPES:
        raise Refused(i18n.Text("The scope must be `server`, `role` or `user`."))
    return scope


def validate_period(period: str) -> Period:
    """Return the period, or refuse anything but day/week/month."""
    if period not in PERIODS:
        raise Refused(i18n.Text("The period must be `day`, `week` or `month`."))
    return period


def validate_credits(credits: int) -> int:
    """Return credits in 0–100,000 (0 = no access), else refuse."""
    if not 0 <= credits <= MAX_CREDITS:
        raise Refused(
            i18n.Text(
                "Credits must be between 0 (no access) and {most}.", most=i18n.Number(MAX_CREDITS)
            )
        )
    return credits


def validate_limit_target(
    scope: str, target: Target | None, guild_id: int, *, clearing: bool = False
) -> int:
    """Return the stored target id for a scope (the guild id for server), or refuse."""
    scope = validate_scope(scope)
    if scope == "server":
        if target is not None:
            raise Refused(
                i18n.Text(
                    "Scope `server` sets the default for everyone: leave `target` empty. "
                    "For one role or member, use scope `role` or `user`."
                )
            )
        return guild_id
    if target is None:
        if scope == "role":
            raise Refused(i18n.Text("Scope `role` needs a role in `target`."))
        raise Refused(i18n.Text("Scope `user` needs a member in `target`."))
    if scope == "role":
        if target.kind != "role":
            raise Refused(i18n.Text("Scope `role` needs a role in `target`, not a member."))
        if target.guild_id != guild_id:
            raise Refused(i18n.Text("That role is not a role of this server."))
        if target.is_default_role:
            raise Refused(
                i18n.Text("@everyone is the whole server: use scope `server` for its limit.")
            )
        return target.id
    if target.kind == "role":
        raise Refused(i18n.Text("Scope `user` needs a member in `target`, not a role."))
    # A plain user (no member data) has left the server: a limit for them is pointless, but
    # clearing an old one must still be possible.
    if target.kind == "user" and not clearing:
        raise Refused(i18n.Text("That user is not a member of this server."))
    if target.kind == "member" and target.guild_id != guild_id:
        raise Refused(i18n.Text("That member is not in this server."))
    return target.id


def validate_days(days: int) -> int:
    """Return days in 1–366, else refuse."""
    if not 1 <= days <= MAX_DAYS:
        raise Refused(i18n.Text("Days must be between 1 and {most}.", most=i18n.Number(MAX_DAYS)))
    return days


def validate_budget(amount: float) -> float:
    """Return a monthly USD cap ≥ 0 (0 = no spending), else refuse."""
    if not math.isfinite(amount) or amount < 0:
        raise Refused(i18n.Text("The budget must be 0 (no spending) or a positive amount of USD."))
    if amount > MAX_BUDGET_USD:
        raise Refused(
            i18n.Text(
                "The budget can be at most {most} per month.", most=i18n.Money(MAX_BUDGET_USD)
            )
        )
    return round(amount, 2)


def validate_word(word: str) -> str:
    """Return the stored (folded) form of a blocked word, 1–50 characters, else refuse."""
    folded = normalize_word(word)
    if not folded:
        raise Refused(i18n.Text("The word is empty."))
    if len(folded) > MAX_WORD_CHARS:
        raise Refused(
            i18n.Text(
                "A blocked word or phrase can be at most {most} characters.", most=MAX_WORD_CHARS
            )
        )
    return folded


def validate_reason(reason: str | None) -> str | None:
    """Return the trimmed reason (None when empty), at most 200 characters, else refuse."""
    if reason is None:
        return None
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_CHARS:
        raise Refused(
            i18n.Text("The reason can be at most {most} characters.", most=MAX_REASON_CHARS)
        )
    return reason or None


def _role_of_this_server(
    role_guild_id: int | None, guild_id: int, *, is_default: bool, everyone: i18n.Text
) -> None:
    """The one check of a role a moderator names: of this server, and not @everyone."""
    if role_guild_id != guild_id:
        raise Refused(i18n.Text("That role is not a role of this server."))
    if is_default:
        raise Refused(everyone)


def validate_mod_role(role: Target, guild_id: int) -> int:
    """Return the id of a role of this server that can be the moderator role, else refuse."""
    _role_of_this_server(
        role.guild_id if role.kind == "role" else None,
        guild_id,
        is_default=role.is_default_role,
        everyone=i18n.Text("@everyone can't be the moderator role: that would make everyone one."),
    )
    return role.id


def check_trusted_role(role_guild_id: int | None, guild_id: int, *, is_default: bool) -> None:
    """Refuse a trusted role (approval) that is not a plain role of this server."""
    _role_of_this_server(
        role_guild_id,
        guild_id,
        is_default=is_default,
        everyone=i18n.Text(
            "@everyone can't be the trusted role: everyone would skip the queue. "
            "Use `/videoadmin approval off` instead."
        ),
    )


# ----------------------------------------------------------------------------------------------
# Actions (through storage; every setter writes the audit log)
# ----------------------------------------------------------------------------------------------
async def set_limit(
    storage: Storage,
    guild_id: int,
    scope: str,
    target_id: int,
    credits: int,
    period: str,
    actor_id: int,
) -> tuple[Scope, Limit]:
    """Set (or replace) the limit of the server, a role or a member; return what was set."""
    checked_scope = validate_scope(scope)
    checked_period = validate_period(period)
    validate_credits(credits)
    await storage.set_limit(guild_id, checked_scope, target_id, credits, checked_period, actor_id)
    return checked_scope, Limit(credits=credits, period=checked_period)


async def clear_limit(
    storage: Storage, guild_id: int, scope: str, target_id: int, actor_id: int
) -> tuple[Scope, bool]:
    """Remove a limit; the bool is False when there was none."""
    checked = validate_scope(scope)
    return checked, await storage.clear_limit(guild_id, checked, target_id, actor_id)


@dataclass(frozen=True, slots=True)
class LimitsOverview:
    """A server's limit rules and the latest moderator changes."""

    rules: list[ScopedLimit]
    changes: list[AuditEntry]

    @property
    def server_rule(self) -> ScopedLimit | None:
        return next((r for r in self.rules if r.scope == "server"), None)

    @property
    def has_role_or_member_rules(self) -> bool:
        return any(r.scope != "server" for r in self.rules)


async def limits_overview(
    storage: Storage, guild_id: int, recent: int = RECENT_CHANGES
) -> LimitsOverview:
    """Return the server's limit rules and its latest `recent` moderator actions."""
    rules = await storage.limits(guild_id)
    return LimitsOverview(rules, await storage.audit_log(guild_id, limit=recent))


async def allow_channel(
    storage: Storage, guild_id: int, channel_id: int, actor_id: int
) -> tuple[bool, int]:
    """Allow /video in a channel; return (newly added, how many channels are allowed now)."""
    added = await storage.allow_channel(guild_id, channel_id, actor_id)
    settings = await storage.guild_settings(guild_id)
    return added, len(settings.allowed_channel_ids)


async def remove_channel(
    storage: Storage, guild_id: int, channel_id: int, actor_id: int
) -> int | None:
    """Take a channel off the allowed list; return how many stay (None: it was not on it)."""
    if not await storage.remove_channel(guild_id, channel_id, actor_id):
        return None
    return len((await storage.guild_settings(guild_id)).allowed_channel_ids)


async def pause(
    storage: Storage, guild_id: int, reason: str | None, actor_id: int
) -> tuple[str | None, bool]:
    """Stop new jobs in the server; return (the stored reason, whether it was already paused)."""
    reason = validate_reason(reason)
    was = (await storage.guild_settings(guild_id)).paused
    await storage.set_paused(guild_id, True, reason, actor_id)
    return reason, was


async def resume(storage: Storage, guild_id: int, actor_id: int) -> bool:
    """Let new jobs start again; False when the server was not paused (nothing changes)."""
    if not (await storage.guild_settings(guild_id)).paused:
        return False
    await storage.set_paused(guild_id, False, None, actor_id)
    return True


async def block(
    storage: Storage, guild_id: int, user_id: int, reason: str | None, actor_id: int
) -> tuple[str | None, bool]:
    """Block a member from /video; return (the stored reason, whether they were already)."""
    reason = validate_reason(reason)
    was = await storage.blocked_member(guild_id, user_id)
    await storage.block_member(guild_id, user_id, reason, actor_id)
    return reason, was is not None


async def unblock(storage: Storage, guild_id: int, user_id: int, actor_id: int) -> bool:
    """Lift a member's block; False when they were not blocked."""
    return await storage.unblock_member(guild_id, user_id, actor_id)


async def set_budget(storage: Storage, guild_id: int, amount: float, actor_id: int) -> float:
    """Set the monthly USD cap; return the stored amount (rounded to cents)."""
    amount = validate_budget(amount)
    await storage.set_budget(guild_id, amount, actor_id)
    return amount


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """The monthly cap, what this month spent and what jobs in flight are expected to cost."""

    cap: float | None
    spent: float
    in_flight: float
    resets_at: datetime

    @property
    def left(self) -> float | None:
        """What may still be committed this month (None when there is no cap)."""
        if self.cap is None:
            return None
        return max(0.0, self.cap - self.spent - self.in_flight)


async def budget_status(storage: Storage, guild_id: int, now: datetime) -> BudgetStatus:
    """The server's budget for the calendar month (UTC) containing `now`."""
    start, end = quota.month_window(now)
    settings = await storage.guild_settings(guild_id)
    spent = await storage.spent_usd(guild_id, start, end)
    in_flight = await storage.in_flight_expected_usd(guild_id)
    return BudgetStatus(settings.monthly_budget_usd, spent, in_flight, end)


async def add_word(storage: Storage, guild_id: int, word: str, actor_id: int) -> tuple[str, bool]:
    """Block a word or phrase (at most 200 per server); return (its folded form, newly added)."""
    folded = validate_word(word)
    settings = await storage.guild_settings(guild_id)
    if folded in settings.blocked_words:
        return folded, False
    if len(settings.blocked_words) >= MAX_WORDS:
        raise Refused(
            i18n.Text(
                "This server already blocks {count} words. Remove some first.", count=MAX_WORDS
            )
        )
    await storage.add_blocked_word(guild_id, folded, actor_id)
    return folded, True


async def remove_word(
    storage: Storage, guild_id: int, word: str, actor_id: int
) -> tuple[str, bool]:
    """Unblock a word or phrase; return (its folded form, whether it was blocked)."""
    folded = validate_word(word)
    return folded, await storage.remove_blocked_word(guild_id, folded, actor_id)


async def set_audit_channel(
    storage: Storage, guild_id: int, channel_id: int | None, actor_id: int
) -> None:
    """Set (or turn off, with None) the channel that gets one line per finished job."""
    await storage.set_audit_channel(guild_id, channel_id, actor_id)


async def turn_approval_on(
    storage: Storage,
    guild_id: int,
    channel_id: int,
    trusted_role_id: int | None,
    actor_id: int,
) -> None:
    """Turn approval on (or change its review channel and trusted role); audited."""
    detail = f"approval on: review channel {channel_id}" + (
        f", trusted role {trusted_role_id}" if trusted_role_id else ""
    )
    await storage.set_approval(guild_id, enabled=True, review_channel_id=channel_id,
                               trusted_role_id=trusted_role_id, actor_id=actor_id,
                               detail=detail)  # fmt: skip


async def turn_approval_off(storage: Storage, guild_id: int, actor_id: int) -> None:
    """Turn approval off (requests already waiting still wait); refuse when it is off."""
    settings = await storage.approval_settings(guild_id)
    if settings is None or not settings.enabled:
        raise Refused(i18n.Text("Approval is already off."))
    await storage.set_approval(guild_id, enabled=False, review_channel_id=None,
                               trusted_role_id=None, actor_id=actor_id,
                               detail="approval off")  # fmt: skip


async def job_of_guild(storage: Storage, job_id: int, guild_id: int) -> Job:
    """Return a job of this server, or refuse."""
    try:
        job = await storage.get_job(job_id)
    except JobNotFound:
        raise Refused(i18n.Text("There is no job {id}.", id=job_id)) from None
    return check_in_server(job, guild_id)


async def cancel_job(
    storage: Storage, jobs: JobControls, job_id: int, guild_id: int, actor_id: int
) -> str:
    """Cancel any job of this server for a moderator (credits refunded when it stops)."""
    await job_of_guild(storage, job_id, guild_id)
    message = await jobs.cancel(job_id, actor_id, is_moderator=True)
    await storage.record_action(guild_id, actor_id, "cancel", f"job {job_id} cancelled")
    return message


async def refund_job(
    storage: Storage, jobs: JobControls, job_id: int, guild_id: int, actor_id: int
) -> RefundOutcome:
    """Refund any job of this server for a moderator (cancelling it first if it runs)."""
    await job_of_guild(storage, job_id, guild_id)
    return await jobs.moderator_refund(job_id, actor_id, guild_id)


async def usage(
    storage: Storage, guild_id: int, *, days: int, user_id: int | None, now: datetime
) -> tuple[list[UsageRow], str]:
    """Per-member totals of the last `days` days, and the name for their CSV file."""
    days = validate_days(days)
    rows = await storage.usage(guild_id, now - timedelta(days=days), user_id)
    name = f"video-usage-{now:%Y%m%d}-{days}d" + (f"-{user_id}" if user_id else "") + ".csv"
    return rows, name


async def usage_by_model(
    storage: Storage, guild_id: int, *, days: int, user_id: int | None, now: datetime
) -> list[ModelUsageRow]:
    """Per-model totals of the last `days` days (the same jobs as `usage`)."""
    days = validate_days(days)
    return await storage.usage_by_model(guild_id, now - timedelta(days=days), user_id)


async def set_mod_role(storage: Storage, guild_id: int, role: Target, actor_id: int) -> int:
    """Make a role count as moderator; return its id."""
    role_id = validate_mod_role(role, guild_id)
    await storage.set_mod_role(guild_id, role_id, actor_id)
    return role_id


async def clear_mod_role(storage: Storage, guild_id: int, actor_id: int) -> None:
    """Forget the moderator role (Manage Server still counts), or refuse when none is set."""
    if (await storage.guild_settings(guild_id)).mod_role_id is None:
        raise Refused(i18n.Text("No moderator role is set."))
    await storage.set_mod_role(guild_id, None, actor_id)
