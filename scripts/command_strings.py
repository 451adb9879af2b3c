"""The command tree's strings: what `scripts/update_catalogs.py` adds to the English template.

    .venv/bin/python scripts/update_catalogs.py     (README: "Adding a language"; running this
                                                    file alone rewrites only the tree's part of
                                                    `bot/locales/messages.pot`)

pybabel finds the sentences marked in the code; the slash commands' names, descriptions and
choices are plain strings in decorators, so this builds the tree the bot publishes (a bot that
loads every extension of `bot.app.video_bot.COGS`), asks it for every string discord.py would
translate (through a translator that records them), and gives them to the template, each with
its context (`cogs.language`: command name, command description, choice, menu).
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402
from discord import app_commands  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from bot import i18n  # noqa: E402
from cogs.language import CHOICE, DESCRIPTION, MENU, NAME, message_context  # noqa: E402

TEMPLATE = i18n.LOCALES_DIR / "messages.pot"


def full_tree() -> app_commands.CommandTree[discord.Client]:
    """The command tree the bot publishes: a `VideoBot` loads every extension it names
    (`bot.app.video_bot.COGS`), so a new cog's commands are in without being listed here.

    Its storage and Wiro client are spec'd stand-ins (the tree needs the bot's shape, not its
    services), and the tree comes back without a translator: callers choose theirs. The
    extensions load on a loop of their own, in a worker thread, so this can be called from
    a script and from inside a running test alike."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, _loaded_tree()).result()


async def _loaded_tree() -> app_commands.CommandTree[discord.Client]:
    from bot.app.video_bot import COGS, VideoBot
    from bot.settings import Settings
    from bot.wiro.client import WiroClient
    from storage.db import Database

    bot = VideoBot(
        settings=Settings.model_construct(discord_token=SecretStr("unused"), wiro_sandbox=True),
        storage=mock.create_autospec(Database, instance=True),
        wiro=mock.create_autospec(WiroClient, instance=True),
        mode="sync",
    )
    for name in COGS:
        await bot.load_extension(name)
    tree: app_commands.CommandTree[discord.Client] = bot.tree
    await tree.set_translator(None)
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
