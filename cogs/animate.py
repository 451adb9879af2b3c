"""`Animate with Hailuo`: a message context menu that turns any posted image into a first frame.

Apps → Animate with Hailuo on a message with an image (an attachment, else an embed's image or
thumbnail) opens a short form: the prompt (blank becomes a gentle default), the clip's length and
resolution, the model, camera moves and the prompt optimizer. Its submission goes through the same
checks, card and lifecycle as `/video` (`VideoCog.start`); the card links the source message.

A message without an image is refused before the form opens; an image the bot cannot fetch, or
one that is too small, is refused after it, with the reason. Nothing is spent either way.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands
from discord.ext import commands

import bot.governance.styles as styles_rules
from bot import camera, i18n
from bot.catalogue import DEFAULT_ANIMATE_PROMPT, DEFAULT_MODEL, MODELS, clip_choices
from bot.governance.admission import has_visible_text
from bot.jobs.contracts import Refused, VideoRequest
from bot.media.images import (
    FirstFrame,
)
from cogs._message_images import ImageSource, image_of
from cogs.common import answer_error, manages_guild, reply, role_ids
from cogs.language import MENU, member_locale
from cogs.words import refused_words

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from cogs.video import VideoCog
    from storage.models import Style

log = logging.getLogger(__name__)

MENU_NAME: Final = "Animate with Hailuo"
# How long a member may take to fill in the form (the modal is kept in memory until then).
FORM_TIMEOUT_SECONDS: Final = 15 * 60
# The checks run before the form opens must leave room in Discord's 3 s for the form itself.
EARLY_CHECK_SECONDS: Final = 1.5
FORM_PREFIX: Final = "video:animate:"

CLIP_CHOICES: Final = clip_choices()  # the settings every model offers (bot/catalogue.py)

NO_IMAGE: Final = str(
    i18n.Text(
        "That message has no image to animate. Use Animate with Hailuo on a message with an "
        "attached picture (or a link preview with one), or use /video with an image."
    )
)


def clip_label(locale: str | None, resolution: str, seconds: int) -> str:
    """'768P · 6 seconds', in the member's language."""
    text = i18n.gettext(locale, "{resolution} · {seconds} seconds")
    return text.format(resolution=resolution, seconds=seconds)[:100]


def _excerpt(style: Style) -> str:
    """A style's text as a select option's description (Discord allows 100 characters)."""
    text = " ".join(style.prompt.split())
    return text if len(text) <= 100 else text[:99] + "…"


class AnimateForm(discord.ui.Modal):
    """The short form: prompt, clip length and resolution, model, camera moves, optimizer."""

    def __init__(
        self,
        cog: StudioCog,
        message: discord.Message,
        source: ImageSource,
        image_author_id: int,
        styles: Sequence[Style] = (),
        locale: str | None = None,
    ) -> None:
        super().__init__(
            # The form's title is the menu's name, as Discord shows it in this language.
            title=i18n.pgettext(locale, MENU, MENU_NAME)[:45],
            timeout=FORM_TIMEOUT_SECONDS,
            # Unique per opening: a submission the bot does not know (it restarted while the
            # form was open) is answered by StudioCog.on_interaction.
            custom_id=f"{FORM_PREFIX}{message.id}:{secrets.token_hex(4)}",
        )
        self.cog = cog
        cog.open_forms.add(self.custom_id)
        self.message = message
        self.source = source
        self.image_author_id = image_author_id
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=2000,
            placeholder=DEFAULT_ANIMATE_PROMPT,  # what a blank prompt sends, as sent
            custom_id="prompt",
        )
        # With server styles, nothing is preselected: what the member leaves alone is the
        # style's default (else the bot's), what they pick overrides it.
        preset = not styles
        self.clip: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="clip",
            required=preset,
            min_values=1 if preset else 0,
            placeholder=None
            if preset
            else i18n.gettext(locale, "768P · 6 seconds, or the style's")[:100],
            options=[
                discord.SelectOption(
                    label=clip_label(locale, res, dur),
                    value=f"{res}:{dur}",
                    default=preset and i == 0,
                )
                for i, (res, dur) in enumerate(CLIP_CHOICES)
            ],
        )
        self.model: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="model",
            required=preset,
            min_values=1 if preset else 0,
            placeholder=None
            if preset
            else i18n.gettext(locale, "{model}, or the style's").format(
                model=MODELS[DEFAULT_MODEL].label
            )[:100],
            options=[
                discord.SelectOption(
                    label=m.label,
                    value=m.id,
                    description=i18n.gettext(locale, "Faster and cheaper; animates the image only")[
                        :100
                    ]
                    if m.needs_image
                    else None,
                    default=preset and m.id == DEFAULT_MODEL,
                )
                for m in MODELS.values()
            ],
        )
        self.style: discord.ui.Select[Any] | None = None
        if styles:
            self.style = discord.ui.Select(
                custom_id="style",
                required=False,
                min_values=0,
                placeholder=i18n.gettext(locale, "No style")[:100],
                options=[
                    discord.SelectOption(label=st.name, value=st.name, description=_excerpt(st))
                    for st in styles[: styles_rules.MAX_STYLES]
                ],
            )
        self.camera: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="camera",
            required=False,
            min_values=0,
            max_values=camera.MAX_MOVES,
            placeholder=i18n.gettext(locale, "No camera move")[:100],
            options=[discord.SelectOption(label=m, value=m) for m in camera.CAMERA_MOVES],
        )
        self.optimizer: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="optimizer",
            options=[
                discord.SelectOption(
                    label=i18n.gettext(locale, "Prompt optimizer on")[:100],
                    value="on",
                    default=True,
                ),
                discord.SelectOption(
                    label=i18n.gettext(locale, "Prompt optimizer off")[:100], value="off"
                ),
            ],
        )
        self.add_item(
            discord.ui.Label(
                text=i18n.gettext(locale, "What should happen? (optional)")[:45],
                description=i18n.gettext(locale, "Left blank: gentle, natural motion.")[:100],
                component=self.prompt,
            )
        )
        self.add_item(discord.ui.Label(text=i18n.gettext(locale, "Clip")[:45], component=self.clip))
        self.add_item(
            discord.ui.Label(text=i18n.gettext(locale, "Model")[:45], component=self.model)
        )
        self.add_item(
            discord.ui.Label(
                text=i18n.gettext(locale, "Camera moves (up to 3, together)")[:45],
                component=self.camera,
            )
        )
        if self.style is None:
            self.add_item(
                discord.ui.Label(
                    text=i18n.gettext(locale, "Prompt optimizer")[:45], component=self.optimizer
                )
            )
        else:
            # A form holds five fields: with server styles, the style takes the optimizer's
            # place (the optimizer stays on; /video still offers turning it off).
            self.add_item(
                discord.ui.Label(
                    text=i18n.gettext(locale, "Style (optional)")[:45],
                    description=i18n.gettext(
                        locale, "One of this server's styles; its words join your prompt."
                    )[:100],
                    component=self.style,
                )
            )

    async def on_submit(self, interaction: discord.Interaction[VideoBot]) -> None:  # type: ignore[override]
        self.cog.form_done(self.custom_id)
        resolution: str | None = None
        duration: int | None = None
        if self.clip.values:
            resolution, _, length = self.clip.values[0].partition(":")
            duration = int(length)
        await self.cog.animate(
            interaction,
            self.message,
            self.source,
            image_author_id=self.image_author_id,
            prompt=self.prompt.value,
            resolution=resolution,
            duration=duration,
            model=self.model.values[0] if self.model.values else None,
            moves=tuple(self.camera.values),
            prompt_optimizer=(self.optimizer.values or ["on"])[0] == "on",
            style=self.style.values[0] if self.style is not None and self.style.values else None,
        )

    async def on_timeout(self) -> None:
        self.cog.form_done(self.custom_id)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[VideoBot], error: Exception
    ) -> None:
        await answer_error(interaction, error, "the Animate form")


class StudioCog(commands.Cog):
    """The studio: animate any posted image."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.open_forms: set[str] = set()  # custom ids of forms this process opened
        self.menu = app_commands.guild_only(
            app_commands.ContextMenu(name=MENU_NAME, callback=self.open_form)
        )

    def form_done(self, custom_id: str) -> None:
        """Forget a submitted or expired form (a little later: its own submission may still
        be on its way through `on_interaction`)."""
        asyncio.get_running_loop().call_later(60, self.open_forms.discard, custom_id)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Answer the submission of a form this process never opened (it restarted meanwhile):
        discord.py keeps forms in memory only, and silence would read as a failure."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, object] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(FORM_PREFIX) or custom_id in self.open_forms:
            return
        log.info("form %s submitted after a restart; asking to open it again", custom_id)
        expired = i18n.gettext(
            member_locale(interaction),
            "That form expired (it stayed open too long, or the bot restarted). Nothing was spent: "
            "use Apps → Animate with Hailuo on the message again.",
        )
        await reply(interaction, expired)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def open_form(
        self, interaction: discord.Interaction[VideoBot], message: discord.Message
    ) -> None:
        """Apps → Animate with Hailuo: refuse a message without an image, else open the form."""
        source = image_of(message)
        if source is None:
            log.info(
                "refused Animate user=%s: message %s has no image", interaction.user.id, message.id
            )
            await reply(interaction, i18n.gettext(member_locale(interaction), NO_IMAGE))
            return
        # A member who cannot generate here (paused, blocked, wrong channel, no credits left,
        # someone else's image the server's rule or its author does not allow) hears it now
        # rather than after filling in the form. Bounded: a modal must be the first answer
        # within 3 s, and everything is checked again after the form anyway.
        author_id = message.author.id
        try:
            async with asyncio.timeout(EARLY_CHECK_SECONDS):
                author_id = await self.image_author(message)
                await self.bot.jobs.precheck(
                    self._request(interaction, message, source, image_author_id=author_id)
                )
        except Refused as exc:
            log.info("refused Animate user=%s before the form: %s", interaction.user.id, exc)
            await reply(interaction, refused_words(exc, member_locale(interaction)))
            return
        except TimeoutError:
            log.info("early checks for Animate took too long; opening the form anyway")
        assert interaction.guild_id is not None
        server_styles = await self.bot.storage.styles(interaction.guild_id)
        await interaction.response.send_modal(
            AnimateForm(self, message, source, author_id, server_styles, member_locale(interaction))
        )

    async def image_author(self, message: discord.Message) -> int:
        """Who the image belongs to: the message's author, except that the bot's own messages
        (an earlier job's card or clip) belong to the member whose job posted them."""
        me = self.bot.user
        if me is not None and message.author.id == me.id and message.guild is not None:
            requester = await self.bot.storage.requester_of_message(message.guild.id, message.id)
            if requester is not None:
                return requester
        return message.author.id

    @staticmethod
    def _request(
        interaction: discord.Interaction[VideoBot],
        message: discord.Message,
        source: ImageSource,
        **settings: Any,
    ) -> VideoRequest:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        return VideoRequest(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            role_ids=role_ids(interaction.user),
            prompt=settings.pop("prompt", "") or DEFAULT_ANIMATE_PROMPT,
            upload_limit=interaction.filesize_limit,
            image_url=source.url,
            has_image=True,
            source_url=message.jump_url,
            manage_guild=manages_guild(interaction.user),
            **settings,
        )

    async def animate(
        self,
        interaction: discord.Interaction[VideoBot],
        message: discord.Message,
        source: ImageSource,
        *,
        image_author_id: int,
        prompt: str,
        resolution: str | None,
        duration: int | None,
        model: str | None,
        moves: tuple[str, ...],
        prompt_optimizer: bool,
        style: str | None = None,
    ) -> None:
        """The form was submitted: the same checks, card and lifecycle as /video."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        try:
            chosen = (
                await styles_rules.find(self.bot.storage, interaction.guild_id, style)
                if style
                else None
            )
        except Refused as exc:
            await reply(interaction, refused_words(exc, member_locale(interaction)))
            return
        # Camera moves left empty in the form take the style's, as the other settings do.
        settings = styles_rules.with_defaults(
            chosen,
            resolution=resolution,
            duration=duration,
            model=model,
            moves=moves or None,
            default_model=DEFAULT_MODEL,
        )
        request = self._request(
            interaction,
            message,
            source,
            # Nothing visible (blank, or zero-width characters only) means "no prompt": the
            # gentle default, as for a blank form, rather than a refusal as empty.
            prompt=prompt.strip() if has_visible_text(prompt) else "",
            resolution=settings.resolution,
            duration=settings.duration,
            prompt_optimizer=prompt_optimizer,
            image_author_id=image_author_id,
            model=settings.model,
            camera=settings.camera,
            style=chosen.name if chosen else None,
            style_prompt=chosen.prompt if chosen else None,
        )

        async def read_frame() -> FirstFrame:
            return await self.bot.jobs.images.check(await source.read(), declared_size=source.size)

        video: VideoCog | None = self.bot.get_cog("VideoCog")  # type: ignore[assignment]
        if video is None:
            raise RuntimeError("the video cog is not loaded")
        await video.start(interaction, request, read_frame, command="Animate")


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(StudioCog(bot))
