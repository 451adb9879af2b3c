"""The quota policy: costs, calendar windows, which limit applies, blocked words."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.governance.quota import (
    AppliedLimit,
    Policy,
    Refusal,
    applicable_limit,
    blocked_word_in,
    check_limits,
    expected_run_cost_usd,
    generosity,
    month_window,
    pick_limits,
    run_cost,
    window,
)
from storage.api import UsageNumbers
from storage.models import Limit, ScopedLimit


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("resolution", "duration", "credits"),
    [("768P", 6, 1), ("768P", 10, 2), ("1080P", 6, 2)],
)
def test_run_cost(resolution: str, duration: int, credits: int) -> None:
    assert run_cost(resolution, duration) == credits


@pytest.mark.parametrize(
    ("model", "resolution", "duration", "credits"),
    [
        ("hailuo-2.3", "768P", 6, 1),
        ("hailuo-2.3", "768P", 10, 2),
        ("hailuo-2.3", "1080P", 6, 2),
        ("hailuo-2.3-fast", "768P", 6, 1),
        ("hailuo-2.3-fast", "768P", 10, 1),
        ("hailuo-2.3-fast", "1080P", 6, 1),
    ],
)
def test_run_cost_per_model(model: str, resolution: str, duration: int, credits: int) -> None:
    assert run_cost(resolution, duration, model) == credits


def test_every_model_of_the_catalogue_has_costs_for_the_same_settings() -> None:
    from bot.catalogue import MODELS
    from bot.governance.quota import MODEL_RUN_COSTS, RUN_COSTS

    assert set(MODEL_RUN_COSTS) == set(MODELS)
    assert RUN_COSTS is MODEL_RUN_COSTS["hailuo-2.3"]
    assert {frozenset(c) for c in MODEL_RUN_COSTS.values()} == {frozenset(RUN_COSTS)}


def test_run_cost_refuses_an_unknown_model() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        run_cost("768P", 6, "hailuo-9")


@pytest.mark.parametrize(("resolution", "duration"), [("1080P", 10), ("768P", 8), ("4K", 6)])
def test_run_cost_refuses_combinations_not_offered(resolution: str, duration: int) -> None:
    with pytest.raises(ValueError, match="not available"):
        run_cost(resolution, duration)


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("day", utc(2026, 3, 14, 15, 9, 26), utc(2026, 3, 14), utc(2026, 3, 15)),
        ("day", utc(2026, 3, 14), utc(2026, 3, 14), utc(2026, 3, 15)),
        ("day", utc(2026, 12, 31, 23, 59, 59, 999999), utc(2026, 12, 31), utc(2027, 1, 1)),
        ("day", utc(2028, 2, 29, 12), utc(2028, 2, 29), utc(2028, 3, 1)),
        ("day", utc(2028, 2, 28, 23, 59), utc(2028, 2, 28), utc(2028, 2, 29)),
        # Weeks start on Monday: 2026-11-23 is a Monday.
        ("week", utc(2026, 11, 23), utc(2026, 11, 23), utc(2026, 11, 30)),
        ("week", utc(2026, 11, 29, 23, 59, 59), utc(2026, 11, 23), utc(2026, 11, 30)),
        ("week", utc(2026, 11, 30), utc(2026, 11, 30), utc(2026, 12, 7)),
        ("week", utc(2026, 12, 31, 8), utc(2026, 12, 28), utc(2027, 1, 4)),
        ("week", utc(2028, 3, 1), utc(2028, 2, 28), utc(2028, 3, 6)),
        ("month", utc(2026, 1, 31, 23, 59, 59), utc(2026, 1, 1), utc(2026, 2, 1)),
        ("month", utc(2026, 2, 1), utc(2026, 2, 1), utc(2026, 3, 1)),
        ("month", utc(2028, 2, 29, 23, 59), utc(2028, 2, 1), utc(2028, 3, 1)),
        ("month", utc(2026, 12, 31, 23, 59, 59), utc(2026, 12, 1), utc(2027, 1, 1)),
        ("month", utc(2027, 1, 1), utc(2027, 1, 1), utc(2027, 2, 1)),
    ],
)
def test_window(period: str, now: datetime, start: datetime, end: datetime) -> None:
    got = window(period, now)  # type: ignore[arg-type]
    assert got == (start, end)
    assert got[0] <= now < got[1]
    assert got[0].tzinfo is UTC


def test_window_converts_other_offsets_to_utc() -> None:
    # 00:30 on the 1st in UTC+2 is still the previous month in UTC.
    now = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert window("month", now) == (utc(2026, 2, 1), utc(2026, 3, 1))
    assert month_window(now) == window("month", now)


def test_window_refuses_naive_and_unknown_period() -> None:
    with pytest.raises(ValueError, match="aware"):
        window("day", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown period"):
        window("year", utc(2026, 1, 1))  # type: ignore[arg-type]


def test_generosity() -> None:
    assert generosity(Limit(credits=3, period="day")) == 3
    assert generosity(Limit(credits=14, period="week")) == 2
    assert generosity(Limit(credits=60, period="month")) == 2


DAY5 = Limit(credits=5, period="day")
DAY1 = Limit(credits=1, period="day")
WEEK7 = Limit(credits=7, period="week")
WEEK20 = Limit(credits=20, period="week")
MONTH100 = Limit(credits=100, period="month")
ZERO = Limit(credits=0, period="day")
DEFAULT = Limit(credits=10, period="day")


@pytest.mark.parametrize(
    ("member", "roles", "server", "expected", "source"),
    [
        (None, [], None, DEFAULT, "default"),
        (None, [], WEEK7, WEEK7, "server"),
        (None, [DAY1], WEEK20, DAY1, "role"),  # a role beats the server default, even if lower
        (None, [DAY1, WEEK20], None, WEEK20, "role"),  # 20/7 per day > 1 per day
        (None, [WEEK20, MONTH100], None, MONTH100, "role"),  # 3.33/day > 2.86/day
        (None, [DAY1, WEEK7], None, WEEK7, "role"),  # same per day: more credits wins
        (None, [WEEK7, DAY1], None, WEEK7, "role"),  # order does not matter
        (None, [ZERO, DAY1], None, DAY1, "role"),
        (DAY1, [DAY5, WEEK20], MONTH100, DAY1, "member"),  # an override wins even when lower
        (ZERO, [DAY5], DAY5, ZERO, "member"),
        (None, [], ZERO, ZERO, "server"),
    ],
)
def test_applicable_limit(
    member: Limit | None,
    roles: list[Limit],
    server: Limit | None,
    expected: Limit,
    source: str,
) -> None:
    applied = applicable_limit(member=member, roles=roles, server=server, default=DEFAULT)
    assert applied == AppliedLimit(expected, source)  # type: ignore[arg-type]
    assert applied.no_access == (expected.credits == 0)


def test_default_of_zero_means_no_access() -> None:
    applied = applicable_limit(member=None, roles=[], server=None, default=ZERO)
    assert applied.no_access and applied.source == "default"


GUILD, USER, ROLE_A, ROLE_B = 100, 200, 300, 400


def scoped(scope: str, target: int, credits: int, period: str) -> ScopedLimit:
    return ScopedLimit(scope=scope, target_id=target, credits=credits, period=period)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "role_ids", "expected", "source"),
    [
        ([], [ROLE_A], DEFAULT, "default"),
        ([scoped("server", GUILD, 7, "week")], [], WEEK7, "server"),
        ([scoped("server", 999, 7, "week")], [], DEFAULT, "default"),  # another server's row
        ([scoped("role", ROLE_A, 5, "day")], [ROLE_B], DEFAULT, "default"),  # not the member's
        (
            [scoped("role", ROLE_A, 1, "day"), scoped("role", ROLE_B, 20, "week")],
            [ROLE_A, ROLE_B],
            WEEK20,
            "role",
        ),
        (
            [scoped("user", USER, 0, "day"), scoped("role", ROLE_A, 5, "day")],
            [ROLE_A],
            ZERO,
            "member",
        ),
        ([scoped("user", 999, 1, "day")], [], DEFAULT, "default"),  # someone else's override
    ],
)
def test_pick_limits(
    rows: list[ScopedLimit], role_ids: list[int], expected: Limit, source: str
) -> None:
    applied = pick_limits(rows, guild_id=GUILD, user_id=USER, role_ids=role_ids, default=DEFAULT)
    assert applied.limit == expected
    assert applied.source == source


@pytest.mark.parametrize(
    ("price", "median", "expected"),
    [
        (0.42, 0.3, 0.42),
        (None, 0.3, 0.3),
        (0.0, 0.3, 0.3),  # zero means "Wiro did not say"
        (float("nan"), None, None),
        (None, None, None),
    ],
)
def test_expected_run_cost_usd(
    price: float | None, median: float | None, expected: float | None
) -> None:
    assert expected_run_cost_usd(price, median) == expected


@pytest.mark.parametrize(
    ("prompt", "words", "found"),
    [
        ("a cat in a hat", ["cat"], "cat"),
        ("a CAT in a hat", ["cat"], "cat"),
        ("a cat in a hat", ["CAT"], "CAT"),
        ("a first-class ticket", ["ass"], None),  # whole words only
        ("an ass on a hill", ["ass"], "ass"),
        ("ass.", ["ass"], "ass"),
        ("catalogue", ["cat"], None),
        ("bobcat", ["cat"], None),
        ("Ünïcode everywhere", ["ünïcode"], "ünïcode"),
        ("love ünïcode!", ["Ünïcode"], "Ünïcode"),
        ("ünïcodes", ["ünïcode"], None),
        ("Straße bei Nacht", ["STRASSE"], "STRASSE"),  # casefold: ß == ss
        ("ＣＡＴ", ["cat"], "cat"),  # fullwidth letters fold to ASCII
        (unicodedata.normalize("NFD", "Ünïcode!"), ["ünïcode"], "ünïcode"),  # decomposed
        ("a red   Panda sleeps", ["red panda"], "red panda"),  # phrase, any whitespace
        ("a red pandas", ["red panda"], None),
        ("bored panda", ["red panda"], None),
        ("learn c++ today", ["c++"], "c++"),
        ("кошка спит", ["КОШКА"], "КОШКА"),
        ("猫が寝ている", ["犬"], None),
        ("nothing here", [], None),
        ("spaces only", ["  "], None),  # an empty word never matches
        ("dog and cat", ["cat", "dog"], "cat"),  # first listed word wins
    ],
)
def test_blocked_word_in(prompt: str, words: list[str], found: str | None) -> None:
    assert blocked_word_in(prompt, words) == found


@pytest.mark.parametrize(
    "prompt",
    ["a bad\u200bword here", "bad\u00adword", "BAD\u2060WORD!", "x badword\ufeff y"],
)
def test_invisible_characters_do_not_hide_a_blocked_word(prompt: str) -> None:
    assert blocked_word_in(prompt, ["badword"]) == "badword"


# --- the one limit check ----------------------------------------------------------------------
NOW = utc(2026, 11, 26, 12)
DAY_END, MONTH_END = utc(2026, 11, 27), utc(2026, 12, 1)


def numbers(**values: float) -> UsageNumbers:
    base: dict[str, float] = dict(
        credits_used=0, member_in_flight=0, guild_in_flight=0, spent_usd=0.0, in_flight_usd=0.0
    )
    return UsageNumbers(**(base | values))  # type: ignore[arg-type]


def policy(credits: int = 3, budget: float | None = 1.0) -> Policy:
    return Policy(
        credits=Limit(credits=credits, period="day"),
        credits_window=window("day", NOW),
        max_jobs_per_user=2,
        max_jobs_per_guild=5,
        monthly_budget_usd=budget,
        month_window=month_window(NOW),
    )


@pytest.mark.parametrize(
    ("used", "rules", "cost", "usd", "expected"),
    [
        ({}, policy(), 1, 0.2, None),
        ({}, policy(credits=0), 1, 0.2, Refusal("no_access", 0, 0)),
        ({"credits_used": 2}, policy(), 1, 0.2, None),  # exactly fills the limit
        (
            {"credits_used": 2},
            policy(),
            2,
            0.2,
            Refusal("credits", 2, 3, resets_at=DAY_END, needs=2, period="day"),
        ),
        ({"member_in_flight": 2}, policy(), 1, 0.2, Refusal("user_concurrency", 2, 2)),
        ({"guild_in_flight": 5}, policy(), 1, 0.2, Refusal("guild_concurrency", 5, 5)),
        # Credits are checked before jobs in flight, and those before the budget.
        (
            {"credits_used": 3, "member_in_flight": 2, "spent_usd": 9.0},
            policy(),
            1,
            0.2,
            Refusal("credits", 3, 3, resets_at=DAY_END, needs=1, period="day"),
        ),
        # Budget: spent this month + expected in flight + this run, to the cent.
        ({"spent_usd": 0.5, "in_flight_usd": 0.28}, policy(), 1, 0.22, None),
        (
            {"spent_usd": 0.5, "in_flight_usd": 0.28},
            policy(),
            1,
            0.23,
            Refusal("budget", 0.78, 1.0, resets_at=MONTH_END, needs=0.23),
        ),
        # An unknown cost passes while money is left, and not once the budget is used up
        # (the early check used to count it as $0 and let it through).
        ({"spent_usd": 0.99}, policy(), 1, None, None),
        (
            {"spent_usd": 1.0},
            policy(),
            1,
            None,
            Refusal("budget", 1.0, 1.0, resets_at=MONTH_END, needs=None),
        ),
        ({}, policy(budget=0.0), 1, None, Refusal("budget", 0, 0.0, resets_at=MONTH_END)),
        ({"spent_usd": 50.0}, policy(budget=None), 1, None, None),  # no budget set
    ],
)
def test_check_limits(
    used: dict[str, float], rules: Policy, cost: int, usd: float | None, expected: Refusal | None
) -> None:
    assert check_limits(numbers(**used), rules, credits=cost, expected_usd=usd) == expected
    assert rules.check(numbers(**used), cost, usd) == expected


def test_policy_windows_are_what_storage_reads() -> None:
    windows = policy().windows
    assert (windows.credits_start, windows.credits_end) == (utc(2026, 11, 26), DAY_END)
    assert (windows.month_start, windows.month_end) == (utc(2026, 11, 1), MONTH_END)


def test_pick_limits_names_the_rule_that_applied() -> None:
    def rule(scope: str, target: int, credits: int, period: str = "day") -> ScopedLimit:
        return ScopedLimit(scope=scope, target_id=target, credits=credits, period=period)  # type: ignore[arg-type]

    rules = [rule("server", 1, 2), rule("role", 10, 5), rule("role", 11, 28, "week")]
    applied = pick_limits(
        rules, guild_id=1, user_id=7, role_ids=[10, 11], default=Limit(credits=1, period="day")
    )
    # 28/week (4 a day) loses to 5/day: the role rule that applied is role 10's.
    assert applied.source == "role" and applied.rule == rules[1]
    assert applied.role_candidates == 2
    server = pick_limits(
        rules, guild_id=1, user_id=7, role_ids=[], default=Limit(credits=1, period="day")
    )
    assert server.rule == rules[0] and server.role_candidates == 0
    default = pick_limits(
        [], guild_id=1, user_id=7, role_ids=[], default=Limit(credits=1, period="day")
    )
    assert default.source == "default" and default.rule is None
