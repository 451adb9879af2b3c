"""Write the command tree's strings into the English template of the catalogs.

    .venv/bin/python scripts/command_strings.py     (after `pybabel extract`, README: "Adding a
                                                    language")

pybabel finds the sentences marked in the code; the slash commands' names, descriptions and
choices are plain strings in decorators, so this script builds the tree the bot publishes, asks
it for every string discord.py would translate (through a translator that records them), and adds
them to `bot/locales/messages.pot`, each with its context (`cogs.language`: command name,
command description, choice, menu).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402
from discord import app_commands  # noqa: E402

from bot import i18n  # noqa: E402
from cogs.language import CHOICE, DESCRIPTION, MENU, NAME, message_context  # noqa: E402

TEMPLATE = i18n.LOCALES_DIR / "messages.pot"


def full_tree() -> app_commands.CommandTree[discord.Client]:
    """The command tree the bot publishes, built from the cogs (with a stand-in bot)."""
    from bot.app.video_bot import VideoBot
    from cogs.admin.commands import AdminCog
    from cogs.animate import StudioCog
    from cogs.consent import ConsentCog
    from cogs.member_commands import GovernanceCog
    from cogs.video import VideoCog

    bot = mock.create_autospec(VideoBot, instance=True)
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(
        discord.Client(intents=discord.Intents.none())
    )
    for cls in (VideoCog, GovernanceCog, ConsentCog, AdminCog):
        for command in cls(bot).get_app_commands():
            tree.add_command(command)
    tree.add_command(StudioCog(bot).menu)
    return tree


class _Recorder(app_commands.Translator):
    def __init__(self) -> None:
        self.found: dict[tuple[str, str], None] = {}  # ordered, without repeats

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        where = message_context(context)
        if where is not None and locale is discord.Locale.american_english:
            self.found[(where, string.message)] = None
        return None


async def tree_strings(
    tree: app_commands.CommandTree[discord.Client],
) -> list[tuple[str, str]]:
    """Every (context, English string) of the tree that the translator is asked for."""
    recorder = _Recorder()
    for command in tree.get_commands(type=None):  # type: ignore[call-overload]
        await command.get_translated_payload(tree, recorder)
    return list(recorder.found)


def main() -> None:
    strings = asyncio.run(tree_strings(full_tree()))
    with TEMPLATE.open("rb") as fp:
        template = read_po(fp)
    catalog = Catalog(fuzzy=False)
    tree_contexts = {NAME, DESCRIPTION, CHOICE, MENU}
    for message in template:
        if message.id and message.context not in tree_contexts:
            catalog[message.id] = message  # pybabel's part, kept as extracted
    for context, text in strings:
        catalog.add(text, context=context)
    with TEMPLATE.open("wb") as fp:
        write_po(fp, catalog, omit_header=True, width=100)
    print(f"{len(strings)} command strings in {TEMPLATE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
