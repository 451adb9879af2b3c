"""The Discord double's languages: a member's client `locale` and a server's `preferred_locale`
(`guild_locale` in interactions), as discord.py reads them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import yarl

from tests.discord_double import DiscordDouble, Guild, Member
from tests.discord_double.interactions import base_payload

ECHO = {"name": "echo", "description": "Echo", "type": 1}


def payload_of(dd: DiscordDouble, guild: Guild, member: Member) -> dict[str, object]:
    channel = next(iter(guild.channels.values()))
    return base_payload(
        dd.world, itype=2, guild=guild, channel_id=channel.id, member=member
    ).payload


def test_interactions_are_in_english_by_default() -> None:
    dd = DiscordDouble()
    assert dd.guild is not None and dd.user is not None
    data = payload_of(dd, dd.guild, dd.guild.members[dd.user.id])
    assert (data["locale"], data["guild_locale"]) == ("en-US", "en-US")
    assert dd.guild.payload()["preferred_locale"] == "en-US"


def test_an_interaction_carries_the_members_and_the_servers_language() -> None:
    dd = DiscordDouble()
    guild = dd.add_guild("Sunucu", preferred_locale="es-ES")
    dd.add_channel("genel", guild=guild)
    member = dd.add_member(name="ayse", guild=guild, locale="tr")
    data = payload_of(dd, guild, member)
    assert (data["locale"], data["guild_locale"]) == ("tr", "es-ES")
    assert data["guild"] == {"id": str(guild.id), "locale": "es-ES", "features": []}
    assert guild.payload()["preferred_locale"] == "es-ES"
    # The client language belongs to the user: the same in every server they are in.
    assert dd.guild is not None
    dd.add_member(member.user.id, guild=dd.guild)
    elsewhere = payload_of(dd, dd.guild, dd.guild.members[member.user.id])
    assert (elsewhere["locale"], elsewhere["guild_locale"]) == ("tr", "en-US")
    # A user who switches their client's language sends the new one from then on.
    dd.set_locale(member, "ja")
    assert payload_of(dd, guild, member)["locale"] == "ja"


@pytest.fixture
async def client(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[DiscordDouble, discord.Client]]:
    """discord.py against the double, its server in Spanish, with /echo synced."""
    async with DiscordDouble() as dd:
        assert dd.guild is not None
        dd.guild.preferred_locale = "es-ES"
        headers = {"Authorization": f"Bot {dd.token}"}
        path = f"{dd.api_base}/applications/{dd.world.app_id}/guilds/{dd.guild.id}/commands"
        async with aiohttp.ClientSession(headers=headers) as s, s.put(path, json=[ECHO]) as r:
            assert r.status == 200
        monkeypatch.setattr(discord.http.Route, "BASE", dd.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(dd.gateway_url)
        )
        bot = discord.Client(intents=discord.Intents.default())
        async with bot:
            await bot.login(dd.token)
            runner = asyncio.create_task(bot.connect())
            try:
                await asyncio.wait_for(bot.wait_until_ready(), 10)
                yield dd, bot
            finally:
                await bot.close()
                runner.cancel()


async def test_discord_py_reads_the_servers_language_and_its_change(
    client: tuple[DiscordDouble, discord.Client],
) -> None:
    dd, bot = client
    assert dd.guild is not None
    guild = bot.get_guild(dd.guild.id)
    assert guild is not None and guild.preferred_locale is discord.Locale.spain_spanish
    await dd.set_preferred_locale(dd.guild, "tr")
    await dd.wait_for(lambda: guild.preferred_locale is discord.Locale.turkish, 5)
    assert guild.name == dd.guild.name and guild.get_role(guild.id) is not None


async def test_discord_py_reads_the_members_and_the_servers_language_in_an_interaction(
    client: tuple[DiscordDouble, discord.Client],
) -> None:
    dd, bot = client
    seen: asyncio.Queue[discord.Interaction] = asyncio.Queue()
    bot.event(_put_into(seen))
    member = dd.add_member(name="ayse", locale="tr")
    await dd.slash("echo", user=member)
    got = await asyncio.wait_for(seen.get(), 5)
    assert got.locale is discord.Locale.turkish
    assert got.guild_locale is discord.Locale.spain_spanish
    dd.set_locale(member, "pt-BR")
    await dd.slash("echo", user=member)
    got = await asyncio.wait_for(seen.get(), 5)
    assert got.locale is discord.Locale.brazil_portuguese


def _put_into(
    queue: asyncio.Queue[discord.Interaction],
) -> Callable[[discord.Interaction], Coroutine[Any, Any, None]]:
    async def on_interaction(interaction: discord.Interaction) -> None:
        queue.put_nowait(interaction)

    return on_interaction
