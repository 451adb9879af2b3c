"""The command tree's hash decides whether a start publishes the slash commands."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.ops.publishing import invite_url, state_key, tree_digest


def tree_with(description: str, *, extra: bool = False) -> app_commands.CommandTree[discord.Client]:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(
        discord.Client(intents=discord.Intents.none())
    )

    @tree.command(name="video", description=description)
    async def video(interaction: discord.Interaction, prompt: str) -> None: ...

    if extra:

        @tree.command(name="quota", description="Your credits")
        async def quota(interaction: discord.Interaction) -> None: ...

    return tree


async def test_the_same_tree_hashes_the_same_and_any_change_differs() -> None:
    base = await tree_digest(tree_with("Make a video"), None)
    assert await tree_digest(tree_with("Make a video"), None) == base  # a plain restart: no publish
    assert await tree_digest(tree_with("Make a clip"), None) != base  # a description changed
    assert await tree_digest(tree_with("Make a video", extra=True), None) != base  # a new command
    # A server gets the global commands copied in: the same payload, but its own record, so a
    # new DEV_GUILD_ID publishes there even when the global commands are up to date.
    assert await tree_digest(tree_with("Make a video"), 42) == base
    assert state_key(None) == "commands:global" and state_key(42) == "commands:guild:42"


def test_the_invite_link_asks_for_both_scopes_and_the_five_permissions() -> None:
    url = invite_url(1234)
    assert "client_id=1234" in url and "scope=bot+applications.commands" in url
    assert url.endswith("permissions=117760")  # View, Send, Embed, Attach, Read History
    assert "client_id=YOUR_APP_ID" in invite_url(None)
