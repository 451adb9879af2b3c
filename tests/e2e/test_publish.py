"""Slash commands appear without a separate step: published at start when they changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.conftest import Stack, running_stack


def command_puts(stack: Stack) -> list[str]:
    """Paths of the bulk-overwrite (publish) calls the bot made so far."""
    return [c.path for c in stack.dd.calls(method="PUT") if c.path.endswith("/commands")]


async def test_commands_are_published_at_start_only_when_they_changed(tmp_path: Path) -> None:
    async with running_stack(tmp_path, {}) as stack:
        guild = stack.dd.guild
        assert guild is not None
        # First start on a new database: published to DEV_GUILD_ID, and members see them.
        assert command_puts(stack) == [f"/applications/{stack.dd.world.app_id}/guilds/{guild.id}"
                                       "/commands"]  # fmt: skip
        await stack.wait_log("published 6 slash commands to server")
        assert {c.name for c in stack.dd.world.guild_commands[guild.id].values()} >= {
            "video", "quota", "jobs", "videoadmin", "videoprivacy"
        }  # fmt: skip

        # A restart with the same commands publishes nothing.
        assert stack.bot is not None
        await stack.bot.terminate()
        await stack.start_bot()
        await stack.wait_log("slash commands unchanged since they were last published")
        assert len(command_puts(stack)) == 1

        # An upgrade that changed the commands (here: the stored hash no longer matches).
        await stack.bot.terminate()
        with sqlite3.connect(tmp_path / "bot.sqlite3") as conn:
            conn.execute("UPDATE bot_state SET value = 'an older tree' WHERE key LIKE 'commands:%'")
        await stack.start_bot()
        await stack.wait_log("published 6 slash commands to server")
        assert len(command_puts(stack)) == 2


async def test_without_dev_guild_id_the_commands_are_published_globally(tmp_path: Path) -> None:
    async with running_stack(tmp_path, {"DEV_GUILD_ID": ""}) as stack:
        await stack.wait_log("published 6 slash commands globally")
        assert command_puts(stack) == [f"/applications/{stack.dd.world.app_id}/commands"]
        assert {c.name for c in stack.dd.world.global_commands.values()} >= {"video", "quota"}
