"""The card's persistent buttons: the job id lives in custom_id, the state in SQLite."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.jobs.contracts import Asker
from cogs.cards.text import card_link
from cogs.common import is_moderator, manages_guild, reply, role_ids, started_words
from cogs.job_buttons import JobButton, job_in_this_server
from cogs.language import member_locale

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from storage.models import Job

log = logging.getLogger(__name__)


async def start_follow_up(
    interaction: discord.Interaction[VideoBot],
    job_id: int,
    doing: str,
    start: Callable[..., Awaitable[Job]],
    **options: Any,
) -> None:
    """Start a follow-up of a job (Re-roll, Extend, Remake) for the member who clicked, and tell
    them, in their language, where its card is: `doing` is the English of "Re-rolling as job
    {id}." (marked for the catalogs where it is written). `start` is the `JobService` method."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    await job_in_this_server(interaction, job_id)
    asker = Asker(
        interaction.user.id,
        role_ids(interaction.user),
        upload_limit=interaction.filesize_limit,
        manage_guild=manages_guild(interaction.user),
    )
    new = await start(job_id, asker, **options)
    locale = member_locale(interaction)
    started = await started_words(interaction.client, new.id, new.credits, locale)
    doing = i18n.gettext(locale, doing).format(id=new.id)
    await reply(interaction, f"{doing} {started}: {card_link(new, locale)}")


class CancelButton(
    JobButton,
    prefix="video:cancel",
    label=str(i18n.Text("Cancel")),
    style=discord.ButtonStyle.danger,
):
    """Cancel a job (its requester or a moderator)."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        await job_in_this_server(interaction, self.job_id)
        message = await bot.jobs.cancel(
            self.job_id, interaction.user.id, is_moderator=await is_moderator(interaction)
        )
        locale = member_locale(interaction)
        # The service answers in English; the catalog puts what it knows in the member's language.
        await reply(interaction, i18n.from_english(locale, message))


class RerollButton(
    JobButton,
    prefix="video:reroll",
    label=str(i18n.Text("Re-roll")),
    style=discord.ButtonStyle.secondary,
    emoji="🔁",
):
    """Run the same prompt and settings again (charged again)."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        reroll = interaction.client.jobs.reroll
        doing = str(i18n.Text("Re-rolling as job {id}."))
        await start_follow_up(interaction, self.job_id, doing, reroll)
