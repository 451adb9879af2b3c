"""/quota and /jobs: which limit applies and why, the wording, and who may see whose jobs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.governance.quota import MODEL_RUN_COSTS, AppliedLimit
from bot.jobs.contracts import QuotaStatus, Refused
from bot.jobs.service import JobService
from cogs.common import is_moderator
from cogs.member_commands import (
    check_jobs_target,
    describe_jobs,
    describe_quota,
    explain_limit,
    job_line,
    job_status_words,
)
from storage.db import Database
from storage.models import JobState, Limit, Stage
from tests.cogs.conftest import (
    DEFAULT,
    GUILD,
    MOD,
    MOD_ROLE,
    OTHER,
    ROLE_A,
    ROLE_B,
    T0,
    USER,
    Clock,
    make_interaction,
    make_job,
    make_member,
)

# (rules as (scope, target, credits, period), member's roles, expected limit, source, reason part)
POLICY = [
    pytest.param([], (), DEFAULT, "default", "bot's default", id="environment-default"),
    pytest.param(
        [("server", GUILD, 5, "week")], (ROLE_A,), Limit(credits=5, period="week"), "server",
        "server's default", id="server-default",
    ),
    pytest.param(
        [("server", GUILD, 5, "day"), ("role", ROLE_A, 3, "day"), ("role", ROLE_B, 14, "week")],
        (ROLE_A, ROLE_B), Limit(credits=3, period="day"), "role", f"<@&{ROLE_A}>",
        id="most-generous-role-per-day",
    ),
    pytest.param(
        [("role", ROLE_A, 1, "day"), ("role", ROLE_B, 50, "month")],
        (ROLE_A, ROLE_B), Limit(credits=50, period="month"), "role", "most generous of 2",
        id="role-month-beats-role-day",
    ),
    pytest.param(
        [("role", ROLE_A, 100, "day")], (ROLE_B,), DEFAULT, "default", "bot's default",
        id="role-the-member-lacks-is-ignored",
    ),
    pytest.param(
        [("role", ROLE_A, 100, "day"), ("user", USER, 2, "week")], (ROLE_A,),
        Limit(credits=2, period="week"), "member", "member override", id="member-override-wins",
    ),
    pytest.param(
        [("server", GUILD, 0, "day")], (), Limit(credits=0, period="day"), "server",
        "server's default", id="zero-server-blocks",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rules", "roles", "expected", "source", "reason"), POLICY)
async def test_explain_limit_follows_the_policy(
    db: Database, rules, roles, expected: Limit, source: str, reason: str
) -> None:
    for scope, target, credits, period in rules:
        await db.set_limit(GUILD, scope, target, credits, period, MOD)
    got = explain_limit(
        await db.limits(GUILD), guild_id=GUILD, user_id=USER, role_ids=roles, default=DEFAULT
    )
    assert got.limit == expected
    assert got.applied.source == source
    assert reason in got.reason
    assert got.applied.no_access == (expected.credits == 0)


async def test_quota_answer_from_a_real_status(db: Database, service: JobService) -> None:
    await db.set_limit(GUILD, "role", ROLE_A, 4, "day", MOD)
    await make_job(db, JobState.RUNNING, credits=2)  # in flight, 2 credits
    await make_job(db, JobState.FAILED, credits=1)  # refunded below
    failed = (await db.jobs_for_user(GUILD, USER))[0]
    await db.refund(failed.id)
    status = await service.quota_status(GUILD, USER, {ROLE_A})
    explanation = explain_limit(
        await db.limits(GUILD), guild_id=GUILD, user_id=USER, role_ids={ROLE_A}, default=DEFAULT
    )
    text = describe_quota(status, explanation)
    assert "4 credits per day" in text and f"<@&{ROLE_A}>" in text
    assert "**2** of 4" in text and "left: **2**" in text
    tomorrow = int((T0.replace(hour=0, minute=0) + timedelta(days=1)).timestamp())
    assert f"<t:{tomorrow}:R>" in text
    assert "**1** of 2 at a time" in text
    assert "768P·6 s = 1 credit" in text and "768P·10 s = 2 credits" in text
    assert "1080P·6 s = 2 credits" in text
    # Each model has its own line; Fast costs 1 credit whatever the setting.
    [fast] = [line for line in text.splitlines() if "Hailuo 2.3 Fast" in line]
    assert "animates an image" in fast
    assert fast.count("= 1 credit") == 3 and "credits" not in fast
    assert len(text) <= 2000


def test_quota_with_zero_limit_says_no_access() -> None:
    applied = AppliedLimit(Limit(credits=0, period="week"), "member")
    status = QuotaStatus(
        applied=applied, used=0, window_start=T0, resets_at=T0 + timedelta(days=3),
        in_flight=0, max_in_flight=2, costs={m: dict(c) for m, c in MODEL_RUN_COSTS.items()},
    )  # fmt: skip
    explanation = explain_limit(
        [], guild_id=GUILD, user_id=USER, role_ids=(), default=Limit(credits=0, period="week")
    )
    text = describe_quota(status, explanation, notes=["⏸️ paused"])
    assert "no access" in text
    assert "left:" not in text
    assert text.endswith("⏸️ paused")


@pytest.mark.parametrize(
    ("state", "stage", "progress", "words"),
    [
        (JobState.RUNNING, Stage.GENERATING, 40, "generating 40%"),
        (JobState.WAITING, Stage.WAITING, None, "waiting for a free slot at Wiro"),
        (JobState.SUCCEEDED, Stage.DONE, None, "done"),
        (JobState.TIMED_OUT, Stage.DONE, None, "timed out"),
        (JobState.CANCELLED, Stage.DONE, None, "cancelled"),
    ],
)
async def test_job_status_words(db: Database, state, stage, progress, words) -> None:
    job = await make_job(db, state)
    job = await db.update_job(job.id, stage=stage, progress=progress)
    assert job_status_words(job).endswith(words)


async def test_a_deleted_clip_stays_in_jobs_and_says_so(db: Database) -> None:
    job = await make_job(db, JobState.SUCCEEDED)
    job, _ = await db.mark_deleted(job.id, USER)
    assert job_status_words(job).endswith("done · clip deleted")


async def test_job_line_is_inert_and_links_the_card(db: Database) -> None:
    job = await make_job(db, prompt="@everyone look <@123456789012345678> **bold** " + "x" * 200)
    no_card = job_line(job)
    assert "no card" in no_card
    job = await db.update_job(job.id, card_message_id=555)
    line = job_line(job)
    assert f"[card](<https://discord.com/channels/{GUILD}/{job.channel_id}/555>)" in line
    assert "@everyone" not in line.replace("@\u200beveryone", "")
    assert "<@123456789012345678>" not in line and "\\*\\*bold" in line
    assert f"<t:{int(T0.timestamp())}:R>" in line
    assert "…" in line  # excerpt, not the whole prompt


async def test_describe_jobs_lists_newest_first_within_2000_chars(
    db: Database, clock: Clock
) -> None:
    for i in range(12):
        await make_job(db, now=T0 + timedelta(minutes=i), prompt=f"prompt number {i} " + "y" * 80)
    jobs = await db.jobs_for_user(GUILD, USER, 10)
    text = describe_jobs(jobs, own=True, user_id=USER)
    assert len(text) <= 2000
    ids = [int(m) for m in re.findall(r"^`(\d+)`", text, flags=re.M)]
    assert ids and ids == sorted(ids, reverse=True)
    assert "more" in text or len(ids) == 10
    assert "no video jobs" in describe_jobs([], own=True, user_id=USER)
    assert f"<@{OTHER}> has no video jobs" in describe_jobs([], own=False, user_id=OTHER)


async def test_describe_jobs_marks_a_job_a_moderator_refunded(db: Database) -> None:
    done = await make_job(db, JobState.SUCCEEDED)
    other = await make_job(db, JobState.SUCCEEDED)
    text = describe_jobs([done, other], own=True, user_id=USER, refunded=[done.id])
    lines = {int(m.group(1)): m.group(0) for m in re.finditer(r"^`(\d+)`.*$", text, flags=re.M)}
    assert "refunded by a moderator" in lines[done.id]
    assert "refunded" not in lines[other.id]


@pytest.mark.parametrize(
    ("target", "moderator", "allowed"),
    [(USER, False, True), (OTHER, False, False), (OTHER, True, True), (USER, True, True)],
)
def test_only_moderators_see_other_members_jobs(
    target: int, moderator: bool, allowed: bool
) -> None:
    if allowed:
        check_jobs_target(USER, target, moderator=moderator)
    else:
        with pytest.raises(Refused, match="Only moderators"):
            check_jobs_target(USER, target, moderator=moderator)


@pytest.mark.parametrize(
    ("manage_guild", "roles", "mod_role", "expected"),
    [
        (True, (), None, True),
        (False, (), None, False),
        (False, (MOD_ROLE,), MOD_ROLE, True),
        (False, (ROLE_A,), MOD_ROLE, False),
        (False, (MOD_ROLE,), None, False),
    ],
    ids=["manage-server", "plain-member", "mod-role", "other-role", "no-mod-role-set"],
)
async def test_is_moderator_gating(
    db: Database, manage_guild: bool, roles: tuple[int, ...], mod_role: int | None, expected: bool
) -> None:
    if mod_role is not None:
        await db.set_mod_role(GUILD, mod_role, MOD)
    member = make_member(USER, manage_guild=manage_guild, roles=roles)
    assert await is_moderator(make_interaction(member, db)) is expected


async def test_is_moderator_is_false_outside_a_server(db: Database) -> None:
    member = make_member(USER, manage_guild=True)
    assert await is_moderator(make_interaction(member, db, guild_id=None)) is False
