"""Moderator settings: every setter changes what it says and leaves an audit row."""

from __future__ import annotations

import pytest

from storage.db import Database
from storage.models import GuildSettings, ScopedLimit

from .conftest import GUILD, MOD, T0, USER, Clock

ROLE = 5_000_000_000_000_005
CHAN = 6_000_000_000_000_006


async def actions(db: Database) -> list[tuple[str, str]]:
    return [(a.action, a.detail) for a in reversed(await db.audit_log(GUILD, limit=100))]


async def test_unknown_server_gets_defaults(db: Database) -> None:
    assert await db.guild_settings(GUILD) == GuildSettings(guild_id=GUILD)
    assert await db.limits(GUILD) == []
    assert await db.blocked_member(GUILD, USER) is None
    assert await db.audit_log(GUILD) == []


async def test_limits(db: Database, clock: Clock) -> None:
    await db.set_limit(GUILD, "role", ROLE, 5, "week", MOD)
    await db.set_limit(GUILD, "user", USER, 0, "day", MOD)
    await db.set_limit(GUILD, "server", GUILD, 3, "day", MOD)
    clock.advance(minutes=1)
    await db.set_limit(GUILD, "role", ROLE, 9, "month", MOD + 1)  # replaces
    got = await db.limits(GUILD)
    assert [(s.scope, s.target_id, s.credits, s.period) for s in got] == [
        ("server", GUILD, 3, "day"), ("role", ROLE, 9, "month"), ("user", USER, 0, "day"),
    ]  # fmt: skip
    assert got[1] == ScopedLimit(
        scope="role", target_id=ROLE, credits=9, period="month", set_by=MOD + 1,
        set_at=clock.now,
    )  # fmt: skip
    assert await db.limits(GUILD + 1) == []
    assert await db.clear_limit(GUILD, "user", USER, MOD) is True
    assert await db.clear_limit(GUILD, "user", USER, MOD) is False
    assert [s.scope for s in await db.limits(GUILD)] == ["server", "role"]
    assert await actions(db) == [
        ("limit.set", f"limit role {ROLE}: 5 credits per week"),
        ("limit.set", f"limit user {USER}: 0 credits per day"),
        ("limit.set", "limit server default: 3 credits per day"),
        ("limit.set", f"limit role {ROLE}: 9 credits per month"),
        ("limit.clear", f"limit user {USER} removed"),
    ]


@pytest.mark.parametrize(
    ("scope", "target", "credits", "period", "message"),
    [
        ("server", 123, 1, "day", "guild id"),
        ("role", ROLE, -1, "day", "credits"),
        ("role", ROLE, 1, "year", "period"),
        ("guild", ROLE, 1, "day", "scope"),
    ],
)
async def test_set_limit_refuses_nonsense(
    db: Database, scope: str, target: int, credits: int, period: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await db.set_limit(GUILD, scope, target, credits, period, MOD)  # type: ignore[arg-type]
    assert await db.limits(GUILD) == [] and await db.audit_log(GUILD) == []


async def test_guild_settings_setters(db: Database) -> None:
    await db.set_mod_role(GUILD, ROLE, MOD)
    await db.set_paused(GUILD, True, "holiday", MOD)
    await db.set_budget(GUILD, 12.5, MOD)
    await db.set_audit_channel(GUILD, CHAN, MOD)
    assert await db.allow_channel(GUILD, CHAN, MOD) is True
    assert await db.allow_channel(GUILD, CHAN, MOD) is False
    assert await db.allow_channel(GUILD, CHAN + 1, MOD) is True
    settings = await db.guild_settings(GUILD)
    assert settings == GuildSettings(
        guild_id=GUILD, mod_role_id=ROLE, paused=True, pause_reason="holiday",
        monthly_budget_usd=12.5, audit_channel_id=CHAN,
        allowed_channel_ids=frozenset({CHAN, CHAN + 1}),
    )  # fmt: skip
    assert await db.guild_settings(GUILD + 1) == GuildSettings(guild_id=GUILD + 1)

    await db.set_mod_role(GUILD, None, MOD)
    await db.set_paused(GUILD, False, "ignored when resuming", MOD)
    await db.set_budget(GUILD, None, MOD)
    await db.set_audit_channel(GUILD, None, MOD)
    assert await db.remove_channel(GUILD, CHAN, MOD) is True
    assert await db.remove_channel(GUILD, CHAN, MOD) is False
    assert await db.guild_settings(GUILD) == GuildSettings(
        guild_id=GUILD, allowed_channel_ids=frozenset({CHAN + 1})
    )
    assert await actions(db) == [
        ("modrole.set", f"moderator role set to role {ROLE}"),
        ("pause", "video generation paused: holiday"),
        ("budget.set", "monthly budget set to $12.50"),
        ("audit.channel", f"audit channel set to channel {CHAN}"),
        ("channels.allow", f"channel {CHAN} allowed"),
        ("channels.allow", f"channel {CHAN + 1} allowed"),
        ("modrole.clear", "moderator role cleared"),
        ("resume", "video generation resumed"),
        ("budget.clear", "monthly budget removed"),
        ("audit.channel", "audit channel turned off"),
        ("channels.remove", f"channel {CHAN} removed from the allowed list"),
    ]


@pytest.mark.parametrize("usd", [-0.01, float("nan"), float("inf")])
async def test_budget_must_be_a_sane_amount(db: Database, usd: float) -> None:
    with pytest.raises(ValueError, match="budget"):
        await db.set_budget(GUILD, usd, MOD)


async def test_block_and_unblock(db: Database, clock: Clock) -> None:
    await db.block_member(GUILD, USER, "spam", MOD)
    blocked = await db.blocked_member(GUILD, USER)
    assert blocked is not None
    assert (blocked.reason, blocked.blocked_by, blocked.blocked_at) == ("spam", MOD, T0)
    clock.advance(hours=1)
    await db.block_member(GUILD, USER, None, MOD + 1)  # blocking again replaces the reason
    again = await db.blocked_member(GUILD, USER)
    assert again is not None and (again.reason, again.blocked_by) == (None, MOD + 1)
    assert await db.blocked_member(GUILD + 1, USER) is None
    assert await db.unblock_member(GUILD, USER, MOD) is True
    assert await db.unblock_member(GUILD, USER, MOD) is False
    assert await db.blocked_member(GUILD, USER) is None
    assert await actions(db) == [
        ("block", f"user {USER} blocked: spam"),
        ("block", f"user {USER} blocked"),
        ("unblock", f"user {USER} unblocked"),
    ]


async def test_blocked_words_are_folded_and_unique(db: Database) -> None:
    assert await db.add_blocked_word(GUILD, "  Ünïcode ", MOD) is True
    assert await db.add_blocked_word(GUILD, "ünÏCODE", MOD) is False
    assert await db.add_blocked_word(GUILD, "Red   Panda", MOD) is True
    assert await db.add_blocked_word(GUILD, "CAT", MOD) is True
    assert (await db.guild_settings(GUILD)).blocked_words == ("cat", "red panda", "ünïcode")
    with pytest.raises(ValueError, match="empty"):
        await db.add_blocked_word(GUILD, "   ", MOD)
    assert await db.remove_blocked_word(GUILD, "Cat", MOD) is True
    assert await db.remove_blocked_word(GUILD, "cat", MOD) is False
    assert (await db.guild_settings(GUILD)).blocked_words == ("red panda", "ünïcode")
    assert await actions(db) == [
        ("words.add", "blocked word 'ünïcode'"),
        ("words.add", "blocked word 'red panda'"),
        ("words.add", "blocked word 'cat'"),
        ("words.remove", "unblocked word 'cat'"),
    ]


async def test_record_action_and_audit_log_order(db: Database, clock: Clock) -> None:
    for i in range(5):
        clock.advance(seconds=1)
        await db.record_action(GUILD, MOD, "refund", f"job {i} refunded")
    await db.record_action(GUILD + 1, MOD, "refund", "elsewhere")
    log = await db.audit_log(GUILD, limit=3)
    assert [e.detail for e in log] == ["job 4 refunded", "job 3 refunded", "job 2 refunded"]
    assert log[0].created_at == clock.now and log[0].actor_id == MOD
    with pytest.raises(ValueError):
        await db.record_action(GUILD, MOD, "", "no action name")
