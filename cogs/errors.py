"""The one error funnel as an extension: it sets the command tree's error handler (and puts
discord.py's own back when unloaded), so the composition root only names it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands

from cogs.common import on_app_command_error

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot


async def setup(bot: VideoBot) -> None:
    bot.tree.error(on_app_command_error)


async def teardown(bot: VideoBot) -> None:
    bot.tree.on_error = app_commands.CommandTree.on_error.__get__(bot.tree)  # type: ignore[method-assign]
