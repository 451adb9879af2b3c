"""`/videoadmin style …`: add, remove and list a server's styles, the subcommands and their words.

The rules (name and text limits, `{prompt}`, the 25-style cap) are `bot/governance/styles.py`'s and
the store's; here they are checked in the order a moderator reads them, and answered in words, in
the moderator's language (module functions, tested without Discord). `StyleCommands` is the
`style` group that `cogs/admin/commands.py` hangs under /videoadmin; its commands reach the
services through `interaction.client`, as a group is not the cog.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands

import bot.governance.quota as quota
import bot.governance.styles as styles
from bot import camera, i18n
from bot.camera import CameraRefused
from bot.catalogue import MODELS
from bot.governance.styles import MAX_NAME_CHARS, MAX_STYLE_CHARS
from bot.jobs.contracts import Refused
from cogs.cards.text import prompt_as_text
from cogs.common import (
    DURATION_CHOICES,
    MODEL_CHOICES,
    RESOLUTION_CHOICES,
    guild_and_actor,
    moderator_only,
    reply,
)
from cogs.language import member_locale
from cogs.video import style_choices
from cogs.words import fit_lines
from storage.db import Database
from storage.models import Style

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot


def defaults_words(style: Style, locale: str | None = None) -> str:
    """'768P · 10 s · Hailuo 2.3 Fast · Pan left + Zoom in', or 'no defaults'."""
    parts: list[str] = []
    if style.resolution:
        parts.append(style.resolution)
    if style.duration:
        parts.append(i18n.gettext(locale, "{seconds} s").format(seconds=style.duration))
    if style.model:
        model = MODELS.get(style.model)
        parts.append(model.label if model else style.model)
    moves = camera.split_moves(style.camera)
    if moves:
        parts.append(" + ".join(moves))
    return " · ".join(parts) if parts else i18n.gettext(locale, "no defaults")


async def add_style(
    storage: Database,
    guild_id: int,
    actor_id: int,
    now: datetime,
    *,
    name: str,
    prompt: str,
    moves: str | None,
    model: str | None,
    resolution: str | None,
    duration: int | None,
    locale: str | None = None,
) -> str:
    """Add a style, or refuse with the reason (nothing is written then)."""
    tidy_name = styles.check_name(name)
    text = styles.check_text(prompt)
    try:
        parsed = camera.parse_moves(moves)
    except CameraRefused as exc:
        raise Refused(exc.reason) from None
    if resolution == "1080P" and duration not in (None, 6):
        raise Refused(
            i18n.Text("1080P videos can only be 6 seconds long; choose 768P for 10 seconds.")
        )
    settings = await storage.guild_settings(guild_id)
    word = quota.blocked_word_in(text, settings.blocked_words)
    if word is not None:
        raise Refused(
            i18n.Text("The style's text contains a word this server has blocked (“{word}”).",
                      word=word)
        )  # fmt: skip
    style = Style(
        guild_id=guild_id,
        name=tidy_name,
        prompt=text,
        camera=camera.join_moves(parsed),
        model=model,
        resolution=resolution,
        duration=6 if resolution == "1080P" else duration,
        added_by=actor_id,
        added_at=now,
    )
    outcome = await storage.add_style(style)
    shown = prompt_as_text(tidy_name, 100)
    if outcome == "exists":
        raise Refused(
            i18n.Text(
                "This server already has a style called “{name}” (names are compared in any "
                "case). Remove it first to change it.",
                name=shown,
            )
        )
    if outcome == "full":
        raise Refused(
            i18n.Text(
                "This server has {count} styles, the most it may have. Remove one first.",
                count=styles.MAX_STYLES,
            )
        )
    if styles.PLACEHOLDER in text:
        added = i18n.gettext(
            locale,
            "Added the style “{name}” ({defaults}). Members pick it with the `style` option of "
            "/video or in the Animate form: their prompt goes where {placeholder} stands; their "
            "own options override the style's.",
        )
    else:
        added = i18n.gettext(
            locale,
            "Added the style “{name}” ({defaults}). Members pick it with the `style` option of "
            "/video or in the Animate form: their prompt goes followed by the style's words (no "
            "{placeholder} in it); their own options override the style's.",
        )
    return added.format(
        name=shown, defaults=defaults_words(style, locale), placeholder=styles.PLACEHOLDER
    )


async def remove_style(
    storage: Database, guild_id: int, name: str, actor_id: int, locale: str | None = None
) -> str:
    """Remove a style, or refuse when there is none of that name."""
    removed = await storage.remove_style(guild_id, name, actor_id)
    if removed is None:
        raise Refused(
            i18n.Text("This server has no style called “{name}”.", name=prompt_as_text(name, 100))
        )
    return i18n.gettext(
        locale,
        "Removed the style “{name}”. Jobs made with it keep it (their Re-roll, Remix, Extend "
        "and Remake use the same words).",
    ).format(name=prompt_as_text(removed.name, 100))


def describe_styles(server_styles: Sequence[Style], locale: str | None = None) -> str:
    """The server's styles, one line each: name, defaults, text."""
    if not server_styles:
        return i18n.gettext(
            locale, "This server has no styles. Add one with /videoadmin style add."
        )
    header = [
        i18n.ngettext(
            locale, "**{count} of {most} styles**", "**{count} of {most} styles**",
            len(server_styles),
        ).format(count=len(server_styles), most=styles.MAX_STYLES)
    ]  # fmt: skip
    items = [
        f"• **{prompt_as_text(s.name, 100)}** ({defaults_words(s, locale)}): "
        f"{prompt_as_text(s.prompt, 200)}"
        for s in server_styles
    ]
    return fit_lines(header, items, locale=locale)


class StyleCommands(
    app_commands.Group, name="style", description="Server styles: presets members pick"
):
    """`/videoadmin style add|remove|list`."""

    @app_commands.command(name="add")
    @app_commands.describe(
        name="The style's name (up to 32 characters, unique in this server)",
        prompt="Its words; {prompt} marks where the member's go (else they come first)",
        camera="Default camera moves (up to 3, comma-separated)",
        model="Default model",
        resolution="Default resolution",
        duration="Default length in seconds",
    )
    @app_commands.choices(model=MODEL_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.choices(duration=DURATION_CHOICES)
    @moderator_only()
    async def style_add(
        self,
        interaction: discord.Interaction[VideoBot],
        name: app_commands.Range[str, 1, MAX_NAME_CHARS],
        prompt: app_commands.Range[str, 1, MAX_STYLE_CHARS],
        camera: str | None = None,
        model: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
    ) -> None:
        """Add a style members can pick on /video and in the Animate form."""
        guild_id, actor = guild_and_actor(interaction)
        text = await add_style(
            interaction.client.storage,
            guild_id,
            actor,
            interaction.client.jobs.clock(),
            name=name,
            prompt=prompt,
            moves=camera,
            model=model.value if model else None,
            resolution=resolution.value if resolution else None,
            duration=duration.value if duration else None,
            locale=member_locale(interaction),
        )
        await reply(interaction, text)

    @style_add.autocomplete("camera")
    async def _style_camera(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in camera.suggest(current)]

    @app_commands.command(name="remove")
    @app_commands.describe(name="The style to remove (jobs made with it keep it)")
    @moderator_only()
    async def style_remove(
        self,
        interaction: discord.Interaction[VideoBot],
        name: app_commands.Range[str, 1, 100],
    ) -> None:
        """Remove a style."""
        guild_id, actor = guild_and_actor(interaction)
        storage, locale = interaction.client.storage, member_locale(interaction)
        await reply(interaction, await remove_style(storage, guild_id, name, actor, locale))

    @style_remove.autocomplete("name")
    async def _style_names(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        return style_choices(await interaction.client.storage.styles(interaction.guild_id), current)

    @app_commands.command(name="list")
    @moderator_only()
    async def style_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """List this server's styles."""
        guild_id, _ = guild_and_actor(interaction)
        server_styles = await interaction.client.storage.styles(guild_id)
        await reply(interaction, describe_styles(server_styles, member_locale(interaction)))
