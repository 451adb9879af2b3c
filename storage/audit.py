"""The moderators' audit log, and the writes that leave a line in it in the same transaction."""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.models import AuditEntry
from storage.sqlite import SqliteBase, from_db_time, immediate, to_db_time, upsert


class AuditedTables(SqliteBase):
    """Who changed what in a server: the log, and the settings writes that append to it."""

    async def _upsert_audited(
        self,
        table: str,
        key: dict[str, object],
        values: dict[str, object],
        guild_id: int,
        actor_id: int,
        action: str,
        detail: str,
    ) -> None:
        """Write one row (`upsert`) and its audit line, in one transaction."""

        def work(db: SqliteUtilsDatabase) -> None:
            with immediate(db):
                upsert(db, table, key, values)
                self._audit(db, guild_id, actor_id, action, detail)

        await self._run(work)

    async def _change_audited(
        self,
        sql: str,
        params: list[object],
        guild_id: int,
        actor_id: int,
        action: str,
        detail: str,
    ) -> bool:
        """Run one INSERT OR IGNORE or DELETE in its own transaction, with its audit line when it
        changed a row; whether it did."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with immediate(db):
                changed = db.execute(sql, params).rowcount > 0
                if changed:
                    self._audit(db, guild_id, actor_id, action, detail)
                return changed

        return await self._run(work)

    def _audit(
        self, db: SqliteUtilsDatabase, guild_id: int, actor_id: int, action: str, detail: str
    ) -> None:
        db.execute(
            "INSERT INTO mod_actions (guild_id, actor_id, action, detail, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [guild_id, actor_id, action, detail, to_db_time(self._now())],
        )

    async def record_action(self, guild_id: int, actor_id: int, action: str, detail: str) -> None:
        """Append to the moderator audit log (the setters above call this themselves)."""
        if not action:
            raise ValueError("an audit action needs a name")

        def work(db: SqliteUtilsDatabase) -> None:
            self._audit(db, guild_id, actor_id, action, detail)

        await self._run(work)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """Return a server's latest moderator actions, newest first."""

        def work(db: SqliteUtilsDatabase) -> list[AuditEntry]:
            rows = db.query(
                "SELECT * FROM mod_actions WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
                [guild_id, limit],
            )
            return [
                AuditEntry.model_validate({**r, "created_at": from_db_time(r["created_at"])})
                for r in rows
            ]

        return await self._run(work)
