"""Consent for Animate in words: `/videoprivacy` for members, and what `/videoadmin animate` says.

The rule itself lives in `bot.governance.consent`; the settings in `storage.consent`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from cogs.common import reply
from storage.models import AnimateRule

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

log = logging.getLogger(__name__)

RULE_WORDS: dict[AnimateRule, str] = {
    AnimateRule.OWN: "members can animate only images from their own messages",
    AnimateRule.ANYONE: "members can animate anyone's images",
    AnimateRule.MODERATORS: (
        "members can animate images from their own messages, and moderators anyone's"
    ),
}
OPT_OUT_NOTE = (
    "A member who refused with `/videoprivacy animate:deny` is never animated by others, "
    "whatever the rule."
)


def rule_words(rule: AnimateRule, *, changed: bool | None = None) -> str:
    """What `/videoadmin animate` answers: the rule that applies (or now applies)."""
    if changed is None:
        head = f"Animate with Hailuo: {RULE_WORDS[rule]} (`{rule.value}`"
        head += ", the default)." if rule is AnimateRule.OWN else ")."
        return f"{head} {OPT_OUT_NOTE} Change it with `/videoadmin animate who:`."
    return f"Done: from now on {RULE_WORDS[rule]} (`{rule.value}`). {OPT_OUT_NOTE}"


def privacy_words(refused: bool, changed: bool) -> str:
    """What `/videoprivacy` answers."""
    if refused:
        state = "Done:" if changed else "Already so:"
        return (
            f"{state} nobody else can animate your images in this server with Animate with "
            "Hailuo, whatever the server's rule. You can still animate your own. "
            "`/videoprivacy animate:allow` undoes it."
        )
    state = "Done:" if changed else "Already so:"
    return (
        f"{state} others may animate your images in this server when its rule allows it "
        "(moderators choose whose images may be animated)."
    )


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
        await reply(interaction, privacy_words(refused, changed))


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(ConsentCog(bot))
