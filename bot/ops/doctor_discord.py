"""`doctor`'s Discord checks: the token (who the bot is), its servers (permissions it lacks in
each, server-wide and in the channels where /video may run) and DEV_GUILD_ID."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.ops.checklist import BUDGETS, Check, Checklist
from bot.ops.publishing import invite_url
from bot.permissions import CHANNEL_PERMISSIONS
from bot.settings import Settings

if TYPE_CHECKING:
    import discord

log = logging.getLogger(__name__)

# Channel-level permissions the bot needs everywhere /video may run, and why.
NEEDED_PERMISSIONS = {
    attr: f"{label} ({why})" for attr, (label, why) in CHANNEL_PERMISSIONS.items()
}


async def check_discord(settings: Settings, checklist: Checklist) -> None:
    """Log in with the token (who the bot is), then list its servers and what each lacks."""
    import discord

    from bot.app.video_bot import build_intents, quiet_voice_warnings

    quiet_voice_warnings()
    client = discord.Client(intents=build_intents())
    try:
        if await _check_token(settings, checklist, client):
            checklist.start("Servers", BUDGETS["Servers"])
            try:
                async with asyncio.timeout(BUDGETS["Servers"]):
                    await _check_servers(settings, checklist, client)
            except TimeoutError:
                checklist.add(
                    Check(
                        "Servers",
                        False,
                        f"Discord did not list the bot's servers within {BUDGETS['Servers']:.0f} s",
                        fix="check the network connection to discord.com and try again",
                    )
                )
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _check_token(settings: Settings, checklist: Checklist, client: discord.Client) -> bool:
    import discord

    from bot.app.startup import network_error

    budget = BUDGETS["Discord token"]
    try:
        async with asyncio.timeout(budget):
            await client.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        checklist.add(
            Check(
                "Discord token",
                False,
                "Discord rejected DISCORD_TOKEN",
                fix="reset the token in the developer portal (Bot → Reset Token) and update .env",
            )
        )
        return False
    except TimeoutError:
        checklist.add(
            Check(
                "Discord token",
                False,
                f"no answer from Discord within {budget:.0f} s",
                fix="check the network connection to discord.com (firewall, DNS, proxy)",
            )
        )
        return False
    except Exception as exc:
        if not (network_error(exc) or isinstance(exc, discord.HTTPException)):
            raise
        checklist.add(
            Check(
                "Discord token",
                False,
                f"could not reach Discord: {exc or type(exc).__name__}",
                fix="check the network connection to discord.com (firewall, DNS, proxy)",
            )
        )
        return False
    assert client.user is not None
    checklist.add(
        Check(
            "Discord token",
            True,
            f"logged in as {client.user} ({client.user.id})",
            lines=[f"invite link: {invite_url(client.application_id)}"],
        )
    )
    return True


async def _check_servers(settings: Settings, checklist: Checklist, client: discord.Client) -> None:
    import discord

    assert client.user is not None
    try:
        guilds = [g async for g in client.fetch_guilds(limit=200)]
    except discord.HTTPException as exc:
        checklist.add(
            Check(
                "Servers",
                False,
                f"Discord did not list the bot's servers ({exc.status})",
                fix="try again; if it persists, check Discord's status page",
            )
        )
        return
    invite = invite_url(client.application_id)
    if not guilds:
        checklist.add(
            Check("Servers", False, "the bot is in no server yet", fix=f"invite it: {invite}")
        )
    else:
        lines: list[str] = []
        all_ok = True
        allowed = await allowed_channels(settings, [g.id for g in guilds])
        for partial in guilds:
            gaps: list[str] = []
            try:
                guild = await client.fetch_guild(partial.id)
                member = await guild.fetch_member(client.user.id)
                perms = member.guild_permissions
                missing = [
                    why for attr, why in NEEDED_PERMISSIONS.items() if not getattr(perms, attr)
                ]
                gaps = channel_gaps(
                    await guild.fetch_channels(), member, allowed.get(guild.id, frozenset())
                )
            except discord.HTTPException as exc:
                missing = [f"could not read permissions ({exc.status})"]
            if missing or gaps:
                all_ok = False
                what = "lacks: " + "; ".join(missing) if missing else "channel overrides:"
                lines.append(f"✗ {partial.name} ({partial.id}) {what}")
                lines.extend(gaps)
            else:
                lines.append(f"✓ {partial.name} ({partial.id})")
        checklist.add(
            Check(
                "Servers",
                all_ok,
                f"{len(guilds)} server{'s' if len(guilds) != 1 else ''}",
                fix="give the bot's role the missing permissions (server-wide or per channel)",
                lines=lines,
            )
        )
    check_dev_guild(settings.dev_guild_id, {g.id: g.name for g in guilds}, invite, checklist)


def check_dev_guild(
    dev_guild_id: int | None, guilds: dict[int, str], invite: str, checklist: Checklist
) -> None:
    """DEV_GUILD_ID must name a server the bot is in: the commands are published there."""
    if dev_guild_id is None:
        return
    if dev_guild_id in guilds:
        checklist.add(
            Check(
                "DEV_GUILD_ID",
                True,
                f"{guilds[dev_guild_id]} ({dev_guild_id}): commands are published there at start",
            )
        )
        return
    checklist.add(
        Check(
            "DEV_GUILD_ID",
            False,
            f"the bot is not in server {dev_guild_id}, so the bot would stop at start (exit 2)",
            fix=f"invite it there ({invite}), or remove DEV_GUILD_ID from .env to publish globally",
        )
    )


async def allowed_channels(
    settings: Settings, guild_ids: Sequence[int]
) -> dict[int, frozenset[int]]:
    """Each server's /video channel list (`/videoadmin channels`); empty when none is set."""
    from storage.db import Database

    db = Database(settings.database_path)
    try:
        await db.open()
        return {g: (await db.guild_settings(g)).allowed_channel_ids for g in guild_ids}
    except Exception:
        log.warning("could not read the allowed channels", exc_info=True)
        return {}
    finally:
        with contextlib.suppress(Exception):
            await db.close()


def channel_gaps(channels: Sequence[Any], member: Any, allowed: frozenset[int]) -> list[str]:
    """Lines for channels where /video may run and an override takes a needed permission away.

    With an allowed-channel list, every listed channel is checked (and one that no longer exists
    is named); without one, every text channel the bot can see. Permissions are computed the way
    Discord does, overwrites included (discord.py's `permissions_for`); what the server-wide
    check already reports is not repeated."""
    import discord

    base = member.guild_permissions
    gone = sorted(allowed - {c.id for c in channels})
    lines = [f"  ✗ allowed channel {cid} no longer exists" for cid in gone]
    for channel in sorted(channels, key=lambda c: c.position):
        if not isinstance(channel, discord.TextChannel) or (allowed and channel.id not in allowed):
            continue
        perms = channel.permissions_for(member)
        if not allowed and not perms.view_channel:
            continue  # hidden from the bot on purpose; /video there says so itself
        lost = [
            why.split(" (")[0]
            for attr, why in NEEDED_PERMISSIONS.items()
            if getattr(base, attr) and not getattr(perms, attr)
        ]
        if lost:
            lines.append(f"  ✗ #{channel.name} ({channel.id}) lacks: " + ", ".join(lost))
    return lines
