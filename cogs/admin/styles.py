"""`/videoadmin style …` in words: add, remove and list a server's styles.

The rules (name and text limits, `{prompt}`, the 25-style cap) are `bot/governance/styles.py`'s and
the store's; here they are checked in the order a moderator reads them, and answered in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import bot.governance.quota as quota
import bot.governance.styles as styles
from bot import camera
from bot.camera import CameraRefused
from bot.catalogue import MODELS
from bot.jobs.contracts import Refused
from cogs.cards.text import prompt_as_text
from cogs.words import fit_lines
from storage.db import Database
from storage.models import Style


def defaults_words(style: Style) -> str:
    """'768P · 10 s · Hailuo 2.3 Fast · Pan left + Zoom in', or 'no defaults'."""
    parts: list[str] = []
    if style.resolution:
        parts.append(style.resolution)
    if style.duration:
        parts.append(f"{style.duration} s")
    if style.model:
        model = MODELS.get(style.model)
        parts.append(model.label if model else style.model)
    moves = camera.split_moves(style.camera)
    if moves:
        parts.append(" + ".join(moves))
    return " · ".join(parts) if parts else "no defaults"


async def add_style(
    storage: Database,
    guild_id: int,
    actor_id: int,
    now: datetime,
    *,
    name: str,
    prompt: str,
    moves: str | None,
    model: str | None,
    resolution: str | None,
    duration: int | None,
) -> str:
    """Add a style, or refuse with the reason (nothing is written then)."""
    tidy_name = styles.check_name(name)
    text = styles.check_text(prompt)
    try:
        parsed = camera.parse_moves(moves)
    except CameraRefused as exc:
        raise Refused(exc.reason) from None
    if resolution == "1080P" and duration not in (None, 6):
        raise Refused("1080P videos can only be 6 seconds long; choose 768P for 10 seconds.")
    settings = await storage.guild_settings(guild_id)
    word = quota.blocked_word_in(text, settings.blocked_words)
    if word is not None:
        raise Refused(f"The style's text contains a word this server has blocked (“{word}”).")
    style = Style(
        guild_id=guild_id,
        name=tidy_name,
        prompt=text,
        camera=camera.join_moves(parsed),
        model=model,
        resolution=resolution,
        duration=6 if resolution == "1080P" else duration,
        added_by=actor_id,
        added_at=now,
    )
    outcome = await storage.add_style(style)
    shown = prompt_as_text(tidy_name, 100)
    if outcome == "exists":
        raise Refused(
            f"This server already has a style called “{shown}” (names are compared in any "
            "case). Remove it first to change it."
        )
    if outcome == "full":
        raise Refused(
            f"This server has {styles.MAX_STYLES} styles, the most it may have. Remove one first."
        )
    where = (
        "where {prompt} stands"
        if styles.PLACEHOLDER in text
        else "followed by the style's words (no {prompt} in it)"
    )
    return (
        f"Added the style “{shown}” ({defaults_words(style)}). Members pick it with the "
        f"`style` option of /video or in the Animate form: their prompt goes {where}; their "
        "own options override the style's."
    )


async def remove_style(storage: Database, guild_id: int, name: str, actor_id: int) -> str:
    """Remove a style, or refuse when there is none of that name."""
    removed = await storage.remove_style(guild_id, name, actor_id)
    if removed is None:
        raise Refused(f"This server has no style called “{prompt_as_text(name, 100)}”.")
    return (
        f"Removed the style “{prompt_as_text(removed.name, 100)}”. Jobs made with it keep it "
        "(their Re-roll, Remix, Extend and Remake use the same words)."
    )


def describe_styles(server_styles: Sequence[Style]) -> str:
    """The server's styles, one line each: name, defaults, text."""
    if not server_styles:
        return "This server has no styles. Add one with /videoadmin style add."
    header = [f"**{len(server_styles)} of {styles.MAX_STYLES} styles**"]
    items = [
        f"• **{prompt_as_text(s.name, 100)}** ({defaults_words(s)}): "
        f"{prompt_as_text(s.prompt, 200)}"
        for s in server_styles
    ]
    return fit_lines(header, items)
