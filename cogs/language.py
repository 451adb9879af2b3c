"""Languages on Discord: the commands' localized names, and which language an answer is in.

The command tree's names, descriptions and choices are translated by `CatalogTranslator`, a
discord.py `app_commands.Translator` reading the same gettext catalogs as every other sentence
(`bot.i18n`). Each kind of string has its own message context, because Discord's rules differ:
a command or option name is one lowercase word (`^[-_'\\p{L}\\p{N}…]{1,32}$`), a description is
1–100 characters of prose, a choice name is prose up to 100, and a context menu's name may
have spaces and capitals.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import TYPE_CHECKING

from discord import Locale, app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot import i18n

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot

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


async def setup(bot: VideoBot) -> None:
    await bot.tree.set_translator(CatalogTranslator())


async def teardown(bot: VideoBot) -> None:
    await bot.tree.set_translator(None)
