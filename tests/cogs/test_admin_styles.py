"""`/videoadmin style …` in words, on a real SQLite file: what is added, refused and listed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.jobs.contracts import Refused
from cogs.admin.styles import add_style, describe_styles, remove_style
from cogs.video import style_choices
from storage.db import Database
from storage.studio import MAX_STYLES
from tests.cogs.conftest import GUILD, MOD, T0


async def add(db: Database, name: str = "Noir", prompt: str = "in black and white", **kw: Any):
    options: dict[str, Any] = {"moves": None, "model": None, "resolution": None, "duration": None}
    options.update(kw)
    return await add_style(db, GUILD, MOD, T0, name=name, prompt=prompt, **options)


async def test_a_style_is_added_with_its_defaults_and_listed(db: Database) -> None:
    text = await add(
        db, "Old film", "{prompt}, grainy 16mm", moves="pan left, zoom in", resolution="768P",
        duration=10, model="hailuo-2.3-fast",
    )  # fmt: skip
    assert "Added the style “Old film”" in text and "where {prompt} stands" in text
    [style] = await db.styles(GUILD)
    assert (style.camera, style.resolution, style.duration, style.model) == (
        "Pan left,Zoom in", "768P", 10, "hailuo-2.3-fast"
    )  # fmt: skip
    listed = describe_styles(await db.styles(GUILD))
    assert f"1 of {MAX_STYLES} styles" in listed and "Old film" in listed
    assert "Hailuo 2.3 Fast" in listed and "Pan left + Zoom in" in listed
    assert [c.value for c in style_choices(await db.styles(GUILD), "FILM")] == ["Old film"]
    assert "followed by the style's words" in await add(db, "Plain", "soft light")


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"name": "x" * 33}, "at most 32"),
        ({"prompt": "{prompt} {prompt}"}, "at most once"),
        ({"moves": "barrel roll"}, "not a camera move"),
        ({"resolution": "1080P", "duration": 10}, "only be 6 seconds"),
    ],
    ids=["long-name", "two-placeholders", "bad-camera", "1080p-10s"],
)
async def test_bad_styles_are_refused_and_nothing_is_written(
    db: Database, kw: dict[str, Any], words: str
) -> None:
    with pytest.raises(Refused, match=words):
        await add(db, **kw)
    assert await db.styles(GUILD) == []


async def test_names_are_unique_in_any_case_and_25_at_most(db: Database) -> None:
    await add(db, "Noir")
    with pytest.raises(Refused, match="already has a style called “NOIR”"):
        await add(db, "NOIR")
    for i in range(MAX_STYLES - 1):
        await add(db, f"style {i}")
    with pytest.raises(Refused, match=f"has {MAX_STYLES} styles"):
        await add(db, "one too many")
    assert len(await db.styles(GUILD)) == MAX_STYLES


async def test_a_style_with_a_blocked_word_is_refused(db: Database) -> None:
    await db.add_blocked_word(GUILD, "gore", MOD)
    with pytest.raises(Refused, match="blocked"):
        await add(db, "Horror", "lots of gore")


async def test_remove(db: Database) -> None:
    await add(db, "Noir")
    assert "Removed the style “Noir”" in await remove_style(db, GUILD, "noir", MOD)
    with pytest.raises(Refused, match="no style called"):
        await remove_style(db, GUILD, "noir", MOD)
    assert "no styles" in describe_styles([])
