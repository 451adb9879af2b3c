"""`/videoadmin limit …` and `/videoadmin channels …` in words: who may make how many videos,
and where. The service in `bot.governance.moderation` validates and writes; these functions turn its
facts into the moderator's answer (or raise `Refused`) and are tested without Discord.
`cogs/admin/commands.py` adapts the commands to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import discord

import bot.governance.moderation as moderation
from bot.governance.moderation import Target
from bot.jobs.contracts import Refused
from bot.permissions import CHANNEL_PERMISSIONS, labels
from cogs.member_commands import explain_limit, limit_words
from cogs.words import fit_lines, when
from storage.api import Storage
from storage.models import Limit, Scope, ScopedLimit

# What the bot needs in a channel: /video posts cards with thumbnails and clips there.
# (View Channel is checked first, on its own.)
VIDEO_CHANNEL_PERMISSIONS = {
    attr: label for attr, label in labels(CHANNEL_PERMISSIONS).items() if attr != "view_channel"
}


# ----------------------------------------------------------------------------------------------
# From Discord objects to the service's inputs
# ----------------------------------------------------------------------------------------------
def target_of(obj: discord.Member | discord.User | discord.Role | None) -> Target | None:
    """Describe the resolved option value (None when the option was left out)."""
    if obj is None:
        return None
    if isinstance(obj, discord.Role):
        return Target("role", obj.id, obj.guild.id, obj.is_default())
    if isinstance(obj, discord.Member):
        return Target("member", obj.id, obj.guild.id)
    return Target("user", obj.id)


def validate_channel(
    channel_guild_id: int,
    guild_id: int,
    bot_permissions: discord.Permissions | None,
    *,
    need_send: bool,
) -> list[str]:
    """Check a channel of this server the bot can see; return permissions it still lacks."""
    if channel_guild_id != guild_id:
        raise Refused("That channel is not in this server.")
    if bot_permissions is None:
        return []
    if not bot_permissions.view_channel:
        raise Refused("I can't see that channel. Give me the View Channel permission there first.")
    missing = [
        label
        for attr, label in VIDEO_CHANNEL_PERMISSIONS.items()
        if not getattr(bot_permissions, attr)
    ]
    if need_send and not bot_permissions.send_messages:
        raise Refused("I can't send messages in that channel. Give me Send Messages there first.")
    return missing


# ----------------------------------------------------------------------------------------------
# The service's answers in words (bot.governance.moderation does the work)
# ----------------------------------------------------------------------------------------------
def scope_label(scope: Scope, target_id: int) -> str:
    """'the server default', 'role <@&id>', 'member <@id>'."""
    if scope == "server":
        return "the server default"
    if scope == "role":
        return f"role <@&{target_id}>"
    return f"member <@{target_id}>"


async def apply_limit(
    storage: Storage,
    guild_id: int,
    scope: str,
    target_id: int,
    credits: int,
    period: str,
    actor_id: int,
) -> str:
    """Set a limit and say what changed."""
    checked, limit = await moderation.set_limit(
        storage, guild_id, scope, target_id, credits, period, actor_id
    )
    note = " That means no access to `/video`." if credits == 0 else ""
    return f"Limit for {scope_label(checked, target_id)}: **{limit_words(limit)}**.{note}"


async def remove_limit(
    storage: Storage, guild_id: int, scope: str, target_id: int, actor_id: int
) -> str:
    """Clear a limit, or refuse when there was none."""
    checked, removed = await moderation.clear_limit(storage, guild_id, scope, target_id, actor_id)
    if not removed:
        raise Refused(f"There is no limit for {scope_label(checked, target_id)}.")
    after = {
        "server": "the bot's default applies to members without a role or member limit",
        "role": "members with that role fall back to their other limits",
        "user": "the member's role and server limits apply again",
    }[checked]
    return f"Removed the limit for {scope_label(checked, target_id)}: {after}."


def _rule_line(rule: ScopedLimit) -> str:
    who = {
        "server": "Server default",
        "role": f"<@&{rule.target_id}>",
        "user": f"<@{rule.target_id}>",
    }
    by = f" · set by <@{rule.set_by}>" if rule.set_by else ""
    at = f" {when(rule.set_at)}" if rule.set_at else ""
    return f"{who[rule.scope]}: {limit_words(rule)}{by}{at}"


async def describe_limits(
    storage: Storage,
    guild_id: int,
    *,
    default: Limit,
    member_id: int | None = None,
    member_role_ids: Iterable[int] = (),
    approval_line: str | None = None,
) -> str:
    """List the server's limit rules and latest changes; with a member, what applies and why.

    `approval_line` (from `cogs.approval.approval_summary`) says whether requests wait."""
    overview = await moderation.limits_overview(storage, guild_id)
    header = ["**Video limits in this server**"]
    if member_id is not None:
        explanation = explain_limit(
            overview.rules,
            guild_id=guild_id,
            user_id=member_id,
            role_ids=member_role_ids,
            default=default,
        )
        header.append(
            f"For <@{member_id}>: **{limit_words(explanation.limit)}**, from {explanation.reason}."
        )
    header.append(f"Bot default (operator's environment): {limit_words(default)}")
    if overview.server_rule is None:
        header.append("Server default: not set (the bot default applies)")
    if approval_line:
        header.append(approval_line)
    items = [_rule_line(r) for r in overview.rules]
    if not overview.has_role_or_member_rules:
        items.append("No role or member limits.")
    changes = overview.changes
    footer = ["**Latest changes**"] if changes else []
    footer += [
        f"{when(c.created_at)} <@{c.actor_id}> {c.action}: {c.detail[:160]}" for c in changes
    ]
    return fit_lines(header, items, footer=footer)


async def allow_channel(storage: Storage, guild_id: int, channel_id: int, actor_id: int,
                        missing: Sequence[str] = ()) -> str:  # fmt: skip
    """Add a channel where /video may run."""
    added, allowed = await moderation.allow_channel(storage, guild_id, channel_id, actor_id)
    text = (
        f"`/video` is now allowed in <#{channel_id}>."
        if added
        else f"<#{channel_id}> was already allowed."
    )
    text += f" Allowed channels: {allowed}; `/video` works only there."
    if missing:
        text += f"\n⚠️ I still lack {', '.join(missing)} there: jobs would fail to post."
    return text


async def remove_channel(storage: Storage, guild_id: int, channel_id: int, actor_id: int) -> str:
    """Remove a channel from the allowed list, or refuse when it was not on it."""
    left = await moderation.remove_channel(storage, guild_id, channel_id, actor_id)
    if left is None:
        raise Refused(f"<#{channel_id}> was not on the allowed list.")
    if not left:
        return f"Removed <#{channel_id}>. The list is empty: `/video` works in every channel."
    return f"Removed <#{channel_id}>. `/video` still works in the other allowed channels."


def describe_channels(
    channel_ids: Iterable[int], exists: Callable[[int], bool] | None = None
) -> str:
    """List the allowed channels (empty = everywhere), marking ones that no longer exist."""
    ids = sorted(channel_ids)
    if not ids:
        return "`/video` works in every channel (no allowed list is set)."
    items = [
        f"<#{c}>" + ("" if exists is None or exists(c) else f" (deleted channel {c})") for c in ids
    ]
    return fit_lines([f"**`/video` works only in these {len(ids)} channels**"], items)


def bot_permissions(channel: discord.abc.GuildChannel) -> discord.Permissions | None:
    """The bot's own permissions in a channel (None when the bot is not a member yet)."""
    me = channel.guild.me
    return channel.permissions_for(me) if me is not None else None
