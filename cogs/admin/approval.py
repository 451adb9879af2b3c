"""What `/videoadmin approval on|off` answers, and the approval line of `/videoadmin limit
show`, in the moderator's language (only they read it). The review queue itself is
`cogs/approval.py`; the rules (who may review, which channel) are `bot/governance/`."""

from __future__ import annotations

from datetime import timedelta

import discord

from bot import i18n, permissions
from bot.governance.approval import expiry_text
from bot.governance.moderation import turn_approval_off, turn_approval_on
from bot.jobs.contracts import Refused
from bot.permissions import labels
from storage.approvals import ApprovalSettings
from storage.db import Database

# What the bot needs in the review channel: the review embed, its thumbnail, its buttons.
REVIEW_CHANNEL_PERMISSIONS = labels(permissions.REVIEW_CHANNEL_PERMISSIONS)


def check_review_channel(
    channel_guild_id: int, guild_id: int, bot_permissions: discord.Permissions | None
) -> None:
    """Refuse a review channel of another server, or one the bot cannot post reviews in."""
    if channel_guild_id != guild_id:
        raise Refused(i18n.Text("That channel is not in this server."))
    if bot_permissions is None:
        return
    missing = [
        label
        for attr, label in REVIEW_CHANNEL_PERMISSIONS.items()
        if not getattr(bot_permissions, attr)
    ]
    if missing:
        raise Refused(
            i18n.Text(
                "I can't post reviews in that channel: I need {permissions} there first.",
                permissions=", ".join(missing),
            )
        )


async def turn_on(
    storage: Database,
    guild_id: int,
    channel_id: int,
    trusted_role_id: int | None,
    actor_id: int,
    expiry: timedelta,
    locale: str | None = None,
) -> str:
    """Turn approval on (or change its channel and trusted role) and say what it means, in the
    moderator's language (`locale`)."""
    await turn_approval_on(storage, guild_id, channel_id, trusted_role_id, actor_id)
    if trusted_role_id:
        text = i18n.gettext(
            locale,
            "🔎 Approval is on. Requests from members wait for a moderator in {channel}; "
            "moderators, holders of {role} skip the queue. Credits are reserved while a request "
            "waits, and a request nobody reviews within {expiry} expires and is refunded.",
        )
    else:
        text = i18n.gettext(
            locale,
            "🔎 Approval is on. Requests from members wait for a moderator in {channel}; "
            "moderators skip the queue. Credits are reserved while a request waits, and a "
            "request nobody reviews within {expiry} expires and is refunded.",
        )
    return text.format(
        channel=f"<#{channel_id}>",
        role=f"<@&{trusted_role_id}>",
        expiry=expiry_text(expiry).render(locale),
    )


async def turn_off(
    storage: Database, guild_id: int, actor_id: int, waiting: int, locale: str | None = None
) -> str:
    """Turn approval off; requests already waiting still wait for a decision."""
    await turn_approval_off(storage, guild_id, actor_id)
    text = i18n.gettext(locale, "Approval is off: new requests start at once.")
    if not waiting:
        return text
    # The English singular is word for word what the bot always said; other languages say it
    # their own way.
    still = i18n.ngettext(
        locale,
        "The {count} request already waiting still need a decision (or expire).",
        "The {count} requests already waiting still need a decision (or expire).",
        waiting,
    )
    return f"{text} {still.format(count=i18n.number(locale, waiting))}"


def approval_summary(
    settings: ApprovalSettings | None,
    waiting: int,
    expiry: timedelta,
    locale: str | None = None,
) -> str:
    """One line for `limit show`: whether requests wait, where, who skips, how many wait."""
    if settings is None or not settings.enabled:
        if not waiting:
            return i18n.gettext(locale, "Approval: off, requests start at once.")
        text = i18n.ngettext(
            locale,
            "Approval: off, requests start at once ({count} earlier requests still wait).",
            "Approval: off, requests start at once ({count} earlier requests still wait).",
            waiting,
        )
        return text.format(count=i18n.number(locale, waiting))
    if settings.trusted_role_id:
        text = i18n.gettext(
            locale,
            "Approval: **on**, reviewed in {channel}; moderators, and holders of {role} skip "
            "it. Waiting now: **{count}** · unreviewed requests expire after {expiry}.",
        )
    else:
        text = i18n.gettext(
            locale,
            "Approval: **on**, reviewed in {channel}; moderators skip it. Waiting now: "
            "**{count}** · unreviewed requests expire after {expiry}.",
        )
    return text.format(
        channel=f"<#{settings.review_channel_id}>",
        role=f"<@&{settings.trusted_role_id}>",
        count=i18n.number(locale, waiting),
        expiry=expiry_text(expiry).render(locale),
    )
