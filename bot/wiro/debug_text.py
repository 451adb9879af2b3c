"""What Wiro's free text says: progress percentages, and why a task failed in plain words.

Socket messages, `debugoutput` and `debugerror` are logs, not messages for people: a percentage
is read only where one is written, and a failure reason is taken from the most specific clue
(MiniMax's codes, moderation wording, one short line), never echoing code or tokens.
"""

from __future__ import annotations

import re
from typing import Any

from bot.wiro.lenient import loose_float, maybe_json

_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def progress_in(value: Any) -> int | None:
    """Return a percentage from a progress object, a JSON string of one, or "NN%" text.

    Never invents one: a message without a number gives None (docs/wiro-protocol.md
    "Progress")."""
    value = maybe_json(value)
    number: float | None = None
    if isinstance(value, dict):
        number = loose_float(value.get("percentage"))
    elif isinstance(value, str):
        found = _PERCENT.findall(value)
        number = loose_float(found[-1]) if found else None
    if number is None:
        return None
    return max(0, min(100, int(number)))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-]{24,}")
_URL = re.compile(r"https?://\S+")
_CODE_SMELL = re.compile(
    r"Traceback|File \"|^\s+at |line \d+|Exception|Error\(|\{|\}|\[|\]|==|<|>|\\n|/usr/|\.py\b",
    re.MULTILINE,
)


def human_excerpt(text: str | None, limit: int = 200) -> str | None:
    """Return a short plain-words line from Wiro's debug text, or None if it looks like code."""
    if not text:
        return None
    text = _ANSI.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > 3:
        # Several lines of stderr are a log or a stack trace, not a message for people.
        return None
    line = " ".join(lines)
    if _CODE_SMELL.search(line):
        return None
    line = _URL.sub("[link]", line)
    line = _LONG_TOKEN.sub("[…]", line)  # never echo anything that could be a token
    line = "".join(ch for ch in line if ch.isprintable())
    line = line.strip(" .:-")
    if len(line) < 3 or not re.search(r"[A-Za-z]{3}", line):
        return None
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def last_line(text: str | None) -> str | None:
    """Return the last non-empty line of a log, or None."""
    lines = [line for line in _ANSI.sub("", text or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


# MiniMax's own error codes, as they surface in Wiro's debug text (docs/wiro-protocol.md
# "Why a run failed"). A code counts only next to a word like "code" or "error", so that a
# number such as "1002 frames" is not read as one.
_MINIMAX_CODE = re.compile(
    r"(?i)(?:code|status|error|err)[\"'\s:=_a-z]{0,12}?(1002|1008|1026|1027)\b"
)
MINIMAX_REASONS = {
    "1026": "Hailuo refused this prompt (or its image) as sensitive content.",
    "1027": "Hailuo flagged the finished video as sensitive content, so it was not delivered.",
    "1008": "Hailuo's provider is out of balance at Wiro. Try again later.",
    "1002": "Hailuo is rate-limiting Wiro right now. Try again in a few minutes.",
}
_MODERATION = re.compile(
    r"(?i)moderat|sensitive|content polic|nsfw|inappropriate|safety (?:check|filter)"
)
SENSITIVE_REASON = "Hailuo refused this prompt (or its image) as sensitive content."


def failure_reason(debug_error: str | None, debug_output: str | None, base: str) -> str:
    """Plain words for why a task failed, from the most specific clue Wiro gave.

    MiniMax's codes first, then moderation wording, then a short `debugerror` line, then the
    last non-empty line of `debugoutput`, else `base` alone."""
    text = "\n".join(t for t in (debug_error, debug_output) if t)
    code = _MINIMAX_CODE.search(text)
    if code:
        return MINIMAX_REASONS[code.group(1)]
    if _MODERATION.search(text):
        return SENSITIVE_REASON
    excerpt = human_excerpt(debug_error) or human_excerpt(last_line(debug_output))
    return f"{base}: {excerpt}" if excerpt else base
