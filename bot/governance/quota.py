"""Quota policy: what a run costs, which limit applies to a member, when windows reset, and
whether a run fits (`check_limits`).

Pure functions: no I/O, no Discord, no clock (callers pass `now`). `check_limits` is the one
limit check: the early check calls it on a snapshot (`Storage.usage_numbers`) before the
member's image is downloaded, and storage calls it again inside the reservation's write
transaction (`Policy.check` passed to `Storage.create_job_with_reservation`), so both always
agree. Cogs put a `Refusal` in words.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.catalogue import DEFAULT_MODEL, MODELS
from storage.api import UsageNumbers, UsageWindows
from storage.folding import fold, normalize_word
from storage.models import Limit, Period, ScopedLimit

# Credits per run, by model and (resolution, duration in seconds), from the catalogue (the one
# home of each model's settings); anything else is not offered.
MODEL_RUN_COSTS: dict[str, dict[tuple[str, int], int]] = {m.id: m.credits for m in MODELS.values()}
# The default model's table.
RUN_COSTS: dict[tuple[str, int], int] = MODEL_RUN_COSTS[DEFAULT_MODEL]

# Days a period is worth when comparing limits of different periods (month counts as 30).
PERIOD_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}

LimitSource = Literal["member", "role", "server", "default"]


def run_cost(resolution: str, duration: int, model: str = DEFAULT_MODEL) -> int:
    """Return the credits one run of `model` with these settings costs (ValueError if not)."""
    entry = MODELS.get(model)
    if entry is None:
        raise ValueError(f"unknown model {model!r} (choose one of {', '.join(MODELS)})")
    costs = entry.credits
    try:
        return costs[(resolution, duration)]
    except KeyError:
        allowed = ", ".join(f"{r}/{d}s" for r, d in costs)
        raise ValueError(
            f"{resolution} with {duration} s is not available (choose one of {allowed})"
        ) from None


def _as_utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


def window(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """Return the calendar window [start, end) in UTC of `period` that contains `now`."""
    now = _as_utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight, midnight + timedelta(days=1)
    if period == "week":
        start = midnight - timedelta(days=now.weekday())  # Monday is weekday 0
        return start, start + timedelta(days=7)
    if period == "month":
        start = midnight.replace(day=1)
        if start.month == 12:
            end = start.replace(year=start.year + 1, month=1)
        else:
            end = start.replace(month=start.month + 1)
        return start, end
    raise ValueError(f"unknown period {period!r} (day, week or month)")


def month_window(now: datetime) -> tuple[datetime, datetime]:
    """Return the calendar month [start, end) in UTC containing `now` (the budget window)."""
    return window("month", now)


def generosity(limit: Limit) -> float:
    """Return a limit's credits per day, so limits of different periods compare."""
    return limit.credits / PERIOD_DAYS[limit.period]


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    """The limit that applies to a member and where it came from."""

    limit: Limit
    source: LimitSource
    # The stored rule it came from (None for the operator's default), and for a role limit how
    # many of the member's roles had one. Not part of equality: the limit and source are.
    rule: ScopedLimit | None = field(default=None, compare=False)
    role_candidates: int = field(default=0, compare=False)

    @property
    def no_access(self) -> bool:
        """True when the applicable limit is 0 credits: the member may not generate."""
        return self.limit.credits <= 0


def applicable_limit(
    *,
    member: Limit | None,
    roles: Sequence[Limit],
    server: Limit | None,
    default: Limit,
) -> AppliedLimit:
    """Pick the member override, else the most generous role limit, else server, else default."""
    if member is not None:
        return _applied(member, "member")
    if roles:
        # Ties in credits per day go to the larger allowance (7/week beats 1/day).
        best = max(roles, key=lambda lim: (generosity(lim), lim.credits))
        return _applied(best, "role", role_candidates=len(roles))
    if server is not None:
        return _applied(server, "server")
    return _applied(default, "default")


def _applied(limit: Limit, source: LimitSource, *, role_candidates: int = 0) -> AppliedLimit:
    # ScopedLimit is a Limit subclass; callers compare AppliedLimit.limit by value.
    plain = limit if type(limit) is Limit else Limit(credits=limit.credits, period=limit.period)
    rule = limit if isinstance(limit, ScopedLimit) else None
    return AppliedLimit(plain, source, rule=rule, role_candidates=role_candidates)


def pick_limits(
    scoped: Sequence[ScopedLimit],
    *,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int],
    default: Limit,
) -> AppliedLimit:
    """Apply `applicable_limit` to a server's stored limit rows for one member.

    The result's `rule` is the stored row that applied: the one place that says which role's
    limit a member gets."""
    roles = set(role_ids)
    member = next((s for s in scoped if s.scope == "user" and s.target_id == user_id), None)
    server = next((s for s in scoped if s.scope == "server" and s.target_id == guild_id), None)
    role_limits = [s for s in scoped if s.scope == "role" and s.target_id in roles]
    return applicable_limit(member=member, roles=role_limits, server=server, default=default)


# ----------------------------------------------------------------------------------------------
# The limit check
# ----------------------------------------------------------------------------------------------
RefusalKind = Literal["no_access", "credits", "user_concurrency", "guild_concurrency", "budget"]
# Float sums of cents: $0.28 + $0.22 must fit a $0.50 budget exactly.
_USD_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a run does not fit: which limit, how much is used, the limit, and when it resets.

    `used`/`limit` are credits for "credits", job counts for the concurrency kinds and USD for
    "budget". `needs` is what this run would add (credits, or expected USD; None = unknown)."""

    what: RefusalKind
    used: float
    limit: float
    resets_at: datetime | None = None
    needs: float | None = None
    period: Period | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The limits one request is checked against, with the windows they count in."""

    credits: Limit
    credits_window: tuple[datetime, datetime]
    max_jobs_per_user: int
    max_jobs_per_guild: int
    monthly_budget_usd: float | None
    month_window: tuple[datetime, datetime]

    @property
    def windows(self) -> UsageWindows:
        """What storage reads the usage numbers in."""
        return UsageWindows(*self.credits_window, *self.month_window)

    def check(
        self, numbers: UsageNumbers, credits: int, expected_usd: float | None
    ) -> Refusal | None:
        """`check_limits` with this policy (the callable storage runs inside its transaction)."""
        return check_limits(numbers, self, credits=credits, expected_usd=expected_usd)


def check_limits(
    numbers: UsageNumbers, policy: Policy, *, credits: int, expected_usd: float | None
) -> Refusal | None:
    """Return None when a run of `credits` (expected to cost `expected_usd`) fits, else why not.

    Checked in this order: access, credits, the member's jobs in flight, the server's, budget.
    An unknown cost passes while budget is left (refusing it would block every run of a new
    setting, which has no past runs to take a median from), and is refused once it is used up."""
    limit = policy.credits
    if limit.credits <= 0:
        return Refusal("no_access", 0, 0)
    if numbers.credits_used + credits > limit.credits:
        return Refusal(
            "credits",
            numbers.credits_used,
            limit.credits,
            resets_at=policy.credits_window[1],
            needs=credits,
            period=limit.period,
        )
    if numbers.member_in_flight >= policy.max_jobs_per_user:
        return Refusal("user_concurrency", numbers.member_in_flight, policy.max_jobs_per_user)
    if numbers.guild_in_flight >= policy.max_jobs_per_guild:
        return Refusal("guild_concurrency", numbers.guild_in_flight, policy.max_jobs_per_guild)
    budget = policy.monthly_budget_usd
    if budget is not None:
        committed = numbers.spent_usd + numbers.in_flight_usd
        if expected_usd is None:
            over = committed >= budget - _USD_EPSILON
        else:
            over = committed + expected_usd > budget + _USD_EPSILON
        if over:
            return Refusal(
                "budget",
                round(committed, 4),
                budget,
                resets_at=policy.month_window[1],
                needs=expected_usd,
            )
    return None


def expected_run_cost_usd(price_from_tool: float | None, median_past: float | None) -> float | None:
    """Return the USD a run is expected to cost: Wiro's listed price, else the past median."""
    for value in (price_from_tool, median_past):
        # A zero or missing price means Wiro did not tell us, not that the run is free.
        if value is not None and math.isfinite(value) and value > 0:
            return float(value)
    return None


@functools.lru_cache(maxsize=4096)
def _word_pattern(word: str) -> re.Pattern[str] | None:
    parts = normalize_word(word).split(" ")
    if parts == [""]:
        return None
    body = r"\s+".join(re.escape(p) for p in parts)
    # Lookarounds instead of \b so words that begin or end in punctuation ("c++") still work.
    return re.compile(rf"(?<!\w){body}(?!\w)")


def blocked_word_in(prompt: str, words: Iterable[str]) -> str | None:
    """Return the first blocked word or phrase found as a whole word in `prompt`, else None."""
    text = fold(prompt)
    for word in words:
        pattern = _word_pattern(word)
        if pattern is not None and pattern.search(text):
            return word
    return None


__all__ = [
    "MODEL_RUN_COSTS",
    "PERIOD_DAYS",
    "RUN_COSTS",
    "AppliedLimit",
    "LimitSource",
    "Policy",
    "Refusal",
    "RefusalKind",
    "applicable_limit",
    "blocked_word_in",
    "check_limits",
    "expected_run_cost_usd",
    "generosity",
    "month_window",
    "normalize_word",
    "pick_limits",
    "run_cost",
    "window",
]
