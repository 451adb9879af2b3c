"""The approval table group: per-server approval settings, one review per held request, and the
budget alerts already announced.

Plain SQL functions that take the sqlite-utils database and run on the storage worker thread,
inside the caller's transaction when there is one; `ApprovalTables` is their async face on the
`storage.db.Database` facade. Every
decision is one conditional UPDATE (`... WHERE status = 'waiting'`): when two moderators press
at the same moment, SQLite's write lock orders them and exactly one UPDATE changes the row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlite_utils import Database as SqliteUtilsDatabase

from storage.sqlite import SqliteBase, from_db_time, immediate, to_db_time, upsert

T = TypeVar("T")


class ApprovalStatus(StrEnum):
    """Where a held request is. Only WAITING ever changes, and it changes once."""

    WAITING = "waiting"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # by the member (or a moderator's cancel) while waiting


@dataclass(frozen=True, slots=True)
class Hold:
    """Where a request that must wait is reviewed, and until when (written with the job)."""

    review_channel_id: int
    expires_at: datetime


class ApprovalSettings(BaseModel):
    """A server's approval rule: on or off, where requests are reviewed, who skips the queue."""

    model_config = ConfigDict(frozen=True)

    guild_id: int
    enabled: bool
    review_channel_id: int | None = None
    trusted_role_id: int | None = None
    set_by: int | None = None
    set_at: datetime | None = None


class Approval(BaseModel):
    """The review of one held request (one row per job that had to wait)."""

    model_config = ConfigDict(frozen=True)

    job_id: int
    guild_id: int
    user_id: int
    status: ApprovalStatus
    review_channel_id: int
    review_message_id: int | None = None
    requested_at: datetime
    expires_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    reason: str | None = None

    @property
    def waiting(self) -> bool:
        return self.status is ApprovalStatus.WAITING


# Times in the same text form as the rest of the file (see storage.sqlite).
_t = to_db_time
_dt = from_db_time


def _approval(row: dict[str, Any]) -> Approval:
    times = ("requested_at", "expires_at", "decided_at")
    return Approval.model_validate({k: (_dt(v) if k in times else v) for k, v in row.items()})


# --- settings ---------------------------------------------------------------------------------
def get_settings(db: SqliteUtilsDatabase, guild_id: int) -> ApprovalSettings | None:
    row = next(db.query("SELECT * FROM approval_settings WHERE guild_id = ?", [guild_id]), None)
    if row is None:
        return None
    return ApprovalSettings.model_validate(
        {**row, "enabled": bool(row["enabled"]), "set_at": _dt(row["set_at"])}
    )


def put_settings(
    db: SqliteUtilsDatabase,
    guild_id: int,
    *,
    enabled: bool,
    review_channel_id: int | None,
    trusted_role_id: int | None,
    actor_id: int,
    now: datetime,
) -> None:
    """Turn approval on (with its channel and trusted role) or off (keeping the last channel)."""
    if enabled and review_channel_id is None:
        raise ValueError("approval needs a review channel")
    if enabled:
        upsert(
            db, "approval_settings", {"guild_id": guild_id},
            {"enabled": 1, "review_channel_id": review_channel_id,
             "trusted_role_id": trusted_role_id, "set_by": actor_id, "set_at": _t(now)},
        )  # fmt: skip
    else:
        db.execute(
            "UPDATE approval_settings SET enabled = 0, set_by = ?, set_at = ? WHERE guild_id = ?",
            [actor_id, _t(now), guild_id],
        )


# --- reviews ----------------------------------------------------------------------------------
def insert_waiting(
    db: SqliteUtilsDatabase,
    *,
    job_id: int,
    guild_id: int,
    user_id: int,
    review_channel_id: int,
    now: datetime,
    expires_at: datetime,
) -> Approval:
    """Hold a new job for review (inside the transaction that reserved its credits)."""
    db.execute(
        "INSERT INTO approvals (job_id, guild_id, user_id, status, review_channel_id,"
        " requested_at, expires_at) VALUES (?, ?, ?, 'waiting', ?, ?, ?)",
        [job_id, guild_id, user_id, review_channel_id, _t(now), _t(expires_at)],
    )
    return Approval(
        job_id=job_id,
        guild_id=guild_id,
        user_id=user_id,
        status=ApprovalStatus.WAITING,
        review_channel_id=review_channel_id,
        requested_at=now,
        expires_at=expires_at,
    )


def get(db: SqliteUtilsDatabase, job_id: int) -> Approval | None:
    row = next(db.query("SELECT * FROM approvals WHERE job_id = ?", [job_id]), None)
    return None if row is None else _approval(row)


def many(db: SqliteUtilsDatabase, job_ids: Iterable[int]) -> dict[int, Approval]:
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = db.query(f"SELECT * FROM approvals WHERE job_id IN ({marks})", ids)
    return {r["job_id"]: _approval(r) for r in rows}


def decide(
    db: SqliteUtilsDatabase,
    job_id: int,
    status: ApprovalStatus,
    *,
    actor_id: int | None,
    reason: str | None,
    now: datetime,
) -> tuple[bool, Approval | None]:
    """Record a decision if the request is still waiting; return (this call decided, row).

    Run inside BEGIN IMMEDIATE: the conditional UPDATE is the whole race. Approving also
    stamps the job's approved_at, from which its run deadline counts."""
    if status is ApprovalStatus.WAITING:
        raise ValueError("a decision cannot be 'waiting'")
    cur = db.execute(
        "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ?"
        " WHERE job_id = ? AND status = 'waiting'",
        [status.value, actor_id, _t(now), reason, job_id],
    )
    won = cur.rowcount == 1
    if won and status is ApprovalStatus.APPROVED:
        db.execute("UPDATE jobs SET approved_at = ? WHERE id = ?", [_t(now), job_id])
    return won, get(db, job_id)


def set_review_message(db: SqliteUtilsDatabase, job_id: int, message_id: int | None) -> None:
    db.execute("UPDATE approvals SET review_message_id = ? WHERE job_id = ?", [message_id, job_id])


def due(db: SqliteUtilsDatabase, now: datetime, limit: int = 100) -> list[Approval]:
    """Waiting requests whose time ran out, oldest first."""
    rows = db.query(
        "SELECT * FROM approvals WHERE status = 'waiting' AND expires_at <= ?"
        " ORDER BY expires_at, job_id LIMIT ?",
        [_t(now), limit],
    )
    return [_approval(r) for r in rows]


def next_expiry(db: SqliteUtilsDatabase) -> datetime | None:
    row = db.execute("SELECT MIN(expires_at) FROM approvals WHERE status = 'waiting'").fetchone()
    return _dt(row[0]) if row and row[0] else None


def unsettled(db: SqliteUtilsDatabase) -> list[Approval]:
    """Rows whose job does not yet match them: decided against while the job still waits to
    run (a restart between the decision and the refund), or still waiting for a job that
    already ended some other way (its card could not be posted)."""
    rows = db.query(
        "SELECT a.* FROM approvals a JOIN jobs j ON j.id = a.job_id"
        " WHERE (a.status IN ('denied', 'expired', 'cancelled') AND j.state = 'pending')"
        " OR (a.status = 'waiting' AND j.state IN ('succeeded', 'failed', 'cancelled',"
        " 'timed_out'))"
        " ORDER BY a.job_id"
    )
    return [_approval(r) for r in rows]


def waiting(db: SqliteUtilsDatabase, guild_id: int) -> list[Approval]:
    """A server's requests waiting for a moderator, oldest first."""
    rows = db.query(
        "SELECT a.* FROM approvals a JOIN jobs j ON j.id = a.job_id"
        " WHERE a.guild_id = ? AND a.status = 'waiting' AND j.state = 'pending'"
        " ORDER BY a.requested_at, a.job_id",
        [guild_id],
    )
    return [_approval(r) for r in rows]


# --- budget alerts ------------------------------------------------------------------------------
def claim_alert(
    db: SqliteUtilsDatabase, guild_id: int, month: str, threshold: int, now: datetime
) -> bool:
    """Remember that `threshold` % was announced for this month; False if it already was."""
    cur = db.execute(
        "INSERT OR IGNORE INTO budget_alerts (guild_id, month, threshold, announced_at)"
        " VALUES (?, ?, ?, ?)",
        [guild_id, month, threshold, _t(now)],
    )
    return cur.rowcount == 1


def release_alert(db: SqliteUtilsDatabase, guild_id: int, month: str, threshold: int) -> None:
    db.execute(
        "DELETE FROM budget_alerts WHERE guild_id = ? AND month = ? AND threshold = ?",
        [guild_id, month, threshold],
    )


def announced(db: SqliteUtilsDatabase, guild_id: int, month: str) -> set[int]:
    rows = db.query(
        "SELECT threshold FROM budget_alerts WHERE guild_id = ? AND month = ?", [guild_id, month]
    )
    return {int(r["threshold"]) for r in rows}


class ApprovalTables(SqliteBase):
    """Approval settings, held requests and their decisions, and budget alerts announced."""

    async def _write(self, fn: Callable[[SqliteUtilsDatabase], T]) -> T:
        def work(db: SqliteUtilsDatabase) -> T:
            with immediate(db):
                return fn(db)

        return await self._run(work)

    # --- settings ----------------------------------------------------------------------------
    async def approval_settings(self, guild_id: int) -> ApprovalSettings | None:
        """The server's approval rule, or None when it was never set."""
        return await self._run(lambda db: get_settings(db, guild_id))

    async def set_approval(
        self,
        guild_id: int,
        *,
        enabled: bool,
        review_channel_id: int | None,
        trusted_role_id: int | None,
        actor_id: int,
        detail: str,
    ) -> None:
        """Turn approval on or off and record who did it in the moderators' log, at once."""
        now = self._now()

        def work(db: SqliteUtilsDatabase) -> None:
            put_settings(
                db, guild_id, enabled=enabled, review_channel_id=review_channel_id,
                trusted_role_id=trusted_role_id, actor_id=actor_id, now=now,
            )  # fmt: skip
            action = "approval.on" if enabled else "approval.off"
            db.execute(
                "INSERT INTO mod_actions (guild_id, actor_id, action, detail, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [guild_id, actor_id, action, detail, _t(now)],
            )

        await self._write(work)

    # --- held requests -----------------------------------------------------------------------
    async def approval(self, job_id: int) -> Approval | None:
        """The review of a job that had to wait (None for any other job)."""
        return await self._run(lambda db: get(db, job_id))

    async def approvals_for(self, job_ids: Iterable[int]) -> dict[int, Approval]:
        """Reviews of these jobs, by job id (jobs that never waited are left out)."""
        ids = list(job_ids)
        return await self._run(lambda db: many(db, ids))

    async def decide_approval(
        self,
        job_id: int,
        status: ApprovalStatus,
        *,
        actor_id: int | None,
        reason: str | None,
        now: datetime,
    ) -> tuple[bool, Approval | None]:
        """Record a decision if the request still waits; (this call decided, the row)."""
        return await self._write(
            lambda db: decide(db, job_id, status, actor_id=actor_id, reason=reason, now=now)
        )

    async def set_review_message(self, job_id: int, message_id: int | None) -> None:
        await self._write(lambda db: set_review_message(db, job_id, message_id))

    async def approvals_due(self, now: datetime, limit: int = 100) -> list[Approval]:
        """Waiting requests whose time ran out, oldest first."""
        return await self._run(lambda db: due(db, now, limit))

    async def next_approval_expiry(self) -> datetime | None:
        return await self._run(next_expiry)

    async def unsettled_approvals(self) -> list[Approval]:
        """Reviews whose job does not match them yet (see `unsettled`)."""
        return await self._run(unsettled)

    async def waiting_approvals(self, guild_id: int) -> list[Approval]:
        """A server's requests waiting for a moderator, oldest first."""
        return await self._run(lambda db: waiting(db, guild_id))

    # --- budget alerts -----------------------------------------------------------------------
    async def claim_budget_alert(
        self, guild_id: int, month: str, threshold: int, now: datetime
    ) -> bool:
        """Remember a threshold as announced for the month; False if it already was."""
        return await self._write(lambda db: claim_alert(db, guild_id, month, threshold, now))

    async def release_budget_alert(self, guild_id: int, month: str, threshold: int) -> None:
        """Forget a claim whose line could not be posted (the next check tries again)."""
        await self._write(lambda db: release_alert(db, guild_id, month, threshold))

    async def budget_alerts_announced(self, guild_id: int, month: str) -> set[int]:
        return await self._run(lambda db: announced(db, guild_id, month))
