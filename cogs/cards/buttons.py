"""The card's persistent buttons: the job id lives in custom_id, the state in SQLite."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.jobs import Refused
from cogs.cards.text import card_link
from cogs.common import guarded, is_moderator, manages_guild, reply, role_ids, started_words

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:cancel:(?P<job_id>[0-9]+)"
):
    """Cancel a job (its requester or a moderator)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                style=discord.ButtonStyle.danger,
                custom_id=f"video:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._cancel)

    async def _cancel(self, interaction: discord.Interaction[VideoBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await bot.storage.get_job(self.job_id)
        if job.guild_id != interaction.guild_id:
            raise Refused("This job belongs to another server.")
        message = await bot.jobs.cancel(
            self.job_id, interaction.user.id, is_moderator=await is_moderator(interaction)
        )
        await reply(interaction, message)


class RerollButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:reroll:(?P<job_id>[0-9]+)"
):
    """Run the same prompt and settings again (charged again)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Re-roll",
                style=discord.ButtonStyle.secondary,
                emoji="🔁",
                custom_id=f"video:reroll:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> RerollButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._reroll)

    async def _reroll(self, interaction: discord.Interaction[VideoBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await bot.storage.get_job(self.job_id)
        if job.guild_id != interaction.guild_id:
            raise Refused("This job belongs to another server.")
        new = await bot.jobs.reroll(
            self.job_id,
            interaction.user.id,
            role_ids(interaction.user),
            upload_limit=interaction.filesize_limit,
            manage_guild=manages_guild(interaction.user),
        )
        started = await started_words(bot, new.id, new.credits)
        await reply(interaction, f"Re-rolling as job {new.id}. {started}: {card_link(new)}")
