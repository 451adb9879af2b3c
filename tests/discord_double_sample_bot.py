"""A small discord.py 2.7 bot used only to test the Discord double (not part of the product).

Env: DISCORD_TOKEN, SAMPLE_GUILD_ID. Run through tests/e2e/launch_bot.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import signal

import discord
from discord import app_commands

log = logging.getLogger("sample_bot")


class PressButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"sample:press:(?P<n>[0-9]+)"
):
    """A counter button that survives restarts: its state is in its custom_id."""

    def __init__(self, n: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Pressed {n}",
                style=discord.ButtonStyle.primary,
                custom_id=f"sample:press:{n}",
            )
        )
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> PressButton:
        """Rebuild the button from its custom_id."""
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Acknowledge (type 6) and edit the message with the next count."""
        await interaction.response.defer()
        view = discord.ui.View(timeout=None)
        view.add_item(PressButton(self.n + 1))
        assert interaction.message is not None
        await interaction.message.edit(
            content=f"pressed {self.n + 1} by {interaction.user.id}", view=view
        )
        log.info("Pressed: %d -> %d", self.n, self.n + 1)


class SampleBot(discord.Client):
    """Client with a command tree; syncs to SAMPLE_GUILD_ID in setup_hook."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.2)
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(guild_id)

    async def setup_hook(self) -> None:
        """Register persistent buttons, sync commands, handle SIGTERM."""
        self.add_dynamic_items(PressButton)
        self.tree.add_command(echo, guild=self.guild)
        synced = await self.tree.sync(guild=self.guild)
        log.info("Synced %d commands", len(synced))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(self.close()))

    async def on_ready(self) -> None:
        """Log readiness for the harness."""
        log.info("Ready: %s guilds=%d", self.user, len(self.guilds))


@app_commands.command()
@app_commands.describe(
    text="What to echo", file="Optional file to echo back", pad="Send this many bytes"
)
async def echo(
    interaction: discord.Interaction,
    text: str,
    file: discord.Attachment | None = None,
    pad: int = 0,
) -> None:
    """Echo text privately and post a card with a button and a file."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    data = await file.read() if file is not None else b"no attachment"
    digest = hashlib.sha256(data).hexdigest()[:16]
    await interaction.followup.send(f"echo: {text} ({len(data)} bytes, {digest})", ephemeral=True)
    assert interaction.channel is not None
    view = discord.ui.View(timeout=None)
    view.add_item(PressButton(0))
    embed = discord.Embed(title="Echo", description=text)
    await interaction.channel.send(
        embed=embed, view=view, allowed_mentions=discord.AllowedMentions.none()
    )
    payload = b"\0" * pad if pad else data
    try:
        await interaction.channel.send(
            content=f"file for {interaction.user.mention}",
            file=discord.File(io.BytesIO(payload), filename="echo.bin"),
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except discord.HTTPException as exc:
        log.info("Upload failed: status=%s code=%s", exc.status, exc.code)
        await interaction.followup.send(f"upload failed: {exc.status} {exc.code}", ephemeral=True)
        return
    log.info("Echoed: %s", digest)


def main() -> None:
    """Run the sample bot."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    bot = SampleBot(int(os.environ["SAMPLE_GUILD_ID"]))
    bot.run(os.environ["DISCORD_TOKEN"], log_handler=None)
    log.info("Exited cleanly")


if __name__ == "__main__":
    main()
