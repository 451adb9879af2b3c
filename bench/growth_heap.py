"""What discord.py keeps per server, by the source file that allocated it (tracemalloc).

An in-process AutoShardedClient with the bot's intents and caches connects to the Discord double
holding `--servers` realistic servers (default 2,500) and reports, once ready, the live heap
allocated by discord.py (and by the JSON decoder, whose strings its objects keep) per server.
The double runs in the same process; its own allocations are left out. Complements
bench_growth.py's RSS per 1,000 servers with where the bytes are.

Run: `python bench/growth_heap.py [--servers 2500]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
import discord.gateway  # noqa: E402
import discord.http  # noqa: E402
import yarl  # noqa: E402

from tests.discord_double import DiscordDouble  # noqa: E402

KEEP = ("site-packages/discord/", "json/decoder.py")


async def measure(servers: int) -> None:
    async with DiscordDouble() as dd:
        dd.world.config.identify_interval = 0.0
        dd.add_guilds(servers - 1)
        discord.http.Route.BASE = dd.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(dd.gateway_url)
        intents = discord.Intents.none()
        intents.guilds = True
        client = discord.AutoShardedClient(
            intents=intents, max_messages=None, chunk_guilds_at_startup=False
        )

        async def at_once(shard_id: int | None, *, initial: bool = False) -> None:
            return None

        client.before_identify_hook = at_once  # type: ignore[method-assign]
        tracemalloc.start()
        async with client:
            await client.login(dd.token)
            runner = asyncio.create_task(client.connect())
            await client.wait_until_ready()
            snapshot = tracemalloc.take_snapshot()
            n = len(client.guilds)
            channels = sum(len(g.channels) for g in client.guilds)
            roles = sum(len(g.roles) for g in client.guilds)
            rows = [
                s
                for s in snapshot.statistics("filename")
                if any(k in s.traceback[0].filename for k in KEEP)
            ]
            total = sum(s.size for s in rows)
            print(
                f"{n:,} servers, {channels / n:.1f} channels and {roles / n:.1f} roles each on"
                f" average: {total / 1e6:.1f} MB, {total / n / 1000:.1f} kB per server"
            )
            for s in [r for r in rows if r.size / n >= 10]:
                name = s.traceback[0].filename.split("site-packages/")[-1].split("python3.11/")[-1]
                print(f"  {name:28s} {s.size / n / 1000:6.2f} kB per server")
            await client.close()
            runner.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=2500)
    asyncio.run(measure(parser.parse_args().servers))


if __name__ == "__main__":
    main()
