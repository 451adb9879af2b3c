"""bot/app/global_limit.py: the bot keeps under Discord's global 50 requests/s, never hits it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import discord.http
import pytest
from yarl import URL

from bot.app.global_limit import GlobalPace, counts_against_global_limit
from tests.discord_double import DiscordDouble


class FakeTime:
    def __init__(self) -> None:
        self.now = 10.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("url", "counts"),
    [
        ("https://discord.com/api/v10/channels/1/messages/2", True),
        ("https://discord.com/api/v10/applications/1/commands", True),
        ("http://127.0.0.1:5/api/v10/gateway/bot", True),
        ("https://discord.com/api/v10/interactions/1/tok/callback?with_response=1", False),
        ("https://discord.com/api/v10/webhooks/1/tok/messages/@original", False),
        ("https://cdn.discordapp.com/attachments/1/2/in.mp4", False),
        ("wss://gateway.discord.gg/?v=10&encoding=json", False),
    ],
)
def test_only_the_bots_own_rest_calls_count(url: str, counts: bool) -> None:
    assert counts_against_global_limit(URL(url)) is counts


async def test_at_most_limit_requests_start_in_any_window_and_the_rest_queue() -> None:
    t = FakeTime()
    pace = GlobalPace(3, 1.0, clock=t.clock, sleep=t.sleep)
    started: list[float] = []

    async def request() -> None:
        await pace.acquire()
        started.append(t.now)

    await asyncio.gather(*(request() for _ in range(7)))
    assert started == pytest.approx([10.0, 10.0, 10.0, 11.0, 11.0, 11.0, 12.0])
    assert [await pace.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])
    t.now += 10.0
    assert await pace.acquire() == 0.0  # idle for a while: no wait


@pytest.fixture
async def dd() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as double:
        double.world.config.rate_limits = True
        double.world.config.global_limit = (10, 1.0)
        yield double


async def burst(dd: DiscordDouble, monkeypatch: pytest.MonkeyPatch, pace: GlobalPace | None) -> int:
    """30 requests at once through discord.py's own HTTP client; the double's 429s."""
    monkeypatch.setattr(discord.http.Route, "BASE", dd.api_base)
    http = discord.http.HTTPClient(
        asyncio.get_running_loop(), http_trace=None if pace is None else pace.trace_config()
    )
    await http.static_login(dd.token)
    assert dd.channel is not None
    try:
        await asyncio.gather(
            *(http.get_channel(dd.channel.id) for _ in range(30))  # one route, one bucket
        )
    finally:
        await http.close()
    return dd.world.global_limit_hits


async def test_discord_py_alone_runs_into_the_global_limit(
    dd: DiscordDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await burst(dd, monkeypatch, None) > 0


async def test_paced_requests_never_meet_the_global_limit(
    dd: DiscordDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    pace = GlobalPace(9)  # 10 per second at the double, as 50 at Discord
    assert await burst(dd, monkeypatch, pace) == 0
    assert pace.delayed >= 20
