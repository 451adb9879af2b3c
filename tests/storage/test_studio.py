"""Server styles and deleted clips in a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.db import Database
from storage.models import Style
from storage.studio import MAX_STYLES

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def style(name: str, guild_id: int = 1, **more: object) -> Style:
    values: dict[str, object] = {
        "guild_id": guild_id,
        "name": name,
        "prompt": f"{name} look",
        "added_by": 9,
        "added_at": NOW,
    }
    values.update(more)
    return Style.model_validate(values)


async def test_styles_are_unique_per_server_whatever_the_case(db: Database) -> None:
    assert await db.add_style(style("Noir", camera="Pan left", resolution="1080P")) == "added"
    assert await db.add_style(style("NOIR")) == "exists"
    assert await db.add_style(style("noir", guild_id=2)) == "added"  # another server
    found = await db.style(1, "nOiR")
    assert found is not None and (found.name, found.camera, found.resolution) == (
        "Noir",
        "Pan left",
        "1080P",
    )
    assert [s.name for s in await db.styles(1)] == ["Noir"]
    removed = await db.remove_style(1, "noir", 9)
    assert removed is not None and removed.name == "Noir"
    assert await db.remove_style(1, "noir", 9) is None
    assert await db.styles(1) == [] and await db.style(2, "Noir") is not None
    actions = [e.action for e in await db.audit_log(1)]
    assert actions == ["style.remove", "style.add"]


async def test_at_most_25_styles_per_server(db: Database) -> None:
    for i in range(MAX_STYLES):
        assert await db.add_style(style(f"s{i:02d}")) == "added"
    assert await db.add_style(style("one more")) == "full"
    assert len(await db.styles(1)) == MAX_STYLES
