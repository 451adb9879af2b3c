"""Consent for Animate: whose images a member may turn into a video (the one home of the rule).

By default a member may animate only images in their own messages: turning someone's selfie
or a photo of their child into a video without asking is what gets a bot removed from a server.
Moderators can widen that (`/videoadmin animate who:anyone|moderators`), and any member can
refuse, for the whole server, that others animate their images (`/videoprivacy`); that refusal
wins over every rule. A moderator's own request counts as a moderator's under `moderators`.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot import i18n
from bot.jobs.contracts import Refused, VideoRequest
from storage.api import Storage
from storage.models import AnimateRule

OWN_ONLY = str(
    i18n.Text(
        "In this server you can animate only images from your own messages. A moderator can change "
        "that with /videoadmin animate. Nothing was spent."
    )
)
MODERATORS_ONLY = str(
    i18n.Text(
        "In this server only moderators can animate other members' images; you can animate images "
        "from your own messages. Nothing was spent."
    )
)
AUTHOR_REFUSED = str(
    i18n.Text(
        "The member who posted that image has asked that their images not be animated by others "
        "(/videoprivacy). Nothing was spent."
    )
)


def is_moderator(mod_role_id: int | None, role_ids: Iterable[int], manage_guild: bool) -> bool:
    """Manage Server, or the server's moderator role (/videoadmin modrole)."""
    return manage_guild or (mod_role_id is not None and mod_role_id in frozenset(role_ids))


def refusal(
    rule: AnimateRule,
    *,
    requester_id: int,
    author_id: int,
    requester_is_moderator: bool,
    author_refused: bool,
) -> str | None:
    """Why this member may not animate that author's image, or None when they may."""
    if author_id == requester_id:
        return None
    if author_refused:
        return AUTHOR_REFUSED
    if rule is AnimateRule.ANYONE:
        return None
    if rule is AnimateRule.MODERATORS and requester_is_moderator:
        return None
    return MODERATORS_ONLY if rule is AnimateRule.MODERATORS else OWN_ONLY


async def check(storage: Storage, req: VideoRequest) -> None:
    """Raise Refused when the request animates an image its requester may not use."""
    author_id = req.image_author_id
    if author_id is None or author_id == req.user_id:
        return
    settings = await storage.guild_settings(req.guild_id)
    reason = refusal(
        await storage.animate_rule(req.guild_id),
        requester_id=req.user_id,
        author_id=author_id,
        requester_is_moderator=is_moderator(settings.mod_role_id, req.role_ids, req.manage_guild),
        author_refused=await storage.animate_refused_by(req.guild_id, author_id),
    )
    if reason is not None:
        raise Refused(reason)


async def set_rule(storage: Storage, guild_id: int, who: str, actor_id: int) -> AnimateRule:
    """A moderator sets whose images Animate may use; raise Refused for an unknown value."""
    try:
        rule = AnimateRule(who)
    except ValueError:
        choices = ", ".join(r.value for r in AnimateRule)
        raise Refused(
            i18n.Text(
                "“{value}” is not a rule; choose one of {choices}.", value=who, choices=choices
            )
        ) from None
    await storage.set_animate_rule(guild_id, rule, actor_id)
    return rule
