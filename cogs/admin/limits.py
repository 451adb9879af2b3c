"""`/videoadmin limit …` and `/videoadmin channels …` in words: who may make how many videos,
and where. The service in `bot.governance.moderation` validates and writes; these functions turn its
facts into the moderator's answer (or raise `Refused`) and are tested without Discord.
`cogs/admin/commands.py` adapts the commands to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import discord

import bot.governance.moderation as moderation
from bot import i18n
from bot.governance.moderation import Target
from bot.jobs.contracts import Refused
from bot.permissions import CHANNEL_PERMISSIONS, labels
from cogs.member_commands import explain_limit, limit_words
from cogs.words import channel, fit_lines, role, user, when
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
    locale: str | None = None,
) -> list[str]:
    """Check a channel of this server the bot can see; return permissions it still lacks
    (Discord's names for them in the language of `locale`)."""
    if channel_guild_id != guild_id:
        raise Refused(i18n.Text("That channel is not in this server."))
    if bot_permissions is None:
        return []
    if not bot_permissions.view_channel:
        raise Refused(
            i18n.Text("I can't see that channel. Give me the View Channel permission there first.")
        )
    names = labels(CHANNEL_PERMISSIONS, locale)
    missing = [
        names[attr] for attr in VIDEO_CHANNEL_PERMISSIONS if not getattr(bot_permissions, attr)
    ]
    if need_send and not bot_permissions.send_messages:
        raise Refused(
            i18n.Text("I can't send messages in that channel. Give me Send Messages there first.")
        )
    return missing


# ----------------------------------------------------------------------------------------------
# The service's answers in words (bot.governance.moderation does the work)
# ----------------------------------------------------------------------------------------------
def scope_label(scope: Scope, target_id: int, locale: str | None = None) -> str:
    """'the server default', 'role <@&id>', 'member <@id>'."""
    if scope == "server":
        return i18n.gettext(locale, "the server default")
    if scope == "role":
        return i18n.gettext(locale, "role {role}").format(role=role(target_id))
    return i18n.gettext(locale, "member {member}").format(member=user(target_id))


async def apply_limit(
    storage: Storage,
    guild_id: int,
    scope: str,
    target_id: int,
    credits: int,
    period: str,
    actor_id: int,
    locale: str | None = None,
) -> str:
    """Set a limit and say what changed, in the language of `locale`."""
    checked, limit = await moderation.set_limit(
        storage, guild_id, scope, target_id, credits, period, actor_id
    )
    who = scope_label(checked, target_id, locale)
    if credits == 0:
        text = i18n.gettext(
            locale, "Limit for {who}: **{limit}**. That means no access to `/video`."
        )
    else:
        text = i18n.gettext(locale, "Limit for {who}: **{limit}**.")
    return text.format(who=who, limit=limit_words(limit, locale))


async def remove_limit(
    storage: Storage,
    guild_id: int,
    scope: str,
    target_id: int,
    actor_id: int,
    locale: str | None = None,
) -> str:
    """Clear a limit, or refuse when there was none."""
    checked, removed = await moderation.clear_limit(storage, guild_id, scope, target_id, actor_id)
    who = scope_label(checked, target_id, locale)
    if not removed:
        raise Refused(i18n.Text("There is no limit for {who}.", who=who))
    if checked == "server":
        text = i18n.gettext(
            locale,
            "Removed the limit for {who}: the bot's default applies to members without a role "
            "or member limit.",
        )
    elif checked == "role":
        text = i18n.gettext(
            locale,
            "Removed the limit for {who}: members with that role fall back to their other limits.",
        )
    else:
        text = i18n.gettext(
            locale,
            "Removed the limit for {who}: the member's role and server limits apply again.",
        )
    return text.format(who=who)


def _rule_line(rule: ScopedLimit, locale: str | None) -> str:
    who = {
        "server": i18n.gettext(locale, "Server default"),
        "role": role(rule.target_id),
        "user": user(rule.target_id),
    }[rule.scope]
    limit = limit_words(rule, locale)
    if rule.set_by:
        line = i18n.gettext(locale, "{who}: {limit} · set by {moderator}").format(
            who=who, limit=limit, moderator=user(rule.set_by)
        )
    else:
        line = f"{who}: {limit}"
    return f"{line} {when(rule.set_at)}" if rule.set_at else line


async def describe_limits(
    storage: Storage,
    guild_id: int,
    *,
    default: Limit,
    member_id: int | None = None,
    member_role_ids: Iterable[int] = (),
    approval_line: str | None = None,
    locale: str | None = None,
) -> str:
    """List the server's limit rules and latest changes; with a member, what applies and why.

    `approval_line` (from `cogs.approval.approval_summary`) says whether requests wait. The
    latest changes quote the audit log as it was written (English, like every log)."""
    overview = await moderation.limits_overview(storage, guild_id)
    header = [i18n.gettext(locale, "**Video limits in this server**")]
    if member_id is not None:
        explanation = explain_limit(
            overview.rules,
            guild_id=guild_id,
            user_id=member_id,
            role_ids=member_role_ids,
            default=default,
            locale=locale,
        )
        header.append(
            i18n.gettext(locale, "For {member}: **{limit}**, from {reason}.").format(
                member=user(member_id),
                limit=limit_words(explanation.limit, locale),
                reason=explanation.reason,
            )
        )
    header.append(
        i18n.gettext(locale, "Bot default (operator's environment): {limit}").format(
            limit=limit_words(default, locale)
        )
    )
    if overview.server_rule is None:
        header.append(i18n.gettext(locale, "Server default: not set (the bot default applies)"))
    if approval_line:
        header.append(approval_line)
    items = [_rule_line(r, locale) for r in overview.rules]
    if not overview.has_role_or_member_rules:
        items.append(i18n.gettext(locale, "No role or member limits."))
    changes = overview.changes
    footer = [i18n.gettext(locale, "**Latest changes**")] if changes else []
    footer += [
        f"{when(c.created_at)} <@{c.actor_id}> {c.action}: {c.detail[:160]}" for c in changes
    ]
    return fit_lines(header, items, footer=footer, locale=locale)


async def allow_channel(storage: Storage, guild_id: int, channel_id: int, actor_id: int,
                        missing: Sequence[str] = (), locale: str | None = None) -> str:  # fmt: skip
    """Add a channel where /video may run."""
    added, allowed = await moderation.allow_channel(storage, guild_id, channel_id, actor_id)
    if added:
        text = i18n.gettext(
            locale, "`/video` is now allowed in {channel}. Allowed channels: {count}; `/video` "
            "works only there.",
        )  # fmt: skip
    else:
        text = i18n.gettext(
            locale, "{channel} was already allowed. Allowed channels: {count}; `/video` works "
            "only there.",
        )  # fmt: skip
    text = text.format(channel=channel(channel_id), count=i18n.number(locale, allowed))
    if missing:
        text += "\n" + i18n.gettext(
            locale, "⚠️ I still lack {permissions} there: jobs would fail to post."
        ).format(permissions=", ".join(missing))
    return text


async def remove_channel(
    storage: Storage, guild_id: int, channel_id: int, actor_id: int, locale: str | None = None
) -> str:
    """Remove a channel from the allowed list, or refuse when it was not on it."""
    left = await moderation.remove_channel(storage, guild_id, channel_id, actor_id)
    if left is None:
        raise Refused(
            i18n.Text("{channel} was not on the allowed list.", channel=channel(channel_id))
        )
    if not left:
        text = i18n.gettext(
            locale, "Removed {channel}. The list is empty: `/video` works in every channel."
        )
    else:
        text = i18n.gettext(
            locale, "Removed {channel}. `/video` still works in the other allowed channels."
        )
    return text.format(channel=channel(channel_id))


def describe_channels(
    channel_ids: Iterable[int],
    exists: Callable[[int], bool] | None = None,
    locale: str | None = None,
) -> str:
    """List the allowed channels (empty = everywhere), marking ones that no longer exist."""
    ids = sorted(channel_ids)
    if not ids:
        return i18n.gettext(locale, "`/video` works in every channel (no allowed list is set).")
    deleted = i18n.gettext(locale, "{channel} (deleted channel {id})")
    items = [
        channel(c) if exists is None or exists(c) else deleted.format(channel=channel(c), id=c)
        for c in ids
    ]
    header = i18n.ngettext(
        locale,
        "**`/video` works only in {count} channel**",
        "**`/video` works only in these {count} channels**",
        len(ids),
    ).format(count=i18n.number(locale, len(ids)))
    return fit_lines([header], items, locale=locale)


def bot_permissions(channel: discord.abc.GuildChannel) -> discord.Permissions | None:
    """The bot's own permissions in a channel (None when the bot is not a member yet)."""
    me = channel.guild.me
    return channel.permissions_for(me) if me is not None else None
