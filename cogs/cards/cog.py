"""The job card's extension: it builds the presenter and the audit poster, hands them to the
services, and registers the card's persistent buttons and forms (discord.py `setup`), so the
composition root names it by string and imports nothing of it.

Other cogs reach the presenter and the poster through `cards_of(bot)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from discord.ext import commands

from cogs.audit import AuditPoster
from cogs.cards.buttons import CancelButton, RerollButton
from cogs.cards.presenter import DiscordPresenter
from cogs.cards.studio import (
    DeleteButton,
    ExtendButton,
    RemakeButton,
    RemixButton,
    on_extend_form,
    on_remix_form,
)
from cogs.words import budget_alert_text

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

# Buttons of every card ever posted keep working: the job id is in the custom_id.
BUTTONS = (CancelButton, RerollButton, ExtendButton, RemakeButton, RemixButton, DeleteButton)
FORMS = (on_extend_form, on_remix_form)


class CardsCog(commands.Cog):
    """Job cards, clip messages and audit lines: the Discord side of the job lifecycle."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.presenter = DiscordPresenter(
            bot, retry=bot.jobs.config.delivery_retry, pacing_scale=bot.timing.pacing_scale
        )
        self.audit = AuditPoster(bot, self.presenter.sends)
        self.presenter.audit = self.audit

    async def cog_load(self) -> None:
        self.bot.jobs.presenter = self.presenter
        self.bot.budget_alerts.wire(post=self.audit.post, words=budget_alert_text)
        self.bot.add_dynamic_items(*BUTTONS)
        for form in FORMS:
            self.bot.add_listener(form, "on_interaction")

    async def cog_unload(self) -> None:
        for form in FORMS:
            self.bot.remove_listener(form, "on_interaction")
        self.bot.remove_dynamic_items(*BUTTONS)


def cards_of(bot: VideoBot) -> CardsCog:
    """The loaded cards extension (its presenter and audit poster)."""
    cog = bot.get_cog("CardsCog")
    if cog is None:
        raise RuntimeError("the cards extension (cogs.cards.cog) is not loaded")
    return cast("CardsCog", cog)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(CardsCog(bot))
