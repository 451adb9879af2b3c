"""Hailuo 2.3's camera moves: parse the member's choice, suggest moves, write the prompt prefix.

MiniMax's 15 official moves (its prompt guide), at most 3 at once, written as one bracketed group at
the start of the prompt: ``[Pan left,Zoom in] a cat walks…``; the moves in one group happen
together. The job keeps the moves apart from the prompt (the card shows them apart); the prefix
is added only to the text sent to Wiro. Pure: no Discord, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from bot import i18n

CAMERA_MOVES: Final = (
    "Truck left",
    "Truck right",
    "Pan left",
    "Pan right",
    "Push in",
    "Pull out",
    "Pedestal up",
    "Pedestal down",
    "Tilt up",
    "Tilt down",
    "Zoom in",
    "Zoom out",
    "Shake",
    "Tracking shot",
    "Static shot",
)
MAX_MOVES: Final = 3
# Discord's limits for an autocomplete answer: 25 choices, names and values of 1-100 characters.
MAX_SUGGESTIONS: Final = 25
_CHOICE_CHARS: Final = 100

_BY_KEY: Final = {" ".join(m.lower().split()): m for m in CAMERA_MOVES}
_SPACES = re.compile(r"\s+")


class CameraRefused(ValueError):
    """The camera option cannot be used; ``text`` is a sentence for the member, put in their
    language by whoever answers (`text.render(locale)`); ``reason``: English (logs)."""

    def __init__(self, reason: str | i18n.Text) -> None:
        self.text = reason if isinstance(reason, i18n.Text) else i18n.Text(reason)
        self.reason = str(self.text)
        super().__init__(self.reason)


def _key(text: str) -> str:
    # "  pan   LEFT " and "[Pan left]" both name "Pan left".
    return _SPACES.sub(" ", text.strip().strip("[]").strip()).lower()


def moves_list() -> str:
    """The 15 moves, for a refusal that tells the member what exists."""
    return ", ".join(CAMERA_MOVES)


def parse_moves(text: str | None) -> tuple[str, ...]:
    """Read a comma-separated choice of moves (any case); raise CameraRefused if unusable.

    Empty items (a trailing comma) are skipped and repeats count once; the moves keep the order
    in which they were typed, in their official spelling."""
    if text is None:
        return ()
    chosen: list[str] = []
    unknown: list[str] = []
    for part in text.split(","):
        key = _key(part)
        if not key:
            continue
        move = _BY_KEY.get(key)
        if move is None:
            unknown.append(part.strip())
        elif move not in chosen:
            chosen.append(move)
    if unknown:
        names = ", ".join(f"“{u[:40]}”" for u in unknown[:3])
        raise CameraRefused(
            i18n.plural_text(
                "{names} is not a camera move. Choose up to {limit} of: {moves}.",
                "{names} are not camera moves. Choose up to {limit} of: {moves}.",
                len(unknown),
                names=names,
                limit=MAX_MOVES,
                moves=moves_list(),
            )
        )
    if len(chosen) > MAX_MOVES:
        raise CameraRefused(
            i18n.Text(
                "Hailuo takes at most {limit} camera moves at once (they happen together); "
                "you chose {chosen}: {moves}.",
                limit=MAX_MOVES,
                chosen=len(chosen),
                moves=", ".join(chosen),
            )
        )
    return tuple(chosen)


def prompt_with_moves(prompt: str, moves: Sequence[str]) -> str:
    """The text sent to Wiro: the moves as one bracketed group, then the prompt."""
    if not moves:
        return prompt
    return f"[{','.join(moves)}] {prompt}"


def prefix_length(moves: Sequence[str]) -> int:
    """How many characters the moves add to the prompt sent to Wiro."""
    return len(prompt_with_moves("", moves))


def join_moves(moves: Iterable[str]) -> str | None:
    """The moves as stored on a job ("Pan left,Zoom in"), or None for none."""
    text = ",".join(moves)
    return text or None


def split_moves(stored: str | None) -> tuple[str, ...]:
    """The moves of a stored job (the inverse of `join_moves`)."""
    return tuple(m for m in (stored or "").split(",") if m)


def suggest(current: str) -> list[tuple[str, str]]:
    """Autocomplete choices (name, value) for what the member has typed so far.

    The moves already typed before the last comma are kept, and the last, unfinished item is
    completed: "Pan left, zo" offers "Pan left, Zoom in" and "Pan left, Zoom out"."""
    *done_parts, last = current.split(",")
    done: list[str] = []
    for part in done_parts:
        move = _BY_KEY.get(_key(part))
        if move is not None and move not in done:
            done.append(move)
    fragment = _key(last)
    exact = _BY_KEY.get(fragment)
    if exact is not None and exact not in done:
        done.append(exact)
        fragment = ""
    if len(done) >= MAX_MOVES:
        value = ", ".join(done[:MAX_MOVES])
        return [(value, value)]
    candidates = [m for m in CAMERA_MOVES if m not in done]
    if fragment:
        starts = [m for m in candidates if m.lower().startswith(fragment)]
        words = [
            m
            for m in candidates
            if m not in starts and any(w.startswith(fragment) for w in m.lower().split())
        ]
        inside = [
            m for m in candidates if m not in starts and m not in words and fragment in m.lower()
        ]
        candidates = starts + words + inside
    choices: list[tuple[str, str]] = []
    if done and not fragment:
        # What is typed so far is a valid choice by itself.
        value = ", ".join(done)
        choices.append((value, value))
    for move in candidates:
        value = ", ".join([*done, move])
        if len(value) <= _CHOICE_CHARS:
            choices.append((value, value))
    return choices[:MAX_SUGGESTIONS]
