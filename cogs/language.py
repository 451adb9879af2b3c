"""Languages on Discord: the commands' localized names, and which language an answer is in.

Who reads which language (issue 24): an answer only the member sees (ephemeral replies, forms)
is in the member's Discord language (`interaction.locale`, `member_locale`); a public message
(the card, the clip message, review and audit lines) is in the server's language
(`public_locale`): the one a moderator set with `/videoadmin language set`, else Discord's
`guild_locale`, else English. Logs stay English.

The command tree's names, descriptions and choices are translated by `CatalogTranslator`, a
discord.py `app_commands.Translator` reading the same gettext catalogs as every other sentence
(`bot.i18n`). Each kind of string has its own message context, because Discord's rules differ:
a command or option name is one lowercase word (`^[-_'\\p{L}\\p{N}…]{1,32}$`), a description is
1–100 characters of prose, a choice name is prose up to 100, and a context menu's name may
have spaces and capitals.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from typing import TYPE_CHECKING

from discord import Locale, app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot import i18n

if TYPE_CHECKING:
    import discord

    from bot.app.video_bot import VideoBot
    from storage.api import Storage

log = logging.getLogger(__name__)

# The message contexts (msgctxt) of the command tree's strings in the catalogs.
NAME = "command name"
DESCRIPTION = "command description"
CHOICE = "choice"
MENU = "menu"

_CONTEXTS = {
    Where.command_name: NAME,
    Where.group_name: NAME,
    Where.parameter_name: NAME,
    Where.command_description: DESCRIPTION,
    Where.group_description: DESCRIPTION,
    Where.parameter_description: DESCRIPTION,
    Where.choice_name: CHOICE,
}


def message_context(context: app_commands.TranslationContextTypes) -> str | None:
    """The catalog context of one string of the tree (None: not the tree's, left alone)."""
    menu = isinstance(context.data, app_commands.ContextMenu)
    if context.location is Where.command_name and menu:
        return MENU
    return _CONTEXTS.get(context.location)


def valid_name(name: str) -> bool:
    """Discord's rule for a slash command's or option's name: 1–32 characters, letters (in
    their lowercase form), digits, `-`, `_` and `'`."""
    if not 1 <= len(name) <= 32 or name != name.lower():
        return False
    return all(ch in "-_'" or unicodedata.category(ch)[0] in "LNM" for ch in name)


def fits(context: str, text: str) -> bool:
    """Whether a translation obeys Discord's rule for its kind of string."""
    if context == NAME:
        return valid_name(text)
    if context == MENU:
        return 1 <= len(text) <= 32
    return 1 <= len(text) <= 100


class CatalogTranslator(app_commands.Translator):
    """Localizes the command tree from the catalogs, for every language shipped."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        where = message_context(context)
        if where is None or i18n.catalog_name(locale.value) is None:
            return None
        text = i18n.pgettext(locale.value, where, string.message)
        if text == string.message:
            return None  # untranslated: Discord shows the English
        if not fits(where, text):
            # A broken translation must not stop the whole tree from publishing.
            log.warning("%s translation %r of %r breaks Discord's rules", locale, text, string)
            return None
        return text


# The languages a server may choose, each named in itself (as language pickers do), English first.
LANGUAGE_NAMES: dict[str, str] = {
    i18n.SOURCE: "English",
    "es-ES": "Español",
    "pt-BR": "Português do Brasil",
    "tr": "Türkçe",
    "de": "Deutsch",
    "fr": "Français",
    "ja": "日本語",
}
assert set(LANGUAGE_NAMES) == {i18n.SOURCE, *i18n.SUPPORTED}


def member_locale(interaction: discord.Interaction[VideoBot]) -> str:
    """The language of an answer only this member sees: their Discord client's."""
    return interaction.locale.value


async def public_locale(
    storage: Storage, guild_id: int, guild_locale: discord.Locale | None
) -> str:
    """The language of a public message in this server: set, else Discord's, else English."""
    chosen = await storage.server_language(guild_id)
    if chosen is not None:
        return chosen
    if guild_locale is not None:
        return guild_locale.value
    return i18n.SOURCE


async def server_locale(bot: VideoBot, guild_id: int) -> str:
    """The language of a public message in this server when no interaction is at hand (a card
    edited as a job moves, a clip posted, an audit line): Discord's `guild_locale` is the
    server's `preferred_locale` in the bot's cache."""
    guild = bot.get_guild(guild_id)
    return await public_locale(bot.storage, guild_id, guild.preferred_locale if guild else None)


def language_name(locale: str) -> str:
    """A shipped language's own name; English for any locale the bot does not speak."""
    catalog = i18n.catalog_name(locale)
    for code, name in LANGUAGE_NAMES.items():
        if catalog is not None and i18n.catalog_name(code) == catalog:
            return name
    return LANGUAGE_NAMES[i18n.SOURCE]


def _member_note(locale: str) -> str:
    return i18n.gettext(
        locale, "Answers only one member sees stay in that member's Discord language."
    )


def language_set_words(locale: str, chosen: str) -> str:
    """What `/videoadmin language set` answers, in the moderator's language (`locale`)."""
    done = i18n.gettext(
        locale,
        "Done: this server's public messages (cards, clips, reviews, audit lines) are now in "
        "{language}.",
    ).format(language=language_name(chosen))
    return f"{done} {_member_note(locale)}"


def language_show_words(locale: str, chosen: str | None, guild_locale: str | None) -> str:
    """What `/videoadmin language show` answers: the language that applies, and why."""
    if chosen is not None:
        text = i18n.gettext(
            locale,
            "This server's public messages are in {language}, set with `/videoadmin language set`.",
        )
        applies = chosen
    elif guild_locale is not None and i18n.catalog_name(guild_locale) is not None:
        text = i18n.gettext(
            locale,
            "This server's public messages are in {language}, the server's language in Discord "
            "(none was set with `/videoadmin language set`).",
        )
        applies = guild_locale
    else:
        text = i18n.gettext(
            locale,
            "This server's public messages are in {language}: none was set with "
            "`/videoadmin language set`, and the bot does not speak the server's language in "
            "Discord.",
        )
        applies = i18n.SOURCE
    return f"{text.format(language=language_name(applies))} {_member_note(locale)}"


async def setup(bot: VideoBot) -> None:
    await asyncio.to_thread(i18n.preload)
    await bot.tree.set_translator(CatalogTranslator())


async def teardown(bot: VideoBot) -> None:
    await bot.tree.set_translator(None)
