"""Server styles: a moderator's named preset that adds its words to a member's prompt and sets
default settings. Pure rules (no Discord, no I/O) plus the look-up of a style by name.

- The style's text may hold `{prompt}` once: the member's words go there. Without it the
  member's prompt comes first and the style's text after it, one space between, so that a
  blocked phrase is found across the join as anywhere else.
- The combined prompt is what is checked (blocked words, the 2,000-character limit) and sent.
- A style's camera moves, model, resolution and duration are defaults: the member's explicit
  options override each of them.
- Jobs keep the style's name and text as they were (`Job.style`, `Job.style_prompt`), so that
  Re-roll, Remix, Extend and Remake run the same words even after the style changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bot import camera, i18n
from bot.jobs.contracts import Refused
from storage.studio import MAX_STYLES

if TYPE_CHECKING:
    from storage.api import Storage
    from storage.models import Job, Style

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_STYLES",
    "MAX_STYLE_CHARS",
    "PLACEHOLDER",
    "Settings",
    "check_name",
    "check_text",
    "combine",
    "find",
    "too_long_text",
    "too_long_words",
    "wiro_prompt",
    "with_defaults",
]

PLACEHOLDER: Final = "{prompt}"
MAX_NAME_CHARS: Final = 32
MAX_STYLE_CHARS: Final = 2000


def combine(prompt: str, style_prompt: str | None) -> str:
    """The prompt a style makes of the member's words (unchanged without a style)."""
    if not style_prompt:
        return prompt
    if PLACEHOLDER in style_prompt:
        return style_prompt.replace(PLACEHOLDER, prompt).strip()
    return f"{prompt} {style_prompt}".strip()


def wiro_prompt(job: Job) -> str:
    """The text sent to Wiro for a job: camera moves first, then the prompt with its style."""
    return camera.prompt_with_moves(
        combine(job.prompt, job.style_prompt), camera.split_moves(job.camera)
    )


def check_name(name: str) -> str:
    """A style's name, trimmed (single spaces); Refused when empty or too long."""
    tidy = " ".join(name.split())
    if not tidy:
        raise Refused(i18n.Text("A style needs a name."))
    if len(tidy) > MAX_NAME_CHARS:
        raise Refused(
            i18n.Text(
                "A style's name can be at most {most} characters (“{name}” has {count}).",
                most=MAX_NAME_CHARS,
                name=tidy[:40],
                count=len(tidy),
            )
        )
    return tidy


def check_text(text: str) -> str:
    """A style's text, trimmed; Refused when empty, too long or with `{prompt}` twice."""
    tidy = text.strip()
    if not tidy or tidy == PLACEHOLDER:
        raise Refused(
            i18n.Text(
                "A style needs some words of its own besides {placeholder}.",
                placeholder=PLACEHOLDER,
            )
        )
    if len(tidy) > MAX_STYLE_CHARS:
        raise Refused(
            i18n.Text(
                "A style's text can be at most {most} characters; this one has {count}.",
                most=MAX_STYLE_CHARS,
                count=len(tidy),
            )
        )
    if tidy.count(PLACEHOLDER) > 1:
        raise Refused(
            i18n.Text(
                "Put {placeholder} at most once in a style's text: it is where the member's "
                "words go.",
                placeholder=PLACEHOLDER,
            )
        )
    return tidy


@dataclass(frozen=True)
class Settings:
    """The settings a request runs with once a style's defaults are applied."""

    resolution: str
    duration: int
    model: str
    camera: tuple[str, ...]


def with_defaults(
    style: Style | None,
    *,
    resolution: str | None,
    duration: int | None,
    model: str | None,
    moves: tuple[str, ...] | None,
    default_model: str,
) -> Settings:
    """Each setting the member chose (not None), else the style's, else the bot's default.

    A style's 1080P with no duration asked for means 6 s (1080P's only length)."""
    res = resolution or (style.resolution if style else None) or "768P"
    dur = duration or (style.duration if style else None) or 6
    if duration is None and res == "1080P":
        dur = 6
    return Settings(
        resolution=res,
        duration=dur,
        model=model or (style.model if style else None) or default_model,
        camera=moves if moves is not None else (camera.split_moves(style.camera) if style else ()),
    )


def too_long_text(prompt: str, style_name: str | None, sent: int, limit: int) -> i18n.Text:
    """Why the prompt sent to Hailuo is over the limit, naming the style when it is the cause
    (in no language yet: `Refused(too_long_text(…))` answers in the member's)."""
    if style_name is not None and len(prompt) <= limit:
        return i18n.Text(
            "With the style “{style}”, the prompt sent to Hailuo is {sent} characters long; "
            "the limit is {limit}. Shorten your prompt by {over} characters or choose another "
            "style.",
            style=style_name,
            sent=sent,
            limit=limit,
            over=sent - limit,
        )
    return i18n.Text(
        "The prompt is {length} characters long; the limit is {limit}.",
        length=len(prompt),
        limit=limit,
    )


def too_long_words(prompt: str, style_name: str | None, sent: int, limit: int) -> str:
    """`too_long_text` in English."""
    return str(too_long_text(prompt, style_name, sent, limit))


async def find(storage: Storage, guild_id: int, name: str) -> Style:
    """The server's style of this name (any case); Refused, naming the choices, when unknown."""
    style = await storage.style(guild_id, name)
    if style is not None:
        return style
    names = [s.name for s in await storage.styles(guild_id)]
    if not names:
        raise Refused(
            i18n.Text("This server has no styles yet. Moderators add them with /videoadmin style.")
        )
    listed = ", ".join(f"“{n}”" for n in names[:25])
    raise Refused(
        i18n.Text("This server has no style “{name}”. Its styles: {styles}.", name=name[:40],
                  styles=listed)
    )  # fmt: skip
