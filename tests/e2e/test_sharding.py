"""End to end with Discord requiring two shards: the real bot runs both, answers on both, keeps a
job on a shard that reconnects, and stops with one line (and no reconnect loop) on close 4011.

The double recommends one shard per two servers and refuses (4011) a connection holding more
than two; the module's four servers need two shards, two on each.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.gateway import Connection
from tests.discord_double.world import Channel, Guild
from tests.e2e.conftest import Stack, fake_clip, running, window
from tests.e2e.harness import BotProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

ENV = {"DEV_GUILD_ID": "", "DEFAULT_QUOTA_CREDITS": "100", "MAX_JOBS_PER_USER": "5"}


class ShardedStack(Stack):
    """The e2e stack with four servers over two shards; `other` is on the default's other."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, ENV)
        cfg = self.dd.world.config
        cfg.guilds_per_shard = cfg.max_guilds_per_session = 2
        assert self.dd.guild is not None
        self.home_shard = self.dd.guild.shard(2)
        self.other_shard = 1 - self.home_shard
        self.other: Guild = self.dd.add_guild("Second", shard=(self.other_shard, 2))
        self.other_channel: Channel = self.dd.add_channel("general", guild=self.other)
        for shard in (0, 1):
            self.dd.add_guild(f"filler {shard}", shard=(shard, 2))


def shard_of_connection(stack: Stack, number: int) -> int | None:
    conn: Connection = next(c for c in stack.dd.gateway.connections if c.number == number)
    return conn.session.shard[0] if conn.session and conn.session.shard else None


def interaction_shard(stack: Stack, interaction_id: int) -> int | None:
    """The shard whose connection carried an interaction's INTERACTION_CREATE."""
    for entry in stack.dd.world.gateway_log:
        if entry["dir"] == "send" and entry["t"] == "INTERACTION_CREATE":
            conn = next(c for c in stack.dd.gateway.connections if c.number == entry["conn"])
            assert conn.session is not None
            frames = [f for f in conn.session.buffer if f["s"] == entry["s"]]
            if frames and int(frames[0]["d"]["id"]) == interaction_id:
                return shard_of_connection(stack, entry["conn"])
    return None


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ShardedStack]:
    async with running(ShardedStack(tmp_path_factory.mktemp("shards"))) as s:
        await s.dd.wait_for_shard(0)
        await s.dd.wait_for_shard(1)
        yield s


async def test_the_bot_runs_the_shards_discord_asks_for_on_its_identify_schedule(
    stack: ShardedStack,
) -> None:
    assert stack.dd.calls("GET", "/gateway/bot")  # the count came from Discord
    identifies = stack.dd.gateway.identifies
    assert [(i.shard, i.outcome, i.guilds) for i in identifies] == [
        ((0, 2), "ready", 2),
        ((1, 2), "ready", 2),
    ]
    # One IDENTIFY per 5 s (scaled) in the one bucket, and not much later than that.
    gap = identifies[1].at - identifies[0].at
    assert window(5.0) <= gap < window(5.0) * 2, gap  # discord.py alone: a real 5 s sleep
    assert "in 4 servers on shards 0-1 of 2" in await stack.wait_log("Ready:")


async def test_commands_are_answered_on_both_shards(stack: ShardedStack) -> None:
    home = await stack.video("a lighthouse at dusk", user=stack.member("home-member"))
    away_member = stack.dd.add_member(name="away-member", guild=stack.other)
    away = await stack.video("a kite over dunes", user=away_member, channel=stack.other_channel)
    assert home.card is not None and away.card is not None, (home.reply, away.reply)
    assert interaction_shard(stack, home.interaction.id) == stack.home_shard
    assert interaction_shard(stack, away.interaction.id) == stack.other_shard
    assert away.card.channel_id == stack.other_channel.id
    for run in (home, away):
        assert run.interaction.ack_latency is not None and run.interaction.ack_latency < 3.0
        assert await stack.wait_final(run.card) == "✅ Video ready"  # type: ignore[arg-type]


async def test_a_job_on_a_shard_that_must_identify_again_is_delivered(stack: ShardedStack) -> None:
    member = stack.dd.add_member(name="patient", guild=stack.other)
    clip = fake_clip(100_000)
    stack.sim.script_next(TaskScript(clip=clip, generate=4.0))
    run = await stack.video("waves on rocks", user=member, channel=stack.other_channel)
    assert run.card is not None and run.job_id is not None, run.reply
    before = len(stack.dd.gateway.identifies)
    # Discord ends the shard's session (op 9, not resumable): it must IDENTIFY again.
    await stack.dd.invalidate_session(shard=stack.other_shard)
    await stack.dd.wait_for(lambda: len(stack.dd.gateway.identifies) > before, 10)
    await stack.dd.wait_for_shard(stack.other_shard)
    back = stack.dd.gateway.identifies[-1]
    assert (back.shard, back.outcome) == ((stack.other_shard, 2), "ready")
    # Only that shard went away; its job finishes after it is back.
    assert [i.shard for i in stack.dd.gateway.identifies[before:]] == [(stack.other_shard, 2)]
    message = await stack.wait_clip(run.job_id, stack.other_channel)
    assert stack.dd.blob(message.attachments[0]["url"]) == clip
    assert await stack.wait_final(run.card) == "✅ Video ready"
    posted = [
        c for c in stack.dd.calls("POST", f"/channels/{stack.other_channel.id}/messages") if c.files
    ]
    assert posted and posted[-1].at > back.at
    # The reconnected shard answers commands again.
    after = await stack.video("a second try", user=member, channel=stack.other_channel)
    assert after.card is not None and after.interaction.ack_latency is not None
    assert interaction_shard(stack, after.interaction.id) == stack.other_shard


async def test_doctor_shows_the_shard_count_and_each_shards_latency(stack: ShardedStack) -> None:
    async with BotProcess("bot", "doctor", env=stack.env(), cwd=stack.tmp) as doctor:
        assert doctor.proc is not None
        code = await asyncio.wait_for(doctor.proc.wait(), 30)
        await doctor.wait_for_line("", timeout=1)
    out = doctor.output
    assert "✓ Shards: 2, as Discord recommends;" in out, out
    assert "IDENTIFY per 5 s" in out and "latency as the running bot saw it" in out, out
    for shard in (0, 1):
        assert re.search(rf"shard {shard}: \d+ ms, 2 servers", out), out
    assert code == 0, out


async def test_a_resumed_shard_gets_the_events_it_missed(stack: ShardedStack) -> None:
    before = len(stack.dd.gateway.identifies)
    await stack.dd.drop_gateway(4000, shard=stack.home_shard)
    await stack.dd.wait_for_shard(stack.home_shard)
    assert len(stack.dd.gateway.identifies) == before  # RESUME, no new session
    run = await stack.video("after a resume", user=stack.member("resumer"))
    assert run.card is not None, run.reply


# ----- close 4011: one line, the right exit status, no reconnect loop -----
@pytest.mark.parametrize(
    ("env", "recommended", "status", "said"),
    [
        (
            {"SHARD_COUNT": "1", "SHARD_IDS": "0"},
            None,
            2,
            "SHARD_COUNT=1 is too few: unset SHARD_COUNT and SHARD_IDS",
        ),
        ({}, 1, 1, "the count Discord recommended (1) is out of date; the next start asks"),
    ],
    ids=["operator-count", "stale-recommendation"],
)
async def test_close_4011_is_one_line_naming_the_fix_and_the_process_ends(
    tmp_path: Path, env: dict[str, str], recommended: int | None, status: int, said: str
) -> None:
    s = ShardedStack(tmp_path)
    s.dd.world.config.recommended_shards = recommended
    await s.sim.start()
    await s.dd.start()
    bot = BotProcess("bot", env={**s.env(), **env}, cwd=tmp_path)
    try:
        await bot.start()
        started = time.monotonic()
        rc = await bot._wait_exit(20)
        assert rc == status, bot.output
        assert time.monotonic() - started < 15
        errors = [line for line in bot.lines if " ERROR " in line]
        assert len(errors) == 1, bot.output
        assert "gateway close 4011" in errors[0] and said in errors[0]
        bot.assert_clean()
        # One IDENTIFY refused with 4011, and no second attempt.
        assert [i.outcome for i in s.dd.gateway.identifies] == ["4011"]
    finally:
        if bot.returncode is None:
            await bot.kill()
        await s.dd.close()
        await s.sim.stop()


async def test_a_start_waits_instead_of_crossing_discords_session_start_limit(
    tmp_path: Path,
) -> None:
    s = ShardedStack(tmp_path)
    w = s.dd.world
    # Long enough that the window is still open when the bot, started under a loaded machine,
    # first asks GET /gateway/bot (a 2 s window could close before that, and nothing waited).
    w.config.session_reset_after = 8.0
    window = time.monotonic()
    w.session_starts_used, w.session_window_start = 999, window  # 1 left, 2 needed
    await s.sim.start()
    await s.dd.start()
    try:
        await s.start_bot()
        line = await s.wait_log("more session starts")
        assert "this start needs 2" in line and "waits for the reset" in line
        # No IDENTIFY before Discord's window reset.
        assert s.dd.gateway.identifies[0].at >= window + w.config.session_reset_after
        assert [i.outcome for i in s.dd.gateway.identifies] == ["ready", "ready"]
    finally:
        await s.stop()
    s.assert_clean()
