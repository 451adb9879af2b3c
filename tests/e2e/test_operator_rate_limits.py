"""The bot never waits on Discord for long: a 429 asking for more than 30 s is an answer.

The bot runs with discord.py's `max_ratelimit_timeout` at 30 s (so a 30046 on a card edit
reposts the card instead of stalling its channel); the operator's commands and the start-up
sync then meet `RateLimited` and must say so plainly (issue 12).
"""

from __future__ import annotations

from pathlib import Path

from tests.discord_double import DiscordDouble
from tests.e2e.harness import BotProcess


async def test_sync_rate_limited_for_long_says_when_to_try_again(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        # Global command syncs are limited per day: Discord asks for a wait of an hour.
        dd.rate_limit("PUT", "/applications/*/commands", scope="shared", retry_after=3600)
        env = {**dd.env(), "WIRO_SANDBOX": "true", "DATABASE_PATH": str(tmp_path / "b.sqlite3")}
        async with BotProcess("bot", "sync", env=env, cwd=tmp_path) as bot:
            assert bot.proc is not None
            code = await bot.proc.wait()
            await bot.wait_for_line("", timeout=1)
            bot.assert_clean()
            out = bot.output
    assert code == 1, out
    assert "try again in about 60 minutes" in out
    assert [c.status for c in dd.calls("PUT")] == [429]  # asked once, did not wait an hour


async def test_a_rate_limited_dev_guild_sync_does_not_stop_the_start(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        assert dd.guild is not None
        dd.rate_limit("PUT", f"/applications/*/guilds/{dd.guild.id}/commands", retry_after=600)
        env = {
            **dd.env(),
            "WIRO_SANDBOX": "true",
            "DATABASE_PATH": str(tmp_path / "b.sqlite3"),
            "DEV_GUILD_ID": str(dd.guild.id),
        }
        async with BotProcess("bot", env=env, cwd=tmp_path) as bot:
            await bot.wait_for_line("Ready:", 30)
            assert "rate limited for 600 s; skipped" in bot.output
            await bot.terminate()
            bot.assert_clean()
