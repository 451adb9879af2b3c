"""/videoadmin: validation tables and the storage-backed actions against a real SQLite file."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import discord
import pytest

from bot.governance.moderation import (
    MAX_WORDS,
    Target,
    validate_budget,
    validate_credits,
    validate_days,
    validate_limit_target,
    validate_period,
    validate_reason,
    validate_word,
)
from bot.governance.quota import blocked_word_in
from bot.governance.usage import CSV_HEADER
from bot.jobs.contracts import Refused
from bot.jobs.service import JobService
from cogs.admin import limits, server
from storage.db import Database
from storage.models import JobState, UsageRow
from tests.cogs.conftest import (
    CHANNEL,
    DEFAULT,
    GUILD,
    MOD,
    OTHER,
    OTHER_GUILD,
    ROLE_A,
    ROLE_B,
    T0,
    USER,
    Clock,
    make_job,
    make_member,
    make_role,
)

ROLE = Target("role", ROLE_A, GUILD)
EVERYONE = Target("role", GUILD, GUILD, is_default_role=True)
FOREIGN_ROLE = Target("role", ROLE_B, OTHER_GUILD)
MEMBER = Target("member", USER, GUILD)
FOREIGN_MEMBER = Target("member", USER, OTHER_GUILD)
LEFT_USER = Target("user", USER)
CAN_POST = discord.Permissions.text() | discord.Permissions(view_channel=True)


@pytest.mark.parametrize(
    ("scope", "target", "clearing", "expected"),
    [
        ("server", None, False, GUILD),
        ("server", ROLE, False, "leave `target` empty"),
        ("role", ROLE, False, ROLE_A),
        ("role", None, False, "needs a role"),
        ("role", MEMBER, False, "not a member"),
        ("role", FOREIGN_ROLE, False, "not a role of this server"),
        ("role", EVERYONE, False, "use scope `server`"),
        ("user", MEMBER, False, USER),
        ("user", None, False, "needs a member"),
        ("user", ROLE, False, "not a role"),
        ("user", FOREIGN_MEMBER, False, "not in this server"),
        ("user", LEFT_USER, False, "not a member of this server"),
        ("user", LEFT_USER, True, USER),
        ("galaxy", None, False, "scope must be"),
    ],
)
def test_validate_limit_target(scope, target, clearing, expected) -> None:
    if isinstance(expected, int):
        assert validate_limit_target(scope, target, GUILD, clearing=clearing) == expected
    else:
        with pytest.raises(Refused, match=expected):
            validate_limit_target(scope, target, GUILD, clearing=clearing)


def test_target_of_spec_discord_objects() -> None:
    assert limits.target_of(None) is None
    assert limits.target_of(make_role(ROLE_A)) == Target("role", ROLE_A, GUILD)
    assert limits.target_of(make_role(GUILD, default=True)).is_default_role  # type: ignore[union-attr]
    assert limits.target_of(make_member(USER)) == Target("member", USER, GUILD)


@pytest.mark.parametrize(
    ("fn", "value", "ok"),
    [
        (validate_credits, 0, True),
        (validate_credits, 100_000, True),
        (validate_credits, 100_001, False),
        (validate_credits, -1, False),
        (validate_days, 1, True),
        (validate_days, 366, True),
        (validate_days, 0, False),
        (validate_days, 367, False),
        (validate_budget, 0.0, True),
        (validate_budget, 12.5, True),
        (validate_budget, -0.01, False),
        (validate_budget, float("nan"), False),
        (validate_budget, float("inf"), False),
        (validate_period, "week", True),
        (validate_period, "year", False),
        (validate_word, "ok", True),
        (validate_word, "x" * 50, True),
        (validate_word, "x" * 51, False),
        (validate_word, "   ", False),
        (validate_reason, "x" * 200, True),
        (validate_reason, "x" * 201, False),
    ],
)
def test_validators(fn, value, ok: bool) -> None:
    if ok:
        fn(value)
    else:
        with pytest.raises(Refused):
            fn(value)


@pytest.mark.parametrize(
    ("channel_guild", "perms", "need_send", "result"),
    [
        (GUILD, CAN_POST, False, []),
        (OTHER_GUILD, CAN_POST, False, "not in this server"),
        (GUILD, discord.Permissions.none(), False, "can't see"),
        (GUILD, discord.Permissions(view_channel=True), False,
         ["Send Messages", "Embed Links", "Attach Files", "Read Message History"]),
        (GUILD, discord.Permissions(view_channel=True), True, "can't send"),
        (GUILD, None, True, []),
    ],
)  # fmt: skip
def test_validate_channel(channel_guild, perms, need_send, result) -> None:
    if isinstance(result, list):
        assert limits.validate_channel(channel_guild, GUILD, perms, need_send=need_send) == result
    else:
        with pytest.raises(Refused, match=result):
            limits.validate_channel(channel_guild, GUILD, perms, need_send=need_send)


async def test_limit_set_clear_and_show(db: Database) -> None:
    text = await limits.apply_limit(db, GUILD, "role", ROLE_A, 20, "week", MOD)
    assert f"<@&{ROLE_A}>" in text and "20 credits per week" in text
    await limits.apply_limit(db, GUILD, "server", GUILD, 3, "day", MOD)
    text = await limits.apply_limit(db, GUILD, "user", OTHER, 0, "day", MOD)
    assert "no access" in text
    rules = {
        (r.scope, r.target_id): (r.credits, r.period, r.set_by) for r in await db.limits(GUILD)
    }
    assert rules == {
        ("server", GUILD): (3, "day", MOD),
        ("role", ROLE_A): (20, "week", MOD),
        ("user", OTHER): (0, "day", MOD),
    }
    shown = await limits.describe_limits(
        db, GUILD, default=DEFAULT, member_id=USER, member_role_ids=[ROLE_A, ROLE_B]
    )
    assert f"For <@{USER}>: **20 credits per week**, from the limit of role <@&{ROLE_A}>" in shown
    assert "Server default: 3 credits per day" in shown
    assert "Bot default (operator's environment): 10 credits per day" in shown
    assert "Latest changes" in shown and "limit.set" in shown

    assert "Removed" in await limits.remove_limit(db, GUILD, "role", ROLE_A, MOD)
    with pytest.raises(Refused, match="no limit"):
        await limits.remove_limit(db, GUILD, "role", ROLE_A, MOD)
    shown = await limits.describe_limits(db, GUILD, default=DEFAULT, member_id=USER,
                                        member_role_ids=[ROLE_A])  # fmt: skip
    assert f"For <@{USER}>: **3 credits per day**, from this server's default" in shown
    log = await db.audit_log(GUILD)
    assert [e.action for e in log[:2]] == ["limit.clear", "limit.set"]
    assert all(e.actor_id == MOD for e in log)


async def test_limit_show_fits_discord_with_many_rules(db: Database) -> None:
    for i in range(300):
        await db.set_limit(GUILD, "user", 10**17 + i, i, "month", MOD)
    text = await limits.describe_limits(db, GUILD, default=DEFAULT, member_id=USER)
    assert len(text) <= 2000
    assert "more" in text and "Latest changes" in text


async def test_channels_allow_remove_list(db: Database) -> None:
    assert "every channel" in limits.describe_channels(set())
    text = await limits.allow_channel(db, GUILD, CHANNEL, MOD, missing=["Attach Files"])
    assert "now allowed" in text and "Attach Files" in text
    assert "already allowed" in await limits.allow_channel(db, GUILD, CHANNEL, MOD)
    await limits.allow_channel(db, GUILD, CHANNEL + 1, MOD)
    listed = limits.describe_channels(
        (await db.guild_settings(GUILD)).allowed_channel_ids, exists=lambda c: c == CHANNEL
    )
    assert f"<#{CHANNEL}>" in listed and f"deleted channel {CHANNEL + 1}" in listed
    assert "still works" in await limits.remove_channel(db, GUILD, CHANNEL + 1, MOD)
    assert "every channel" in await limits.remove_channel(db, GUILD, CHANNEL, MOD)
    with pytest.raises(Refused, match="was not on the allowed list"):
        await limits.remove_channel(db, GUILD, CHANNEL, MOD)


async def test_pause_and_resume(db: Database, service: JobService) -> None:
    from tests.jobs.doubles import request

    assert "not paused" in await server.resume(db, GUILD, MOD)
    text = await server.pause(db, GUILD, "  maintenance   tonight ", MOD)
    assert "paused" in text and "“maintenance tonight”" in text
    with pytest.raises(Refused, match="paused in this server: maintenance tonight"):
        await service.precheck(request(guild_id=GUILD, channel_id=CHANNEL, user_id=USER))
    assert "already paused" in await server.pause(db, GUILD, None, MOD)
    assert (await db.guild_settings(GUILD)).pause_reason is None
    assert "back on" in await server.resume(db, GUILD, MOD)
    await service.precheck(request(guild_id=GUILD, channel_id=CHANNEL, user_id=USER))
    assert [e.action for e in await db.audit_log(GUILD)] == ["resume", "pause", "pause"]


async def test_block_and_unblock(db: Database, service: JobService) -> None:
    from tests.jobs.doubles import request

    text = await server.block(db, GUILD, USER, "spam", MOD)
    assert f"<@{USER}>" in text and "spam" in text
    with pytest.raises(Refused, match=r"blocked.*Reason: spam"):
        await service.precheck(request(guild_id=GUILD, channel_id=CHANNEL, user_id=USER))
    await service.precheck(request(guild_id=GUILD, channel_id=CHANNEL, user_id=OTHER))
    assert "already blocked" in await server.block(db, GUILD, USER, None, MOD)
    assert "again" in await server.unblock(db, GUILD, USER, MOD)
    with pytest.raises(Refused, match="is not blocked"):
        await server.unblock(db, GUILD, USER, MOD)
    assert await db.blocked_member(GUILD, USER) is None


async def test_budget_set_and_show(db: Database, clock: Clock) -> None:
    assert "not capped" in await server.describe_budget(db, GUILD, T0)
    assert "$25.00" in await server.set_budget(db, GUILD, 25, MOD)
    done = await make_job(db, JobState.DELIVERING)
    await db.transition(done.id, JobState.SUCCEEDED, total_cost_usd=4.5)
    await make_job(db, JobState.RUNNING, expected_cost_usd=0.5)
    last_month = await make_job(db, JobState.DELIVERING, now=T0 - timedelta(days=40))
    clock.now = T0 - timedelta(days=40)
    await db.transition(last_month.id, JobState.SUCCEEDED, total_cost_usd=99.0)
    clock.now = T0
    text = await server.describe_budget(db, GUILD, T0)
    assert "Cap: **$25.00**" in text and "left: **$20.00**" in text
    assert "Spent this month: $4.50" in text and "jobs in progress: $0.50" in text
    assert "<t:1775001600:R>" in text  # 2026-04-01T00:00Z
    assert "no new videos" in await server.set_budget(db, GUILD, 0, MOD)
    assert (await db.guild_settings(GUILD)).monthly_budget_usd == 0
    with pytest.raises(Refused):
        await server.set_budget(db, GUILD, -1, MOD)


@pytest.mark.parametrize(
    ("word", "prompt", "blocked"),
    [
        ("Cat", "a CAT sleeps", True),
        ("cat", "a catalogue of lamps", False),
        ("cat", "cat.", True),
        ("Straße", "eine STRASSE bei Nacht", True),
        ("ñandú", "un Ñandú corre", True),
        ("ñandú", "un ñandúes corre", False),
        ("red panda", "a Red   Panda surfing", True),
        ("猫", "一只 猫 在睡觉", True),
    ],
)
async def test_words_add_match_and_remove(
    db: Database, word: str, prompt: str, blocked: bool
) -> None:
    await server.add_word(db, GUILD, word, MOD)
    words = (await db.guild_settings(GUILD)).blocked_words
    assert (blocked_word_in(prompt, words) is not None) is blocked
    with pytest.raises(Refused, match="already blocked"):
        await server.add_word(db, GUILD, word.upper(), MOD)
    assert "Unblocked" in await server.remove_word(db, GUILD, word.upper(), MOD)
    assert (await db.guild_settings(GUILD)).blocked_words == ()
    with pytest.raises(Refused, match="is not blocked"):
        await server.remove_word(db, GUILD, word, MOD)


async def test_words_cap_and_list(db: Database) -> None:
    assert server.describe_words(()) == ("No words are blocked.", None)
    for i in range(MAX_WORDS):
        await db.add_blocked_word(GUILD, f"word{i:03d}-{'z' * 40}", MOD)
    with pytest.raises(Refused, match="already blocks 200"):
        await server.add_word(db, GUILD, "one-more", MOD)
    words = (await db.guild_settings(GUILD)).blocked_words
    text, full = server.describe_words(words)
    assert len(text) <= 2000 and "more" in text and "attached" in text
    assert full is not None and full.decode().splitlines() == list(words)
    text, full = server.describe_words(["*bold*", "@everyone"])
    assert full is None and "\\*bold\\*" in text and "@\u200beveryone" in text


async def test_audit_channel_and_modrole(db: Database) -> None:
    assert "<#" in await server.set_audit_channel(db, GUILD, CHANNEL, MOD)
    assert (await db.guild_settings(GUILD)).audit_channel_id == CHANNEL
    assert "off" in await server.set_audit_channel(db, GUILD, None, MOD)
    assert (await db.guild_settings(GUILD)).audit_channel_id is None

    with pytest.raises(Refused, match="No moderator role"):
        await server.clear_mod_role(db, GUILD, MOD)
    with pytest.raises(Refused, match="@everyone"):
        await server.set_mod_role(db, GUILD, EVERYONE, MOD)
    with pytest.raises(Refused, match="not a role of this server"):
        await server.set_mod_role(db, GUILD, FOREIGN_ROLE, MOD)
    await server.set_mod_role(db, GUILD, ROLE, MOD)
    assert (await db.guild_settings(GUILD)).mod_role_id == ROLE_A
    await server.clear_mod_role(db, GUILD, MOD)
    assert (await db.guild_settings(GUILD)).mod_role_id is None
    actions = [e.action for e in await db.audit_log(GUILD)]
    assert actions == ["modrole.clear", "modrole.set", "audit.channel", "audit.channel"]


async def test_moderator_cancels_a_pending_job_of_another_member(
    db: Database, service: JobService
) -> None:
    job = await make_job(db, credits=2)
    text = await server.moderator_cancel(db, service, job.id, GUILD, MOD)
    assert "cancelled" in text
    job = await db.get_job(job.id)
    assert job.state is JobState.CANCELLED and job.cancelled_by == MOD
    assert await db.credits_used(GUILD, USER, T0 - timedelta(days=1), T0 + timedelta(days=1)) == 0
    assert (await db.audit_log(GUILD))[0].action == "cancel"
    with pytest.raises(Refused, match="already finished"):
        await server.moderator_cancel(db, service, job.id, GUILD, MOD)


async def test_moderator_cancel_of_a_running_job_stops_it_at_wiro(
    db: Database, service: JobService
) -> None:
    job = await make_job(db, JobState.RUNNING)
    await db.update_job(job.id, wiro_task_id="t-1", wiro_task_token="tok")
    text = await server.moderator_cancel(db, service, job.id, GUILD, MOD)
    assert "Cancelling" in text
    service.wiro.stop.assert_awaited_once_with("t-1", "tok")  # type: ignore[attr-defined]
    assert (await db.get_job(job.id)).cancelled_by == MOD


@pytest.mark.parametrize("action", [server.moderator_cancel, server.moderator_refund])
async def test_refund_and_cancel_refuse_unknown_or_foreign_jobs(
    db: Database, service: JobService, action
) -> None:
    with pytest.raises(Refused, match="There is no job 999"):
        await action(db, service, 999, GUILD, MOD)
    foreign = await make_job(db, guild_id=OTHER_GUILD)
    with pytest.raises(Refused, match="does not belong to this server"):
        await action(db, service, foreign.id, GUILD, MOD)
    assert (await db.get_job(foreign.id)).state is JobState.PENDING


async def test_moderator_refunds_a_charged_job_once(db: Database, service: JobService) -> None:
    job = await make_job(db, JobState.DELIVERING, credits=2)
    await db.transition(job.id, JobState.SUCCEEDED)
    await db.charge(job.id, total_cost_usd=0.3)
    window = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert await db.credits_used(GUILD, USER, *window) == 2
    text = await server.moderator_refund(db, service, job.id, GUILD, MOD)
    assert "Refunded 2 credits" in text
    assert await db.credits_used(GUILD, USER, *window) == 0
    with pytest.raises(Refused, match="already refunded"):
        await server.moderator_refund(db, service, job.id, GUILD, MOD)
    assert (await db.audit_log(GUILD))[0].action == "refund"


async def test_moderator_refund_of_a_job_in_flight_cancels_it(
    db: Database, service: JobService
) -> None:
    job = await make_job(db, JobState.WAITING)
    text = await server.moderator_refund(db, service, job.id, GUILD, MOD)
    assert "cancelled" in text
    assert (await db.get_job(job.id)).state is JobState.CANCELLED
    assert [e.kind for e in await db.ledger_for_job(job.id)] == ["reserve", "refund"]


async def test_moderator_refund_while_the_clip_is_posted_says_to_refund_after(
    db: Database, service: JobService
) -> None:
    """A refund asked while the clip is being posted (say, Discord is down) is not a cancel:
    the answer says why nothing happened yet and when a refund works."""
    job = await make_job(db, JobState.DELIVERING, credits=2)
    with pytest.raises(Refused) as refused:
        await server.moderator_refund(db, service, job.id, GUILD, MOD)
    assert "Too late to cancel" not in refused.value.message
    assert "being posted" in refused.value.message and "refund again" in refused.value.message
    assert (await db.get_job(job.id)).state is JobState.DELIVERING
    assert [e.kind for e in await db.ledger_for_job(job.id)] == ["reserve"]


async def test_usage_report(db: Database, clock: Clock) -> None:
    ok = await make_job(db, JobState.DELIVERING, credits=2)
    await db.transition(ok.id, JobState.SUCCEEDED, total_cost_usd=0.25)
    await db.charge(ok.id, total_cost_usd=0.25)
    failed = await make_job(db, JobState.FAILED, user_id=OTHER)
    await db.refund(failed.id)
    await make_job(db, now=T0 - timedelta(days=10), user_id=OTHER)
    text, data, name = await server.usage_report(db, GUILD, days=7, user_id=None, now=T0)
    assert name == "video-usage-20260318-7d.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert rows == [
        {
            "user_id": str(USER),
            "jobs": "1",
            "succeeded": "1",
            "credits": "2",
            "usd": "0.250000",
            "denied": "0",
            "expired": "0",
            "from_others_images": "0",
            "image_authors": "",
        },
        {
            "user_id": str(OTHER),
            "jobs": "1",
            "succeeded": "0",
            "credits": "0",
            "usd": "0.000000",
            "denied": "0",
            "expired": "0",
            "from_others_images": "0",
            "image_authors": "",
        },
    ]
    assert "2 jobs (1 succeeded) by 2 members: 2 credits, $0.25" in text
    assert "By model: Hailuo 2.3: 2 jobs, 2 credits, $0.25." in text
    fast = await make_job(db, JobState.DELIVERING, model="hailuo-2.3-fast")
    await db.transition(fast.id, JobState.SUCCEEDED, total_cost_usd=0.19)
    await db.charge(fast.id, total_cost_usd=0.19)
    text, _, _ = await server.usage_report(db, GUILD, days=7, user_id=None, now=T0)
    assert "Hailuo 2.3: 2 jobs, 2 credits, $0.25 · Hailuo 2.3 Fast: 1 job, 1 credit, $0.19" in text
    _, data, name = await server.usage_report(db, GUILD, days=30, user_id=OTHER, now=T0)
    assert name.endswith(f"-{OTHER}.csv")
    assert [r["jobs"] for r in csv.DictReader(io.StringIO(data.decode()))] == ["2"]
    with pytest.raises(Refused):
        await server.usage_report(db, GUILD, days=0, user_id=None, now=T0)


async def test_usage_names_whose_images_a_member_animated(db: Database) -> None:
    """Animate of other members' images: usage counts those jobs and names the authors; a
    member's own image is not counted."""
    await make_job(db, JobState.PENDING, source_url="https://x/1", image_author_id=OTHER)
    await make_job(db, JobState.PENDING, source_url="https://x/2", image_author_id=MOD)
    await make_job(db, JobState.PENDING, source_url="https://x/3", image_author_id=OTHER)
    await make_job(db, JobState.PENDING, source_url="https://x/4", image_author_id=USER)
    text, data, _ = await server.usage_report(db, GUILD, days=7, user_id=None, now=T0)
    [row] = list(csv.DictReader(io.StringIO(data.decode())))
    assert row["jobs"] == "4"
    assert row["from_others_images"] == "3"
    assert row["image_authors"] == f"{OTHER} {MOD}"
    assert f"3 from images by <@{OTHER}>, <@{MOD}>" in text


def test_usage_row_model_is_what_the_csv_reads() -> None:
    # Guard: bot/governance/usage.py writes these fields under its CSV header, column by column;
    # only the Animate count has a longer name in the file (tests/cogs/test_usage.py pins the
    # header word for word).
    assert list(UsageRow.model_fields) == [
        {"from_others_images": "from_others"}.get(column, column) for column in CSV_HEADER
    ]
