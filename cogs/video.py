"""`/video`: the member's way in. Acknowledge at once, check, reserve, post the card, start.

`VideoCog.start` is the one path from a member's request to a running job; `/video` and the
`Animate with Hailuo` form (cogs/animate.py) both go through it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

import bot.governance.styles as styles
from bot import camera, i18n
from bot.camera import CameraRefused
from bot.catalogue import DEFAULT_MODEL
from bot.jobs.contracts import Refused, VideoRequest
from bot.media.image_slots import ImageSlots
from bot.media.images import FirstFrame, ImageRejected, check_declared_size
from bot.permissions import CHANNEL_PERMISSIONS, labels
from cogs.cards.cog import cards_of
from cogs.cards.text import card_link
from cogs.common import (
    DURATION_CHOICES,
    MODEL_CHOICES,
    RESOLUTION_CHOICES,
    manages_guild,
    reply,
    role_ids,
    started_words,
)
from cogs.language import member_locale
from cogs.words import list_words, refused_words

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from storage.models import Style

log = logging.getLogger(__name__)

# What the bot needs in the channel to post a card with a thumbnail and later the clip.
REQUIRED_CHANNEL_PERMISSIONS = labels(CHANNEL_PERMISSIONS)

FrameReader = Callable[[], Awaitable[FirstFrame]]


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
        model="hailuo-2.3 (default) or hailuo-2.3-fast (faster, cheaper; needs an image)",
        camera="Up to 3 camera moves, comma-separated, e.g. Pan left, Zoom in",
        style="One of this server's styles: its words join your prompt; your options win",
    )
    # One decorator per option: a single `choices(...)` call must share one value type.
    @app_commands.choices(model=MODEL_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.choices(duration=DURATION_CHOICES)
    async def video(
        self,
        interaction: discord.Interaction[VideoBot],
        prompt: str,
        image: discord.Attachment | None = None,
        resolution: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        prompt_optimizer: bool = True,
        model: app_commands.Choice[str] | None = None,
        camera: str | None = None,
        style: str | None = None,
    ) -> None:
        """Generate a video with MiniMax Hailuo 2.3 from a prompt and an optional first frame."""
        # Acknowledge first: everything below may take longer than Discord's 3 seconds.
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        try:
            moves = _parse_camera(camera) if camera is not None else None
            chosen = (
                await styles.find(self.bot.storage, interaction.guild_id, style) if style else None
            )
        except CameraRefused as exc:
            log.info("refused /video camera user=%s: %s", interaction.user.id, exc.reason)
            await reply(interaction, exc.text.render(member_locale(interaction)))
            return
        except Refused as exc:
            log.info("refused /video style user=%s: %s", interaction.user.id, exc.message)
            await reply(interaction, refused_words(exc, member_locale(interaction)))
            return
        # The member's explicit options override the style's defaults.
        settings = styles.with_defaults(
            chosen,
            resolution=resolution.value if resolution else None,
            duration=duration.value if duration else None,
            model=model.value if model else None,
            moves=moves,
            default_model=DEFAULT_MODEL,
        )
        request = VideoRequest(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            role_ids=role_ids(interaction.user),
            prompt=prompt,
            resolution=settings.resolution,
            duration=settings.duration,
            prompt_optimizer=prompt_optimizer,
            upload_limit=interaction.filesize_limit,
            image_url=image.url if image else None,
            manage_guild=manages_guild(interaction.user),
            has_image=image is not None,
            model=settings.model,
            camera=settings.camera,
            style=chosen.name if chosen else None,
            style_prompt=chosen.prompt if chosen else None,
        )
        reader = None if image is None else (lambda: self._read_image(image, self.bot.jobs.images))
        await self.start(interaction, request, reader, command="/video")

    @video.autocomplete("camera")
    async def _camera_autocomplete(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in camera.suggest(current)]

    @video.autocomplete("style")
    async def _style_autocomplete(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        return style_choices(await self.bot.storage.styles(interaction.guild_id), current)

    async def start(
        self,
        interaction: discord.Interaction[VideoBot],
        request: VideoRequest,
        read_frame: FrameReader | None,
        *,
        command: str,
    ) -> None:
        """Check, read the image, reserve, post the card, start; answer the member privately.

        The interaction is already acknowledged (deferred, ephemeral). Every answer is in the
        member's language: only they read it."""
        locale = member_locale(interaction)
        try:
            await self.bot.jobs.precheck(request)
            self._check_channel_permissions(interaction, locale)
            frame = thumbnail = None
            if read_frame is not None:
                # A slot before the download: a burst of large images is read two at a time.
                async with self.bot.jobs.images.slot(request.user_id):
                    frame = await read_frame()
                    # The card shows the frame actually sent, fixes included.
                    thumbnail = await self.bot.jobs.images.thumbnail(frame.data)
            job = await self.bot.jobs.submit(request, frame, thumbnail=thumbnail)
            cards_of(self.bot).presenter.remember_interaction(job.id, interaction)
        except Refused as exc:
            log.info(
                "refused %s user=%s guild=%s: %s",
                command,
                interaction.user.id,
                interaction.guild_id,
                exc.message,
            )
            await reply(interaction, refused_words(exc, locale))
            return
        except ImageRejected as exc:
            log.info(
                "refused %s image user=%s guild=%s: %s",
                command,
                interaction.user.id,
                interaction.guild_id,
                exc.reason,
            )
            await reply(interaction, exc.text.render(locale))
            return
        note = frame_note(locale, frame.fixes) if frame is not None else ""
        extra = f"\n-# {note}" if note else ""
        started = await started_words(self.bot, job.id, job.credits, locale)
        await reply(interaction, f"{started}: {card_link(job)}{extra}")

    @staticmethod
    def _check_channel_permissions(
        interaction: discord.Interaction[VideoBot], locale: str | None = None
    ) -> None:
        perms = interaction.app_permissions
        missing = [
            label
            for attr, label in REQUIRED_CHANNEL_PERMISSIONS.items()
            if not getattr(perms, attr)
        ]
        if missing:
            # Discord's own names for the permissions, as the catalogs have them.
            names = list_words(locale, [i18n.gettext(locale, label) for label in missing])
            raise Refused(
                i18n.plural_text(
                    "I can't post videos in this channel: I need the {names} permission here. "
                    "Ask a moderator to grant them, or use another channel.",
                    "I can't post videos in this channel: I need the {names} permissions here. "
                    "Ask a moderator to grant them, or use another channel.",
                    len(missing),
                    names=names,
                )
            )

    @staticmethod
    async def _read_image(image: discord.Attachment, images: ImageSlots) -> FirstFrame:
        check_declared_size(image.size)  # before downloading anything
        try:
            data = await image.read()
        except discord.HTTPException as exc:
            log.warning("could not download attachment %s: %s", image.id, exc)
            raise Refused(
                i18n.Text("I couldn't download your image from Discord. Try again.")
            ) from None
        return await images.check(data, declared_size=image.size)


def frame_note(locale: str | None, fixes: Sequence[str]) -> str:
    """What was done to the member's image (kept in English on the job), in their language."""
    return " ".join(i18n.from_english(locale, fix) for fix in fixes)


def _parse_camera(text: str | None) -> tuple[str, ...]:
    return camera.parse_moves(text)


def style_choices(server_styles: Sequence[Style], current: str) -> list[app_commands.Choice[str]]:
    """The server's styles whose name contains what was typed (any case), at most 25."""
    typed = current.strip().casefold()
    return [
        app_commands.Choice(name=s.name, value=s.name)
        for s in server_styles
        if typed in s.name.casefold()
    ][:25]


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
