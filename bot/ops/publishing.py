"""Publishing the slash commands: at start when they changed, and on demand (`sync`).

Discord shows a bot's commands only after they are published ("synced"). The bot hashes the
command tree it would publish and keeps the hash of the last publication per target (a server
given by DEV_GUILD_ID, or global) in the database: a start publishes only when the hash differs,
so an upgrade that changes the commands needs no separate step, and a plain restart sends
nothing. `python -m bot sync` publishes regardless.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING

import discord

from bot.permissions import CHANNEL_PERMISSIONS

if TYPE_CHECKING:
    from discord import app_commands

    from storage.db import Database

log = logging.getLogger(__name__)

# View Channels, Send Messages, Embed Links, Attach Files, Read Message History.
INVITE_PERMISSIONS = discord.Permissions(**dict.fromkeys(CHANNEL_PERMISSIONS, True)).value


class PublishError(Exception):
    """The commands could not be published; `config` when the operator must change something."""

    def __init__(self, message: str, *, config: bool) -> None:
        super().__init__(message)
        self.config = config


def invite_url(application_id: int | None) -> str:
    """The OAuth2 link that adds the bot to a server with the scopes and permissions it needs."""
    client_id = application_id if application_id is not None else "YOUR_APP_ID"
    return (
        f"https://discord.com/oauth2/authorize?client_id={client_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )


def state_key(guild_id: int | None) -> str:
    """Where the hash of the last publication to this target is kept (bot_state)."""
    return f"commands:guild:{guild_id}" if guild_id else "commands:global"


async def tree_digest(tree: app_commands.CommandTree[discord.Client], guild_id: int | None) -> str:
    """A hash of exactly what `publish` would send for this target, localizations included.

    With a translator set, `tree.sync` sends each command's translated payload (names,
    descriptions and choices in every language); hashing the same payload makes a changed
    translation publish again.
    """
    guild = discord.Object(guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    commands = tree.get_commands(guild=guild)
    translator = tree.translator
    if translator is not None:
        payload = [await command.get_translated_payload(tree, translator) for command in commands]
    else:
        payload = [command.to_dict(tree) for command in commands]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def publish(client: discord.Client, tree: app_commands.CommandTree[discord.Client],
                  guild_id: int | None) -> int:  # fmt: skip
    """Publish the commands to one server (instant) or globally; return how many."""
    guild = discord.Object(guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    try:
        synced = await tree.sync(guild=guild)
    except discord.RateLimited as exc:
        # Global publications are limited per day; waiting for hours would look like a hang.
        # The commands published before keep working.
        minutes = max(1, round(exc.retry_after / 60))
        raise PublishError(
            f"publishing the commands is rate limited for {exc.retry_after:.0f} s; skipped: "
            f"try again in about {minutes} minutes.",
            config=False,
        ) from None
    except (discord.Forbidden, discord.NotFound) as exc:
        if guild_id is None:
            raise PublishError(
                f"Discord refused to publish the commands ({exc.status} {exc.text or ''}).",
                config=False,
            ) from None
        raise PublishError(
            f"DEV_GUILD_ID={guild_id}: Discord refused to publish the commands there "
            f"({exc.status}): the bot is not in that server, or was invited without the "
            f"applications.commands scope. Invite it with {invite_url(client.application_id)} "
            "or remove DEV_GUILD_ID.",
            config=True,
        ) from None
    except discord.HTTPException as exc:
        raise PublishError(
            f"Discord did not accept the commands ({exc.status}): try again in a minute.",
            config=False,
        ) from None
    return len(synced)


async def publish_if_changed(
    client: discord.Client,
    tree: app_commands.CommandTree[discord.Client],
    storage: Database,
    guild_id: int | None,
) -> int | None:
    """Publish when the tree differs from the last publication to this target.

    Returns how many commands were published, or None when nothing changed. The hash is stored
    only after Discord accepted the commands, so a failed publication is tried at the next start.
    """
    key = state_key(guild_id)
    digest = await tree_digest(tree, guild_id)
    if await storage.get_state(key) == digest:
        return None
    count = await publish(client, tree, guild_id)
    await storage.set_state(key, digest)
    return count
