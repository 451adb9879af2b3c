"""The language of a server's public messages, as a moderator set it (one row per server)."""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.sqlite import SqliteBase, immediate, to_db_time, upsert


class LanguageTables(SqliteBase):
    """The server's language for cards, clips, reviews and audit lines."""

    def _audit(  # implemented by GuildTables; declared for the type checker
        self, db: SqliteUtilsDatabase, guild_id: int, actor_id: int, action: str, detail: str
    ) -> None:
        raise NotImplementedError

    async def server_language(self, guild_id: int) -> str | None:
        """The Discord locale a moderator set for this server (None when never set)."""

        def work(db: SqliteUtilsDatabase) -> str | None:
            row = next(
                db.query("SELECT locale FROM server_languages WHERE guild_id = ?", [guild_id]),
                None,
            )
            return None if row is None else str(row["locale"])

        return await self._run(work)

    async def set_server_language(self, guild_id: int, locale: str, actor_id: int) -> None:
        """Set the server's language (written to the moderators' audit log)."""

        def work(db: SqliteUtilsDatabase) -> None:
            with immediate(db):
                upsert(
                    db, "server_languages", {"guild_id": guild_id},
                    {"locale": locale, "set_by": actor_id, "set_at": to_db_time(self._now())},
                )  # fmt: skip
                self._audit(
                    db, guild_id, actor_id, "language.set", f"server language set to {locale}"
                )

        await self._run(work)
