"""`/videoadmin language set|show`: the language of the server's public messages.

A group of its own beside `AdminCog` (like `/videoadmin style`); it reaches the bot through
`interaction.client`, as a group is not the cog. The words and the locale rules are
`cogs/language.py`'s; the setting is stored by `storage/languages.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot import i18n
from bot.jobs.contracts import Refused
from cogs.common import guild_and_actor, moderator_only, reply
from cogs.language import LANGUAGE_NAMES, language_set_words, language_show_words, member_locale

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot


class LanguageCommands(
    app_commands.Group,
    name="language",
    description="The language of this server's public messages",
):
    """`/videoadmin language set|show`."""

    @app_commands.command(name="set")
    @app_commands.describe(language="The language for public messages")
    @app_commands.choices(
        language=[app_commands.Choice(name=n, value=c) for c, n in LANGUAGE_NAMES.items()]
    )
    @moderator_only()
    async def language_set(
        self, interaction: discord.Interaction[VideoBot], language: app_commands.Choice[str]
    ) -> None:
        """Set the language of this server's cards, clips, reviews and audit lines."""
        guild_id, actor = guild_and_actor(interaction)
        if language.value not in LANGUAGE_NAMES:
            raise Refused(i18n.Text("Choose one of the languages offered."))
        await interaction.client.storage.set_server_language(guild_id, language.value, actor)
        await reply(interaction, language_set_words(member_locale(interaction), language.value))

    @app_commands.command(name="show")
    @moderator_only()
    async def language_show(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show which language this server's public messages use, and why."""
        guild_id, _ = guild_and_actor(interaction)
        chosen = await interaction.client.storage.server_language(guild_id)
        guild_locale = interaction.guild_locale.value if interaction.guild_locale else None
        text = language_show_words(member_locale(interaction), chosen, guild_locale)
        await reply(interaction, text)
