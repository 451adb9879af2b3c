"""The bot_state table: small facts the bot keeps about itself between runs (key → value).

Today: the hash of the slash-command tree last published per target, so that a start publishes
the commands only when they changed (`bot.ops.publishing`).
"""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.sqlite import SqliteBase, to_db_time, upsert


class StateTables(SqliteBase):
    """Key-value facts about the bot itself (not about members or servers)."""

    async def get_state(self, key: str) -> str | None:
        """Return the value stored under `key`, or None."""

        def work(db: SqliteUtilsDatabase) -> str | None:
            row = db.execute("SELECT value FROM bot_state WHERE key = ?", [key]).fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def set_state(self, key: str, value: str) -> None:
        """Store `value` under `key` (replacing the previous one)."""

        def work(db: SqliteUtilsDatabase) -> None:
            # One statement: atomic on its own (the connection is in autocommit mode).
            upsert(
                db,
                "bot_state",
                {"key": key},
                {"value": value, "updated_at": to_db_time(self._now())},
            )

        await self._run(work)
