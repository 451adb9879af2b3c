"""Builders for INTERACTION_CREATE payloads: slash commands, autocomplete, component clicks."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from .world import (
    ALL_PERMISSIONS,
    Channel,
    Guild,
    Interaction,
    Member,
    Message,
    World,
    mint_snowflake,
)

AttachmentSpec = tuple[str, bytes, str] | Path
OPTION_GROUP, OPTION_SUBCOMMAND = 2, 1
OPT_USER, OPT_CHANNEL, OPT_ROLE, OPT_MENTIONABLE, OPT_ATTACHMENT = 6, 7, 8, 9, 11


def _member_payload(guild: Guild, member: Member, channel: Channel) -> dict[str, Any]:
    data = member.payload()
    # "Total permissions of the member in the channel, including overwrites" (Guild Member
    # Object, resources/guild).
    data["permissions"] = str(guild.permissions_in(channel, member.user.id))
    return data


def base_payload(
    world: World,
    *,
    itype: int,
    guild: Guild,
    channel_id: int,
    member: Member,
    backdate_seconds: float = 0.0,
) -> Interaction:
    """Mint an interaction (id dated `backdate_seconds` ago) with the fields discord.py requires."""
    iid = mint_snowflake(time.time() - backdate_seconds)
    token = "itok-" + secrets.token_urlsafe(48)
    channel = world.channels[channel_id]
    bot_member = guild.members.get(world.bot_user.id)
    # "app_permissions: Bitwise set of permissions the app has within the channel the
    # interaction was sent from" (Interaction Object, interactions/receiving-and-responding).
    app_perms = guild.permissions_in(channel, bot_member.user.id) if bot_member else ALL_PERMISSIONS
    limit = max(world.config.default_upload_limit, guild.upload_limit, member.upload_limit or 0)
    payload: dict[str, Any] = {
        "id": str(iid),
        "application_id": str(world.app_id),
        "type": itype,
        "token": token,
        "version": 1,
        "guild_id": str(guild.id),
        "channel_id": str(channel_id),
        "channel": dict(
            channel.payload(), permissions=str(guild.permissions_in(channel, member.user.id))
        ),
        "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
        "member": _member_payload(guild, member, channel),
        "app_permissions": str(app_perms),
        # The member's client language, and the server's (Interaction Object: `locale`,
        # `guild_locale`).
        "locale": member.user.locale,
        "guild_locale": guild.preferred_locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": limit,
    }
    return Interaction(
        id=iid,
        token=token,
        type=itype,
        user_id=member.user.id,
        channel_id=channel_id,
        guild_id=guild.id,
        payload=payload,
        attachment_size_limit=limit,
    )


def _find(options: list[dict[str, Any]], name: str, types: set[int]) -> dict[str, Any]:
    for opt in options:
        if opt.get("name") == name and opt.get("type") in types:
            return opt
    raise LookupError(f"no option {name!r} of type {sorted(types)}")


def command_data(
    world: World,
    base_url: str,
    guild: Guild,
    path: str,
    options: dict[str, Any],
    attachments: dict[str, AttachmentSpec],
    *,
    focused: str | None = None,
    channel: Channel | None = None,
    invoker_id: int | None = None,
) -> dict[str, Any]:
    """Build `data` for a CHAT_INPUT command or autocomplete from the synced definition.

    `channel` is where the command runs: resolved members carry their permissions there."""
    parts = path.split()
    commands = world.commands_for(guild.id)
    if parts[0] not in commands:
        raise LookupError(
            f"/{parts[0]} is not synced (globally or to guild {guild.id}); did the bot sync?"
        )
    cmd = commands[parts[0]]
    definition = cmd.payload["options"]
    chain: list[dict[str, Any]] = []
    for i, part in enumerate(parts[1:]):
        types = (
            {OPTION_GROUP, OPTION_SUBCOMMAND} if i == 0 and len(parts) == 3 else {OPTION_SUBCOMMAND}
        )
        node = _find(definition, part, types)
        chain.append({"type": node["type"], "name": part, "options": []})
        definition = node.get("options") or []
    resolved: dict[str, dict[str, Any]] = {}
    leaf: list[dict[str, Any]] = []
    given = dict(options)
    for name, spec in attachments.items():
        given[name] = spec
    for name, value in given.items():
        opt_def = _find(definition, name, set(range(3, 12)))
        otype = opt_def["type"]
        if otype == OPT_ATTACHMENT:
            value = _store_attachment(world, base_url, cmd.id, value, resolved)
        elif otype in (OPT_USER, OPT_MENTIONABLE) and int(value) in guild.members:
            member = guild.members[int(value)]
            resolved.setdefault("users", {})[str(value)] = member.user.payload()
            here = channel or next(iter(guild.channels.values()))
            mdata = _member_payload(guild, member, here)
            mdata.pop("user")
            resolved.setdefault("members", {})[str(value)] = mdata
            value = str(value)
        elif otype in (OPT_ROLE, OPT_MENTIONABLE) and int(value) in guild.roles:
            resolved.setdefault("roles", {})[str(value)] = guild.roles[int(value)].payload()
            value = str(value)
        elif otype == OPT_CHANNEL:
            ch = world.channels[int(value)]
            # "permissions: computed permissions for the invoking user in the channel,
            # including overwrites" (Channel Object, resources/channel).
            invoker = guild.permissions_in(ch, int(invoker_id)) if invoker_id else ALL_PERMISSIONS
            resolved.setdefault("channels", {})[str(value)] = dict(
                ch.payload(), permissions=str(invoker)
            )
            value = str(value)
        item: dict[str, Any] = {"name": name, "type": otype, "value": value}
        if focused == name:
            item["focused"] = True
        leaf.append(item)
    missing = [o["name"] for o in definition if o.get("required") and o["name"] not in given]
    if missing and focused is None:
        raise ValueError(f"required options missing: {missing}")
    nested = leaf
    for node in reversed(chain):
        node["options"] = nested
        nested = [node]
    data: dict[str, Any] = {
        "id": str(cmd.id),
        "name": parts[0],
        "type": cmd.payload.get("type", 1),
        "options": nested,
    }
    if resolved:
        data["resolved"] = resolved
    if cmd.guild_id is not None:
        data["guild_id"] = str(cmd.guild_id)
    return data


def _store_attachment(
    world: World,
    base_url: str,
    command_id: int,
    spec: AttachmentSpec,
    resolved: dict[str, dict[str, Any]],
) -> str:
    if isinstance(spec, Path):
        filename, data, content_type = spec.name, spec.read_bytes(), "application/octet-stream"
    else:
        filename, data, content_type = spec
    att_id = mint_snowflake()
    path = f"/cdn/ephemeral-attachments/{command_id}/{att_id}/{filename}"
    world.blobs[path] = (data, content_type)
    url = f"{base_url}{path}?ex=0&is=0&hm=double"
    resolved.setdefault("attachments", {})[str(att_id)] = {
        "id": str(att_id),
        "filename": filename,
        "size": len(data),
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
        "ephemeral": True,
    }
    return str(att_id)


def component_data(message: Message, custom_id: str, values: list[str] | None) -> dict[str, Any]:
    """Build `data` for a click on (or a selection in) one of the message's components."""
    found: dict[str, Any] | None = None

    def walk(items: list[dict[str, Any]]) -> None:
        nonlocal found
        for item in items:
            if item.get("custom_id") == custom_id:
                found = item
            walk(item.get("components") or [])
            if isinstance(item.get("accessory"), dict):
                walk([item["accessory"]])

    walk(message.components)
    if found is None:
        raise LookupError(
            f"message {message.id} has no component {custom_id!r}: {message.custom_ids()}"
        )
    if found.get("disabled"):
        raise ValueError(f"component {custom_id!r} is disabled; a user cannot click it")
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": found["type"]}
    if found["type"] != 2:
        data["values"] = list(values or [])
    return data
