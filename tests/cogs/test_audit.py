"""The audit channel line, and an unreachable audit channel: told once, jobs go on."""

from __future__ import annotations

import types
from unittest import mock

import aiohttp
import discord
import pytest

from bot.app.video_bot import VideoBot
from cogs.audit import AuditPoster, audit_line
from cogs.cards.presenter import DiscordPresenter
from storage.db import Database
from storage.models import JobState
from tests.cogs.conftest import AUDIT_CHANNEL, CHANNEL, GUILD, MOD, USER, make_job

BOT_ID = 999_000_000_000_000_001


def http_error(cls: type[discord.HTTPException], status: int, code: int) -> discord.HTTPException:
    response = mock.create_autospec(aiohttp.ClientResponse, instance=True)
    response.status = status
    response.reason = "error"
    return cls(response, {"code": code, "message": "error"})


@pytest.fixture
def channels() -> dict[int, mock.NonCallableMagicMock]:
    return {
        cid: mock.create_autospec(discord.PartialMessageable, instance=True)
        for cid in (CHANNEL, AUDIT_CHANNEL)
    }


@pytest.fixture
def bot(db: Database, channels) -> VideoBot:
    fake = mock.create_autospec(VideoBot, instance=True)
    fake.storage = db
    fake.user = types.SimpleNamespace(id=BOT_ID)
    fake.get_partial_messageable.side_effect = lambda cid, guild_id=None: channels[cid]
    fake.get_guild.return_value = None  # not in the cache: the server speaks English
    return fake


async def test_audit_line_for_each_outcome(db: Database) -> None:
    job = await make_job(db, JobState.DELIVERING, credits=2, prompt="@everyone **hi**\nthere")
    job = await db.transition(job.id, JobState.SUCCEEDED, total_cost_usd=0.31)
    job = await db.update_job(job.id, card_message_id=777)
    line = audit_line(job)
    assert f"Job `{job.id}`" in line and f"<@{USER}>" in line
    assert "Hailuo 2.3 · 768P · 6 s · optimizer on" in line
    assert "✅" in line and " done " in line
    assert "2 credits charged" in line and "$0.31" in line
    assert f"(<https://discord.com/channels/{GUILD}/{CHANNEL}/777>)" in line
    assert "@\u200beveryone \\*\\*hi\\*\\* there" in line
    failed = await make_job(db, JobState.FAILED)
    failed = await db.update_job(failed.id, outcome_reason="Wiro rejected these settings.")
    line = audit_line(failed)
    assert "failed (Wiro rejected these settings.)" in line
    assert "1 credit refunded" in line and "USD n/a" in line and "no card" in line
    fast = await make_job(db, JobState.CANCELLED, model="hailuo-2.3-fast", has_image=True)
    assert "Hailuo 2.3 Fast · 768P · 6 s" in audit_line(fast)
    huge = await make_job(db, JobState.CANCELLED, prompt="p" * 2000)
    assert len(audit_line(huge)) < 600


async def test_posts_one_line_to_the_audit_channel(db: Database, bot, channels) -> None:
    poster = AuditPoster(bot)
    job = await make_job(db, JobState.CANCELLED)
    await poster.job_finished(job)  # no audit channel: nothing
    channels[AUDIT_CHANNEL].send.assert_not_awaited()
    await db.set_audit_channel(GUILD, AUDIT_CHANNEL, MOD)
    await poster.job_finished(job)
    channels[AUDIT_CHANNEL].send.assert_awaited_once()
    args, kwargs = channels[AUDIT_CHANNEL].send.call_args
    assert args == (audit_line(job),)
    assert kwargs["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()


@pytest.mark.parametrize(
    "error", [(discord.Forbidden, 403, 50013), (discord.NotFound, 404, 10003)], ids=["403", "404"]
)
async def test_unreachable_audit_channel_is_reported_once(
    db: Database, bot, channels, error
) -> None:
    await db.set_audit_channel(GUILD, AUDIT_CHANNEL, MOD)
    channels[AUDIT_CHANNEL].send.side_effect = http_error(*error)
    poster = AuditPoster(bot)
    for _ in range(3):
        await poster.job_finished(await make_job(db, JobState.FAILED))  # never raises
    assert channels[AUDIT_CHANNEL].send.await_count == 3
    channels[CHANNEL].send.assert_awaited_once()
    assert f"<#{AUDIT_CHANNEL}>" in channels[CHANNEL].send.call_args.args[0]
    unreachable = [e for e in await db.audit_log(GUILD) if e.action == "audit.unreachable"]
    assert len(unreachable) == 1 and unreachable[0].actor_id == BOT_ID
    poster.rearm(GUILD)  # a moderator set the channel again
    await poster.job_finished(await make_job(db, JobState.FAILED))
    assert channels[CHANNEL].send.await_count == 2


async def test_other_failures_are_logged_not_raised(db: Database, bot, channels, caplog) -> None:
    await db.set_audit_channel(GUILD, AUDIT_CHANNEL, MOD)
    channels[AUDIT_CHANNEL].send.side_effect = http_error(discord.HTTPException, 500, 0)
    await AuditPoster(bot).job_finished(await make_job(db, JobState.FAILED))
    channels[CHANNEL].send.assert_not_awaited()
    assert "could not write the audit line" in caplog.text


async def test_the_presenter_calls_the_poster_it_was_given(db: Database, bot, channels) -> None:
    poster = AuditPoster(bot)
    await db.set_audit_channel(GUILD, AUDIT_CHANNEL, MOD)
    await DiscordPresenter(bot, audit=poster).job_finished(await make_job(db, JobState.TIMED_OUT))
    assert "timed out" in channels[AUDIT_CHANNEL].send.call_args.args[0]
