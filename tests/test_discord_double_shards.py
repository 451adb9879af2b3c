"""The Discord double's sharding: GET /gateway/bot, IDENTIFY per shard with Discord's rules,
each shard's servers and events, close 4010/4011, and thousands of realistic servers."""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.discord_double import DiscordDouble

GUILDS_INTENT = 1


@pytest.fixture
async def dd() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as double:
        double.world.config.identify_interval = 0.3
        yield double


async def gateway_bot(dd: DiscordDouble) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(dd.api_base + "/gateway/bot", headers={"Authorization": f"Bot {dd.token}"}) as r,
    ):
        return await r.json()


class Socket:
    """One raw gateway connection (TEXT frames, no compression)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
        self.ws = ws
        self.token = token

    async def frame(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        return json.loads(msg.data)

    async def identify(self, shard: list[int] | None, intents: int = GUILDS_INTENT) -> None:
        d: dict[str, Any] = {"token": self.token, "intents": intents}
        if shard is not None:
            d["shard"] = shard
        await self.ws.send_json({"op": 2, "d": d})


async def connect(s: aiohttp.ClientSession, dd: DiscordDouble) -> Socket:
    sock = Socket(await s.ws_connect(dd.gateway_url + "?v=10&encoding=json"), dd.token)
    assert (await sock.frame())["op"] == 10
    return sock


async def test_gateway_bot_recommends_a_shard_per_thousand_servers(dd: DiscordDouble) -> None:
    body = await gateway_bot(dd)
    assert body["shards"] == 1 and body["url"] == dd.gateway_url
    assert body["session_start_limit"] == {
        "total": 1000,
        "remaining": 1000,
        "reset_after": 86_400_000,
        "max_concurrency": 1,
    }
    dd.add_guilds(2500)
    dd.world.config.max_concurrency = 16
    body = await gateway_bot(dd)
    assert body["shards"] == 3 and body["session_start_limit"]["max_concurrency"] == 16


async def test_each_shard_gets_its_own_servers_and_events(dd: DiscordDouble) -> None:
    dd.add_guilds(10)
    everyone = set(dd.world.guilds)
    async with aiohttp.ClientSession() as s:
        seen: dict[int, set[int]] = {}
        socks = []
        for shard in (0, 1):
            sock = await connect(s, dd)
            await sock.identify([shard, 2])
            ready = await sock.frame()
            assert ready["t"] == "READY" and ready["d"]["shard"] == [shard, 2]
            ids = {int(g["id"]) for g in ready["d"]["guilds"]}
            creates = [await sock.frame() for _ in ids]
            assert {int(c["d"]["id"]) for c in creates} == ids
            assert all((gid >> 22) % 2 == shard for gid in ids)
            seen[shard] = ids
            socks.append(sock)
            dd.gateway._bucket_last.clear()  # the next shard at once (the rule has its own test)
        assert seen[0] | seen[1] == everyone and not seen[0] & seen[1]
        # An event of a server goes to its shard only; one without a server to shard 0.
        gid = next(iter(seen[1]))
        assert await dd.gateway.dispatch("GUILD_UPDATE", {"guild_id": str(gid)}) == 1
        event = await socks[1].frame()
        assert event["t"] == "GUILD_UPDATE" and event["d"]["guild_id"] == str(gid)
        assert await dd.gateway.dispatch("USER_UPDATE", {"id": "1"}) == 1
        assert (await socks[0].frame())["t"] == "USER_UPDATE"


async def test_identify_is_one_per_window_per_bucket(dd: DiscordDouble) -> None:
    dd.world.config.max_concurrency = 2
    async with aiohttp.ClientSession() as s:
        outcomes = []
        for shard in (0, 1, 2):  # buckets 0, 1, 0
            sock = await connect(s, dd)
            await sock.identify([shard, 4])
            outcomes.append((await sock.frame())["op"])
        # Shards 0 and 1 are in different buckets; shard 2 shares shard 0's bucket: op 9.
        assert outcomes == [0, 0, 9]
        assert [i.outcome for i in dd.gateway.identifies] == ["ready", "ready", "rate_limited"]
        body = await gateway_bot(dd)
        assert body["session_start_limit"]["remaining"] == 998  # op 9 used no session start


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], "x"])
async def test_a_shard_outside_its_count_is_closed_4010(dd: DiscordDouble, shard: Any) -> None:
    async with aiohttp.ClientSession() as s:
        sock = await connect(s, dd)
        await sock.ws.send_json({"op": 2, "d": {"token": dd.token, "intents": 1, "shard": shard}})
        msg = await sock.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4010


async def test_a_connection_with_more_than_2500_servers_is_closed_4011(dd: DiscordDouble) -> None:
    dd.add_guilds(2500)  # 2,501 with the seeded server
    async with aiohttp.ClientSession() as s:
        sock = await connect(s, dd)
        await sock.identify(None)
        msg = await sock.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4011
        dd.gateway._bucket_last.clear()
        sock = await connect(s, dd)
        await sock.identify([0, 2])  # 1,250 or so: fine
        ready = await sock.frame()
        assert ready["t"] == "READY" and 1200 < len(ready["d"]["guilds"]) < 1300


async def test_members_only_with_the_presences_intent(dd: DiscordDouble) -> None:
    dd.add_member(name="someone")  # owner, bot, tester and someone
    async with aiohttp.ClientSession() as s:
        for intents, count in ((GUILDS_INTENT, 1), (GUILDS_INTENT | 1 << 8, 4)):
            dd.gateway._bucket_last.clear()
            sock = await connect(s, dd)
            await sock.identify(None, intents)
            await sock.frame()
            guild = (await sock.frame())["d"]
            assert len(guild["members"]) == count and guild["member_count"] == 4


def test_thousands_of_servers_of_realistic_size_spread_over_shards() -> None:
    dd = DiscordDouble(seed=False)
    guilds = dd.add_guilds(10_000)
    assert len(dd.world.guilds) == 10_000
    channels = [len(g.channels) for g in guilds]
    roles = [len(g.roles) for g in guilds]
    assert statistics.median(channels) == pytest.approx(12, abs=1.5)
    assert statistics.median(roles) == pytest.approx(10, abs=1.5)  # with @everyone and the bot's
    assert max(channels) <= 500 and max(roles) <= 252
    for count in (4, 10):
        per_shard = [0] * count
        for g in guilds:
            per_shard[g.shard(count)] += 1
        assert max(per_shard) - min(per_shard) <= 1
    assert dd.world.recommended_shards() == 10
    # A server can be placed on a chosen shard.
    placed = dd.add_guild("placed", shard=(3, 7))
    assert placed.shard(7) == 3


async def test_discord_py_shards_over_realistic_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    import discord
    import discord.gateway
    import discord.http
    import yarl

    async with DiscordDouble() as dd:
        dd.world.config.identify_interval = 0.0
        dd.world.config.guilds_per_shard = 25
        dd.add_guilds(60)  # 61 servers: 3 shards
        monkeypatch.setattr(discord.http.Route, "BASE", dd.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(dd.gateway_url)
        )
        intents = discord.Intents.none()
        intents.guilds = True
        client = discord.AutoShardedClient(
            intents=intents, chunk_guilds_at_startup=False, guild_ready_timeout=0.1
        )

        async def no_wait(shard_id: int | None, *, initial: bool = False) -> None:
            return None

        client.before_identify_hook = no_wait  # type: ignore[method-assign]
        async with client:
            await client.login(dd.token)
            runner = asyncio.create_task(client.connect())
            try:
                await asyncio.wait_for(client.wait_until_ready(), 10)
                assert client.shard_count == 3 and len(client.guilds) == 61
                channels = [c for g in client.guilds for c in g.channels]
                kinds = {type(c).__name__ for c in channels}
                assert {"TextChannel", "VoiceChannel", "CategoryChannel"} <= kinds
                assert all(g.get_role(g.id) is not None for g in client.guilds)
                assert all(g.shard_id == (g.id >> 22) % 3 for g in client.guilds)
            finally:
                await client.close()
                runner.cancel()


async def test_the_global_limit_counts_bot_requests_but_not_interaction_webhooks(
    dd: DiscordDouble,
) -> None:
    dd.world.config.rate_limits = True
    dd.world.config.global_limit = (3, 60.0)
    headers = {"Authorization": f"Bot {dd.token}"}
    assert dd.channel is not None
    async with aiohttp.ClientSession(headers=headers) as s:
        statuses = []
        for _ in range(4):
            async with s.get(f"{dd.api_base}/channels/{dd.channel.id}/messages") as r:
                statuses.append(r.status)
                body, rh = await r.json(), r.headers
        assert statuses == [200, 200, 200, 429]
        assert body["global"] is True and rh["X-RateLimit-Scope"] == "global" and rh["Via"]
        assert dd.world.global_limit_hits == 1
        # Interaction webhooks "are not subject to the global rate limit".
        async with s.get(f"{dd.api_base}/webhooks/{dd.world.app_id}/nope/messages/@original") as r:
            assert r.status != 429
