"""`JobButton`: what every persistent button about one job has in common.

A job button's custom_id is `<prefix>:<job id>`; everything else lives in SQLite, so the button
works on every message ever posted, across restarts (discord.py's `DynamicItem`). A subclass
names its prefix, label and style in its class line and writes `pressed`:

    class CancelButton(JobButton, prefix="video:cancel", label="Cancel", style=DANGER):
        async def pressed(self, interaction): ...

`callback` runs `pressed` through the error funnel (`cogs.common.guarded`): discord.py only logs
what a DynamicItem raises, so without it a refusal would reach nobody.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Self

import discord

from bot.jobs.contracts import check_in_server
from cogs.common import guarded

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from storage.models import Job


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A persistent button about one job (abstract: subclasses name prefix, label and style)."""

    prefix: ClassVar[str]
    label: ClassVar[str]
    style: ClassVar[discord.ButtonStyle]
    emoji: ClassVar[str | None]

    def __init_subclass__(
        cls,
        *,
        prefix: str,
        label: str,
        style: discord.ButtonStyle,
        emoji: str | None = None,
    ) -> None:
        super().__init_subclass__(template=rf"{re.escape(prefix)}:(?P<job_id>[0-9]+)")
        cls.prefix, cls.label, cls.style, cls.emoji = prefix, label, style, emoji

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=self.label,
                style=self.style,
                emoji=self.emoji,
                custom_id=f"{self.prefix}:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self.pressed)

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        """What a click does; refusals (`Refused`) become the clicker's private answer."""
        raise NotImplementedError


async def job_in_this_server(interaction: discord.Interaction[VideoBot], job_id: int) -> Job:
    """The job a button or form is about; refused when it belongs to another server."""
    return check_in_server(await interaction.client.storage.get_job(job_id), interaction.guild_id)
