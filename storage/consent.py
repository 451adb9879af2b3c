"""Consent for Animate: whose images a server lets members animate, and who refused.

One row per server for the rule (`animate_rule`: own, anyone or moderators; no row means
`own`), one row per member and server who refused that others animate their images.
"""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.audit import AuditedTables
from storage.models import AnimateRule
from storage.sqlite import immediate, to_db_time


class ConsentTables(AuditedTables):
    """The server's Animate rule and each member's own choice."""

    async def animate_rule(self, guild_id: int) -> AnimateRule:
        """Whose images members may animate here (`own` when never set)."""

        def work(db: SqliteUtilsDatabase) -> AnimateRule:
            row = next(
                db.query("SELECT who FROM animate_rules WHERE guild_id = ?", [guild_id]), None
            )
            return AnimateRule(row["who"]) if row is not None else AnimateRule.OWN

        return await self._run(work)

    async def set_animate_rule(self, guild_id: int, who: AnimateRule, actor_id: int) -> None:
        """Set whose images members may animate (written to the moderators' audit log)."""
        await self._upsert_audited(
            "animate_rules", {"guild_id": guild_id},
            {"who": who.value, "set_by": actor_id, "set_at": to_db_time(self._now())},
            guild_id, actor_id, "animate.rule", f"Animate rule set to {who}",
        )  # fmt: skip

    async def animate_refused_by(self, guild_id: int, user_id: int) -> bool:
        """Whether this member refused that others animate their images in this server."""

        def work(db: SqliteUtilsDatabase) -> bool:
            row = next(
                db.query(
                    "SELECT 1 FROM animate_refusals WHERE guild_id = ? AND user_id = ?",
                    [guild_id, user_id],
                ),
                None,
            )
            return row is not None

        return await self._run(work)

    async def set_animate_refusal(self, guild_id: int, user_id: int, refused: bool) -> bool:
        """Record a member's choice; return whether it changed anything."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with immediate(db):
                if refused:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO animate_refusals (guild_id, user_id, refused_at)"
                        " VALUES (?, ?, ?)",
                        [guild_id, user_id, to_db_time(self._now())],
                    )
                else:
                    cur = db.execute(
                        "DELETE FROM animate_refusals WHERE guild_id = ? AND user_id = ?",
                        [guild_id, user_id],
                    )
                return cur.rowcount > 0

        return await self._run(work)

    async def requester_of_message(self, guild_id: int, message_id: int) -> int | None:
        """The member whose job posted this message (its card or its clip), if any."""

        def work(db: SqliteUtilsDatabase) -> int | None:
            row = next(
                db.query(
                    "SELECT user_id FROM jobs WHERE guild_id = ?"
                    " AND (card_message_id = ? OR result_message_id = ?) LIMIT 1",
                    [guild_id, message_id, message_id],
                ),
                None,
            )
            return None if row is None else int(row["user_id"])

        return await self._run(work)
