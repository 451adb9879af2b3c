"""Consent for Animate in words: `/videoprivacy` for members, and what `/videoadmin animate` says.

The rule itself lives in `bot.governance.consent`; the settings in `storage.consent`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from cogs.common import reply
from cogs.language import member_locale
from storage.models import AnimateRule

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)


def _rule_clause(locale: str | None, rule: AnimateRule) -> str:
    """Who may animate whose images under `rule`, as a clause inside a sentence."""
    if rule is AnimateRule.ANYONE:
        return i18n.gettext(locale, "members can animate anyone's images")
    if rule is AnimateRule.MODERATORS:
        return i18n.gettext(
            locale, "members can animate images from their own messages, and moderators anyone's"
        )
    return i18n.gettext(locale, "members can animate only images from their own messages")


def _opt_out_note(locale: str | None) -> str:
    return i18n.gettext(
        locale,
        "A member who refused with `/videoprivacy animate:deny` is never animated by others, "
        "whatever the rule.",
    )


def rule_words(rule: AnimateRule, *, changed: bool | None = None, locale: str | None = None) -> str:
    """What `/videoadmin animate` answers: the rule that applies (or now applies), in the
    language of `locale` (the moderator's: only they read it)."""
    menu = i18n.pgettext(locale, "menu", "Animate with Hailuo")
    fields = {"menu": menu, "rule": _rule_clause(locale, rule), "value": rule.value}
    if changed is None:
        if rule is AnimateRule.OWN:
            head = i18n.gettext(locale, "{menu}: {rule} (`{value}`, the default).")
        else:
            head = i18n.gettext(locale, "{menu}: {rule} (`{value}`).")
        change = i18n.gettext(locale, "Change it with `/videoadmin animate who:`.")
        return f"{head.format(**fields)} {_opt_out_note(locale)} {change}"
    done = i18n.gettext(locale, "Done: from now on {rule} (`{value}`).").format(**fields)
    return f"{done} {_opt_out_note(locale)}"


def privacy_words(refused: bool, changed: bool, locale: str | None = None) -> str:
    """What `/videoprivacy` answers, in the language of `locale` (the member's)."""
    menu = i18n.pgettext(locale, "menu", "Animate with Hailuo")
    if refused and changed:
        text = i18n.gettext(
            locale,
            "Done: nobody else can animate your images in this server with {menu}, whatever "
            "the server's rule. You can still animate your own. `/videoprivacy animate:allow` "
            "undoes it.",
        )
    elif refused:
        text = i18n.gettext(
            locale,
            "Already so: nobody else can animate your images in this server with {menu}, "
            "whatever the server's rule. You can still animate your own. "
            "`/videoprivacy animate:allow` undoes it.",
        )
    elif changed:
        text = i18n.gettext(
            locale,
            "Done: others may animate your images in this server when its rule allows it "
            "(moderators choose whose images may be animated).",
        )
    else:
        text = i18n.gettext(
            locale,
            "Already so: others may animate your images in this server when its rule allows "
            "it (moderators choose whose images may be animated).",
        )
    return text.format(menu=menu)


class ConsentCog(commands.Cog):
    """Members decide whether others may animate their images."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="videoprivacy")
    @app_commands.guild_only()
    @app_commands.describe(
        animate="deny: nobody else may animate your images in this server; allow: the "
        "server's rule decides"
    )
    async def videoprivacy(
        self,
        interaction: discord.Interaction[VideoBot],
        animate: Literal["allow", "deny"],
    ) -> None:
        """Choose whether other members may animate your images with Animate with Hailuo."""
        assert interaction.guild_id is not None
        refused = animate == "deny"
        changed = await self.bot.storage.set_animate_refusal(
            interaction.guild_id, interaction.user.id, refused
        )
        log.info(
            "videoprivacy guild=%s user=%s animate=%s (changed=%s)",
            interaction.guild_id,
            interaction.user.id,
            animate,
            changed,
        )
        await reply(interaction, privacy_words(refused, changed, member_locale(interaction)))


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(ConsentCog(bot))
