"""The language of a server's public messages, as a moderator set it (one row per server)."""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.audit import AuditedTables
from storage.sqlite import to_db_time


class LanguageTables(AuditedTables):
    """The server's language for cards, clips, reviews and audit lines."""

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
        await self._upsert_audited(
            "server_languages", {"guild_id": guild_id},
            {"locale": locale, "set_by": actor_id, "set_at": to_db_time(self._now())},
            guild_id, actor_id, "language.set", f"server language set to {locale}",
        )  # fmt: skip
