"""Per-server settings: limits, moderator role, channels, pause, blocks, words, budget, audit."""

from __future__ import annotations

import math

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.audit import AuditedTables
from storage.folding import normalize_word
from storage.models import (
    BlockedMember,
    GuildSettings,
    Period,
    Scope,
    ScopedLimit,
)
from storage.sqlite import (
    from_db_time,
    snapshot,
    to_db_time,
    usd_text,
)

_SCOPE_ORDER = {"server": 0, "role": 1, "user": 2}
_PERIODS = ("day", "week", "month")


class GuildTables(AuditedTables):
    """What moderators set for their server, and the log of what they did."""

    # --- server settings ---------------------------------------------------------------------
    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """Defaults when the server has no row yet."""

        def work(db: SqliteUtilsDatabase) -> GuildSettings:
            with snapshot(db):
                row = next(
                    db.query("SELECT * FROM guild_settings WHERE guild_id = ?", [guild_id]), None
                )
                channels = frozenset(
                    r["channel_id"]
                    for r in db.query(
                        "SELECT channel_id FROM allowed_channels WHERE guild_id = ?", [guild_id]
                    )
                )
                words = tuple(
                    r["word"]
                    for r in db.query(
                        "SELECT word FROM blocked_words WHERE guild_id = ? ORDER BY word",
                        [guild_id],
                    )
                )
            data: dict[str, object] = {
                "guild_id": guild_id,
                "allowed_channel_ids": channels,
                "blocked_words": words,
            }
            if row is not None:
                data |= {
                    "mod_role_id": row["mod_role_id"],
                    "paused": bool(row["paused"]),
                    "pause_reason": row["pause_reason"],
                    "monthly_budget_usd": row["monthly_budget_usd"],
                    "audit_channel_id": row["audit_channel_id"],
                }
            return GuildSettings.model_validate(data)

        return await self._run(work)

    async def set_limit(
        self,
        guild_id: int,
        scope: Scope,
        target_id: int,
        credits: int,
        period: Period,
        actor_id: int,
    ) -> None:
        """Set (or replace) the limit of a server, role or member."""
        if scope not in _SCOPE_ORDER:
            raise ValueError(f"unknown scope {scope!r} (server, role or user)")
        if period not in _PERIODS:
            raise ValueError(f"unknown period {period!r} (day, week or month)")
        if scope == "server" and target_id != guild_id:
            raise ValueError("a server limit's target_id is the guild id")
        if credits < 0:
            raise ValueError("credits must be 0 (no access) or more")
        noun = {
            "server": "server default",
            "role": f"role {target_id}",
            "user": f"user {target_id}",
        }
        detail = f"limit {noun[scope]}: {credits} credits per {period}"

        await self._upsert_audited(
            "limits", {"guild_id": guild_id, "scope": scope, "target_id": target_id},
            {"credits": credits, "period": period, "set_by": actor_id,
             "set_at": to_db_time(self._now())},
            guild_id, actor_id, "limit.set", detail,
        )  # fmt: skip

    async def clear_limit(self, guild_id: int, scope: Scope, target_id: int, actor_id: int) -> bool:
        """Remove a limit; False if there was none."""
        noun = {
            "server": "server default",
            "role": f"role {target_id}",
            "user": f"user {target_id}",
        }
        label = noun.get(scope, f"{scope} {target_id}")
        return await self._change_audited(
            "DELETE FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?",
            [guild_id, scope, target_id],
            guild_id, actor_id, "limit.clear", f"limit {label} removed",
        )  # fmt: skip

    async def limits(self, guild_id: int) -> list[ScopedLimit]:
        """Return a server's limits: server default first, then roles, then members."""

        def work(db: SqliteUtilsDatabase) -> list[ScopedLimit]:
            rows = db.query("SELECT * FROM limits WHERE guild_id = ?", [guild_id])
            out = [
                ScopedLimit.model_validate({**r, "set_at": from_db_time(r["set_at"])}) for r in rows
            ]
            return sorted(out, key=lambda s: (_SCOPE_ORDER[s.scope], s.target_id))

        return await self._run(work)

    async def _set_guild(
        self,
        guild_id: int,
        values: dict[str, object],
        actor_id: int,
        action: str,
        detail: str,
    ) -> None:
        await self._upsert_audited(
            "guild_settings", {"guild_id": guild_id},
            {**values, "updated_at": to_db_time(self._now())},
            guild_id, actor_id, action, detail,
        )  # fmt: skip

    async def set_mod_role(self, guild_id: int, role_id: int | None, actor_id: int) -> None:
        """Set the role that counts as moderator (None clears it)."""
        if role_id is None:
            action, detail = "modrole.clear", "moderator role cleared"
        else:
            action, detail = "modrole.set", f"moderator role set to role {role_id}"
        await self._set_guild(guild_id, {"mod_role_id": role_id}, actor_id, action, detail)

    async def allow_channel(self, guild_id: int, channel_id: int, actor_id: int) -> bool:
        """Add a channel where /video may run; False if it was already allowed."""
        return await self._add_to_list(
            "allowed_channels", "channel_id", channel_id,
            guild_id, actor_id, "channels.allow", f"channel {channel_id} allowed",
        )  # fmt: skip

    async def remove_channel(self, guild_id: int, channel_id: int, actor_id: int) -> bool:
        """Remove a channel from the allowed list; False if it was not on it."""
        return await self._change_audited(
            "DELETE FROM allowed_channels WHERE guild_id = ? AND channel_id = ?",
            [guild_id, channel_id],
            guild_id, actor_id, "channels.remove",
            f"channel {channel_id} removed from the allowed list",
        )  # fmt: skip

    async def set_paused(
        self, guild_id: int, paused: bool, reason: str | None, actor_id: int
    ) -> None:
        """Pause or resume new jobs in a server (jobs in flight are not touched)."""
        if paused:
            action = "pause"
            detail = "video generation paused" + (f": {reason}" if reason else "")
        else:
            action, detail, reason = "resume", "video generation resumed", None
        await self._set_guild(
            guild_id, {"paused": int(paused), "pause_reason": reason}, actor_id, action, detail
        )

    async def block_member(
        self, guild_id: int, user_id: int, reason: str | None, actor_id: int
    ) -> None:
        """Block a member from /video (replaces an earlier block's reason)."""
        detail = f"user {user_id} blocked" + (f": {reason}" if reason else "")

        await self._upsert_audited(
            "blocked_members", {"guild_id": guild_id, "user_id": user_id},
            {"reason": reason, "blocked_by": actor_id, "blocked_at": to_db_time(self._now())},
            guild_id, actor_id, "block", detail,
        )  # fmt: skip

    async def unblock_member(self, guild_id: int, user_id: int, actor_id: int) -> bool:
        """Lift a member's block; False if they were not blocked."""
        return await self._change_audited(
            "DELETE FROM blocked_members WHERE guild_id = ? AND user_id = ?",
            [guild_id, user_id],
            guild_id, actor_id, "unblock", f"user {user_id} unblocked",
        )  # fmt: skip

    async def blocked_member(self, guild_id: int, user_id: int) -> BlockedMember | None:
        """Return the member's block, or None."""

        def work(db: SqliteUtilsDatabase) -> BlockedMember | None:
            row = next(
                db.query(
                    "SELECT * FROM blocked_members WHERE guild_id = ? AND user_id = ?",
                    [guild_id, user_id],
                ),
                None,
            )
            if row is None:
                return None
            return BlockedMember.model_validate(
                {**row, "blocked_at": from_db_time(row["blocked_at"])}
            )

        return await self._run(work)

    async def set_budget(self, guild_id: int, usd: float | None, actor_id: int) -> None:
        """Set the server's monthly USD cap (None removes it)."""
        if usd is not None and not (math.isfinite(usd) and usd >= 0):
            raise ValueError("the budget must be a non-negative amount of USD")
        if usd is None:
            action, detail = "budget.clear", "monthly budget removed"
        else:
            action, detail = "budget.set", f"monthly budget set to {usd_text(usd)}"
        await self._set_guild(guild_id, {"monthly_budget_usd": usd}, actor_id, action, detail)

    async def add_blocked_word(self, guild_id: int, word: str, actor_id: int) -> bool:
        """Block a word or phrase in prompts (stored folded); False if already blocked."""
        folded = normalize_word(word)
        if not folded:
            raise ValueError("a blocked word cannot be empty")
        return await self._add_to_list(
            "blocked_words", "word", folded,
            guild_id, actor_id, "words.add", f"blocked word {folded!r}",
        )  # fmt: skip

    async def remove_blocked_word(self, guild_id: int, word: str, actor_id: int) -> bool:
        """Unblock a word or phrase; False if it was not blocked."""
        folded = normalize_word(word)
        return await self._change_audited(
            "DELETE FROM blocked_words WHERE guild_id = ? AND word = ?",
            [guild_id, folded],
            guild_id, actor_id, "words.remove", f"unblocked word {folded!r}",
        )  # fmt: skip

    async def set_audit_channel(self, guild_id: int, channel_id: int | None, actor_id: int) -> None:
        """Set the channel that gets one line per finished job (None turns it off)."""
        detail = (
            "audit channel turned off"
            if channel_id is None
            else f"audit channel set to channel {channel_id}"
        )
        await self._set_guild(
            guild_id, {"audit_channel_id": channel_id}, actor_id, "audit.channel", detail
        )

    async def _add_to_list(
        self,
        table: str,
        column: str,
        value: object,
        guild_id: int,
        actor_id: int,
        action: str,
        detail: str,
    ) -> bool:
        """Add `value` to one of the server's lists (allowed channels, blocked words), with its
        audit line; False if it was on it already. `table` and `column` are this module's own."""
        return await self._change_audited(
            f"INSERT OR IGNORE INTO {table} (guild_id, {column}, added_by, added_at)"
            " VALUES (?, ?, ?, ?)",
            [guild_id, value, actor_id, to_db_time(self._now())],
            guild_id, actor_id, action, detail,
        )  # fmt: skip
