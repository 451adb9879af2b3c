"""The command tree whose strings go into the catalogs is the one the bot publishes: it is
built from the bot's extension list, so a new cog's commands cannot be forgotten."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import discord
from discord.ext import commands

import cogs
from scripts.command_strings import full_tree


def cog_classes() -> list[type[commands.Cog]]:
    """Every cog class defined anywhere in the `cogs` package."""
    found = []
    for module in pkgutil.walk_packages(cogs.__path__, "cogs."):
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            own = inspect.isclass(value) and value.__module__ == loaded.__name__
            if own and issubclass(value, commands.Cog):
                found.append(value)
    return found


def test_every_slash_command_of_every_cog_is_in_the_tree() -> None:
    published = {c.name for c in full_tree().get_commands(type=discord.AppCommandType.chat_input)}
    declared = {
        (command.root_parent or command).name
        for cls in cog_classes()
        for command in cls.__cog_app_commands__
    }
    assert declared and declared <= published
    assert {"video", "quota", "jobs", "videoprivacy", "videoadmin"} <= published


def test_the_tree_has_the_menus_and_subcommands_the_extensions_add() -> None:
    tree = full_tree()
    assert tree.get_command("Animate with Hailuo", type=discord.AppCommandType.message)
    admin = tree.get_command("videoadmin")
    assert isinstance(admin, discord.app_commands.Group)
    assert {"language", "style", "audit"} <= {c.name for c in admin.commands}
    assert tree.translator is None  # the caller chooses its translator


def test_no_command_is_offered_outside_a_server() -> None:
    # Discord itself keeps every command out of DMs (in the member's own client language), so
    # no member reads the bot's "only works in a server" refusal from a command.
    tree = full_tree()
    for command in tree.get_commands(type=None):  # type: ignore[call-overload]
        payload = command.to_dict(tree)
        assert payload.get("contexts") in (None, [0]) and payload["dm_permission"] is False
