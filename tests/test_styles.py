"""Server styles as pure rules: where the member's words go, names, texts, defaults, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import bot.governance.quota as quota
import bot.governance.styles as styles
from bot.governance.admission import MAX_PROMPT_CHARS
from bot.jobs.contracts import Refused
from storage.models import Style


def style(**overrides: object) -> Style:
    values: dict[str, object] = {
        "guild_id": 1,
        "name": "Noir",
        "prompt": "in black and white",
        "added_by": 2,
        "added_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return Style.model_validate(values)


@pytest.mark.parametrize(
    ("prompt", "style_prompt", "combined"),
    [
        ("a cat", None, "a cat"),
        ("a cat", "in black and white", "a cat in black and white"),
        ("a cat", "{prompt}, in black and white", "a cat, in black and white"),
        ("a cat", "Film still: {prompt}. Grainy.", "Film still: a cat. Grainy."),
        ("a cat", "in watercolour {prompt}", "in watercolour a cat"),
    ],
    ids=["no-style", "appended", "placeholder-first", "placeholder-middle", "placeholder-last"],
)
def test_the_members_words_go_where_the_style_says(
    prompt: str, style_prompt: str | None, combined: str
) -> None:
    assert styles.combine(prompt, style_prompt) == combined


def test_blocked_words_are_found_across_the_join() -> None:
    combined = styles.combine("a small red", "panda in the snow")
    assert quota.blocked_word_in(combined, ["red panda"]) == "red panda"
    placed = styles.combine("red", "a {prompt} panda")
    assert quota.blocked_word_in(placed, ["red panda"]) == "red panda"
    assert quota.blocked_word_in(styles.combine("a small red", None), ["red panda"]) is None


@pytest.mark.parametrize(
    ("name", "ok"),
    [("Noir", "Noir"), ("  Old   film ", "Old film"), ("x" * 32, "x" * 32)],
)
def test_style_names_are_tidied(name: str, ok: str) -> None:
    assert styles.check_name(name) == ok


@pytest.mark.parametrize(
    ("name", "words"), [("", "needs a name"), ("   ", "needs a name"), ("x" * 33, "at most 32")]
)
def test_bad_style_names_are_refused(name: str, words: str) -> None:
    with pytest.raises(Refused, match=words):
        styles.check_name(name)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "some words"),
        ("{prompt}", "some words"),
        ("{prompt} and {prompt}", "at most once"),
        ("x" * 2001, "at most 2000"),
    ],
)
def test_bad_style_texts_are_refused(text: str, words: str) -> None:
    with pytest.raises(Refused, match=words):
        styles.check_text(text)


def test_the_members_explicit_options_override_the_styles_defaults() -> None:
    preset = style(
        camera="Pan left,Zoom in", model="hailuo-2.3-fast", resolution="768P", duration=10
    )
    applied = styles.with_defaults(
        preset, resolution=None, duration=None, model=None, moves=None, default_model="m"
    )
    assert applied == styles.Settings("768P", 10, "hailuo-2.3-fast", ("Pan left", "Zoom in"))
    mine = styles.with_defaults(
        preset, resolution=None, duration=6, model="hailuo-2.3", moves=(), default_model="m"
    )
    assert mine == styles.Settings("768P", 6, "hailuo-2.3", ())
    # The member's 1080P over the style's 10 s: 1080P's only length, not a refusal.
    sharp = styles.with_defaults(
        preset, resolution="1080P", duration=None, model=None, moves=None, default_model="m"
    )
    assert (sharp.resolution, sharp.duration) == ("1080P", 6)
    # No style: the bot's defaults.
    plain = styles.with_defaults(
        None, resolution=None, duration=None, model=None, moves=None, default_model="m"
    )
    assert plain == styles.Settings("768P", 6, "m", ())


def test_too_long_names_the_style_only_when_it_is_the_cause() -> None:
    by_style = styles.too_long_words("a" * 1990, "Film", 2030, MAX_PROMPT_CHARS)
    assert "“Film”" in by_style and "by 30 characters" in by_style
    own = styles.too_long_words("a" * 2001, "Film", 2030, MAX_PROMPT_CHARS)
    assert "Film" not in own and "2001 characters" in own
