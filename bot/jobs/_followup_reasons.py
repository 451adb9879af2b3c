"""Why a follow-up (Re-roll, Extend, Remake, Remix, Delete) is refused, in a member's words.

Each reason is an `i18n.Text` (the member's language is not known here) or, where a card or a
button keeps it as a plain string, the English sentence (`str(Text(...))`), whose template is in
the catalogs so that a `Refused` made from it still reads in the member's language. Used by the
follow-ups (bot/jobs/followups.py) and the reservation (bot/jobs/reservation.py).
"""

from __future__ import annotations

from bot import i18n
from storage.models import FollowUp, Job

# Whole sentences per follow-up: a language does not build them from a verb glued in code.
_DELETED = {
    "re-rolled": i18n.Text("This clip was deleted, so it cannot be re-rolled."),
    "extended": i18n.Text("This clip was deleted, so it cannot be extended."),
    "remade": i18n.Text("This clip was deleted, so it cannot be remade."),
    "remixed": i18n.Text("This clip was deleted, so it cannot be remixed."),
}
_EARLIER_DELETED = {
    "re-rolled": i18n.Text(
        "The clip this one continues (job {id}) was deleted, so this one cannot be re-rolled."
    ),
    "remixed": i18n.Text(
        "The clip this one continues (job {id}) was deleted, so this one cannot be remixed."
    ),
}
# Almost always a double click: one follow-up of each kind at a time per clip.
_ON_ITS_WAY = {
    FollowUp.REROLL: i18n.Text("A re-roll of this video is already on its way."),
    FollowUp.EXTEND: i18n.Text("An extension of this video is already on its way."),
    FollowUp.REMAKE: i18n.Text("A 1080P remake of this video is already on its way."),
}


def deleted_words(done: str) -> str:
    """Why a deleted clip offers no follow-up ("… cannot be extended"), in English."""
    return str(_DELETED[done])


def earlier_deleted_words(earlier_id: int, done: str) -> i18n.Text:
    """Why a follow-up of an extension whose earlier clip was deleted is refused."""
    return i18n.Text(_EARLIER_DELETED[done].message, id=earlier_id)


def on_its_way_words(kind: FollowUp) -> i18n.Text:
    """The answer to a follow-up asked again while the first one is in flight."""
    return _ON_ITS_WAY[kind]


def too_long_words(clip_seconds: int, max_clip_seconds: int) -> str:
    """Why a clip at the longest a chain may be cannot be extended (the button says it too)."""
    return str(
        i18n.Text(
            "This clip is {seconds} s long: the longest a clip may grow to is {limit} s.",
            seconds=clip_seconds,
            limit=max_clip_seconds,
        )
    )


def not_kept_words(too_big: bool, max_clip_bytes: int) -> str:
    """Why a finished clip's file is not at hand for Extend, in a member's words."""
    if too_big:
        return str(
            i18n.Text(
                "This clip is too big for the bot to download (over {size} MiB; it was posted "
                "as a link), so it cannot be extended.",
                size=max_clip_bytes // 2**20,
            )
        )
    return str(
        i18n.Text(
            "This clip is no longer stored, so it cannot be extended. Clips can be extended "
            "for a few days after they are posted."
        )
    )


def length_refusal(
    job: Job, duration: int, allowed: tuple[int, ...], max_s: int, *, offered: bool
) -> i18n.Text:
    """Why an Extend of this length is refused; `offered`: the model makes parts this long."""
    choices = _either(allowed)
    if offered:
        return i18n.Text(
            "A {duration}-second part would make this clip {total} s long, over the {limit} s "
            "maximum. Choose {choices} seconds.",
            duration=duration,
            total=job.clip_seconds + duration,
            limit=max_s,
            choices=choices,
        )
    return i18n.Text(
        "A part of a {resolution} clip can be {choices} seconds long.",
        resolution=job.resolution,
        choices=choices,
    )


def _either(numbers: tuple[int, ...]) -> str | i18n.Text:
    """'6', '6 or 10', '6, 8 or 10', written in the reader's language."""
    if len(numbers) <= 1:
        return "".join(str(n) for n in numbers)
    head = ", ".join(str(n) for n in numbers[:-1])
    return i18n.Text("{first} or {last}", first=head, last=numbers[-1])


def scaled_up_note(width: int, height: int, size: tuple[int, int], minimum: int) -> str:
    """The card's note for a last frame scaled up to Hailuo's minimum (kept in English)."""
    return str(
        i18n.Text(
            "The clip's last frame was scaled up from {width}×{height} to "
            "{scaled_width}×{scaled_height} px: Hailuo needs a short side of at least "
            "{minimum} px.",
            width=width,
            height=height,
            scaled_width=size[0],
            scaled_height=size[1],
            minimum=minimum,
        )
    )
