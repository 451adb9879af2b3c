"""The library floor for bench_growth.py: discord.py's AutoShardedClient alone, no line of the bot.

Same intents and caches as the bot (guilds only, no message cache, no chunking), the default
identify pacing, and an interaction handler that only defers: what discord.py itself costs in
start time, memory per server and acknowledgement latency. Run through tests/e2e/launch_bot.py.
"""

from __future__ import annotations

import asyncio
import os

import discord


class Floor(discord.AutoShardedClient):
    async def on_ready(self) -> None:
        print(f"Ready: {len(self.guilds)} servers on {self.shard_count} shards", flush=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)


async def main() -> None:
    intents = discord.Intents.none()
    intents.guilds = True
    client = Floor(intents=intents, max_messages=None, chunk_guilds_at_startup=False)
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
