"""`/video`: the member's way in. Acknowledge at once, check, reserve, post the card, start."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs import Refused, VideoRequest
from bot.media import ImageRejected, check_declared_size, check_image_async, make_thumbnail
from cogs.cards import card_link
from cogs.common import manages_guild, reply, role_ids, started_words
from cogs.words import refused_words

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)

# What the bot needs in the channel to post a card with a thumbnail and later the clip.
REQUIRED_CHANNEL_PERMISSIONS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "read_message_history": "Read Message History",  # the clip is a reply to the card
}


class VideoCog(commands.Cog):
    """Generate videos."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="video")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen in the clip (up to 2000 characters)",
        image="Optional first frame (any common picture format); the clip takes its aspect ratio",
        resolution="768P (default) or 1080P (1080P clips are 6 seconds)",
        duration="Clip length in seconds (default 6; 10 needs 768P)",
        prompt_optimizer="Let the model rewrite the prompt for better results (default on)",
    )
    @app_commands.choices(
        resolution=[
            app_commands.Choice(name="768P", value="768P"),
            app_commands.Choice(name="1080P", value="1080P"),
        ],
        duration=[
            app_commands.Choice(name="6 seconds", value=6),
            app_commands.Choice(name="10 seconds", value=10),
        ],
    )
    async def video(
        self,
        interaction: discord.Interaction,
        prompt: str,
        image: discord.Attachment | None = None,
        resolution: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        prompt_optimizer: bool = True,
    ) -> None:
        """Generate a video with MiniMax Hailuo 2.3 from a prompt and an optional first frame."""
        # Acknowledge first: everything below may take longer than Discord's 3 seconds.
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        request = VideoRequest(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            role_ids=role_ids(interaction.user),
            prompt=prompt,
            resolution=resolution.value if resolution else "768P",
            duration=duration.value if duration else 6,
            prompt_optimizer=prompt_optimizer,
            upload_limit=interaction.filesize_limit,
            image_url=image.url if image else None,
            manage_guild=manages_guild(interaction.user),
        )
        try:
            await self.bot.jobs.precheck(request)
            self._check_channel_permissions(interaction)
            frame = thumbnail = None
            note = None
            if image is not None:
                frame = await self._read_image(image)
                thumbnail = await asyncio.to_thread(make_thumbnail, frame.data)
                note = frame.note
            job = await self.bot.jobs.submit(request, frame, thumbnail=thumbnail, note=note)
            self.bot.presenter.remember_interaction(job.id, interaction)
        except Refused as exc:
            log.info(
                "refused /video user=%s guild=%s: %s",
                interaction.user.id,
                interaction.guild_id,
                exc.message,
            )
            await reply(interaction, refused_words(exc))
            return
        except ImageRejected as exc:
            log.info(
                "refused /video image user=%s guild=%s: %s",
                interaction.user.id,
                interaction.guild_id,
                exc.reason,
            )
            await reply(interaction, exc.reason)
            return
        extra = f"\n{note}" if note else ""
        started = await started_words(self.bot, job.id, job.credits)
        await reply(interaction, f"{started}: {card_link(job)}{extra}")

    @staticmethod
    def _check_channel_permissions(interaction: discord.Interaction) -> None:
        perms = interaction.app_permissions
        missing = [
            label
            for attr, label in REQUIRED_CHANNEL_PERMISSIONS.items()
            if not getattr(perms, attr)
        ]
        if missing:
            names = " and ".join(
                [", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing
            )
            plural = "s" if len(missing) > 1 else ""
            raise Refused(
                f"I can't post videos in this channel: I need the {names} permission{plural} "
                "here. Ask a moderator to grant them, or use another channel."
            )

    @staticmethod
    async def _read_image(image: discord.Attachment):  # type: ignore[no-untyped-def]
        check_declared_size(image.size)  # before downloading anything
        try:
            data = await image.read()
        except discord.HTTPException as exc:
            log.warning("could not download attachment %s: %s", image.id, exc)
            raise Refused("I couldn't download your image from Discord. Try again.") from None
        return await check_image_async(data, declared_size=image.size)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
