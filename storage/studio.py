"""Server styles: named presets moderators add, which members pick on /video and Animate."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.models import Style
from storage.sqlite import SqliteBase, from_db_time, immediate, to_db_time

# A server's styles: at most this many (Discord's autocomplete shows 25 choices at most).
MAX_STYLES = 25

StyleAdded = Literal["added", "exists", "full"]


def style_key(name: str) -> str:
    """The form style names are compared in: unique per server whatever their case."""
    return " ".join(name.split()).casefold()


def write_mod_action(
    db: SqliteUtilsDatabase, guild_id: int, actor_id: int, action: str, detail: str, when: datetime
) -> None:
    """One row of the moderators' log, inside the caller's transaction."""
    db.execute(
        "INSERT INTO mod_actions (guild_id, actor_id, action, detail, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [guild_id, actor_id, action, detail, to_db_time(when)],
    )


def _style_from_row(row: dict[str, Any]) -> Style:
    return Style.model_validate({**row, "added_at": from_db_time(row["added_at"])})


class StudioTables(SqliteBase):
    """Server styles."""

    # --- styles ------------------------------------------------------------------------------
    async def add_style(self, style: Style) -> StyleAdded:
        """Add a style: "added", or "exists" (same name, any case) or "full" (MAX_STYLES)."""
        key = style_key(style.name)

        def work(db: SqliteUtilsDatabase) -> StyleAdded:
            with immediate(db):
                taken = next(
                    db.query(
                        "SELECT 1 FROM styles WHERE guild_id = ? AND name_key = ?",
                        [style.guild_id, key],
                    ),
                    None,
                )
                if taken is not None:
                    return "exists"
                [count] = db.execute(
                    "SELECT COUNT(*) FROM styles WHERE guild_id = ?", [style.guild_id]
                ).fetchone()
                if count >= MAX_STYLES:
                    return "full"
                db.execute(
                    "INSERT INTO styles (guild_id, name, name_key, prompt, camera, model,"
                    " resolution, duration, added_by, added_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        style.guild_id,
                        style.name,
                        key,
                        style.prompt,
                        style.camera,
                        style.model,
                        style.resolution,
                        style.duration,
                        style.added_by,
                        to_db_time(style.added_at),
                    ],
                )
                write_mod_action(
                    db,
                    style.guild_id,
                    style.added_by,
                    "style.add",
                    f"style {style.name!r}",
                    self._now(),
                )
            return "added"

        return await self._run(work)

    async def remove_style(self, guild_id: int, name: str, actor_id: int) -> Style | None:
        """Remove a style (any case of its name); the removed style, None if there was none.

        Jobs that used it keep its name and text (they were copied onto the job)."""
        key = style_key(name)

        def work(db: SqliteUtilsDatabase) -> Style | None:
            with immediate(db):
                row = next(
                    db.query(
                        "SELECT * FROM styles WHERE guild_id = ? AND name_key = ?", [guild_id, key]
                    ),
                    None,
                )
                if row is None:
                    return None
                db.execute(
                    "DELETE FROM styles WHERE guild_id = ? AND name_key = ?", [guild_id, key]
                )
                write_mod_action(
                    db, guild_id, actor_id, "style.remove", f"style {row['name']!r}", self._now()
                )
            return _style_from_row(row)

        return await self._run(work)

    async def styles(self, guild_id: int) -> list[Style]:
        """A server's styles, by name."""

        def work(db: SqliteUtilsDatabase) -> list[Style]:
            rows = db.query("SELECT * FROM styles WHERE guild_id = ? ORDER BY name_key", [guild_id])
            return [_style_from_row(r) for r in rows]

        return await self._run(work)

    async def style(self, guild_id: int, name: str) -> Style | None:
        """The server's style of this name (any case), or None."""

        def work(db: SqliteUtilsDatabase) -> Style | None:
            row = next(
                db.query(
                    "SELECT * FROM styles WHERE guild_id = ? AND name_key = ?",
                    [guild_id, style_key(name)],
                ),
                None,
            )
            return None if row is None else _style_from_row(row)

        return await self._run(work)
