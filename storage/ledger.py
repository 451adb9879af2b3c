"""The credit ledger and the sums taken from it (credits used, USD spent and in flight).

Ledger rows: `reserve` +N credits when a job is created, `refund` -N when they are given back,
`charge` +N when the reservation is confirmed (a receipt: it is not counted again).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.api import JobNotFound
from storage.migrations import IN_FLIGHT_SQL
from storage.models import (
    LedgerEntry,
    ModelUsageRow,
    UsageRow,
)
from storage.sqlite import SqliteBase, from_db_time, immediate, to_db_time

log = logging.getLogger(__name__)


class LedgerTables(SqliteBase):
    """Charges, refunds and the totals that limits and budgets are checked against."""

    # --- ledger ------------------------------------------------------------------------------
    async def charge(self, job_id: int, *, total_cost_usd: float | None = None) -> bool:
        """Turn the reservation into a charge (idempotent: False if already charged/refunded)."""
        if total_cost_usd is not None and not (
            math.isfinite(total_cost_usd) and total_cost_usd >= 0
        ):
            raise ValueError(f"total_cost_usd must be a non-negative number, not {total_cost_usd}")

        def work(db: SqliteUtilsDatabase) -> bool:
            with immediate(db):
                return charge_in(db, job_id, total_cost_usd, self._now())

        changed = await self._run(work)
        if changed:
            log.info("job=%d charged (totalcost %s USD)", job_id, total_cost_usd)
        return changed

    async def refund(self, job_id: int, note: str | None = None) -> bool:
        """Give a job's credits back (idempotent: False if already refunded or never reserved).
        A charged job can still be refunded by a moderator."""

        def work(db: SqliteUtilsDatabase) -> bool:
            with immediate(db):
                return refund_in(db, job_id, note, self._now())

        changed = await self._run(work)
        if changed:
            log.info("job=%d refunded", job_id)
        return changed

    async def ledger_for_job(self, job_id: int) -> list[LedgerEntry]:
        """Return a job's ledger rows in the order they were written."""

        def work(db: SqliteUtilsDatabase) -> list[LedgerEntry]:
            rows = db.query("SELECT * FROM ledger WHERE job_id = ? ORDER BY id", [job_id])
            return [
                LedgerEntry.model_validate({**r, "created_at": from_db_time(r["created_at"])})
                for r in rows
            ]

        return await self._run(work)

    async def credits_used(
        self, guild_id: int, user_id: int, start: datetime, end: datetime
    ) -> int:
        """Reserved minus refunded credits of reservations made in [start, end)."""
        a, b = to_db_time(start), to_db_time(end)
        return await self._run(lambda db: sum_credits_used(db, guild_id, user_id, a, b))

    async def spent_usd(self, guild_id: int, start: datetime, end: datetime) -> float:
        """Sum of Wiro totalcost of this server's jobs finished in [start, end)."""
        a, b = to_db_time(start), to_db_time(end)
        return await self._run(lambda db: sum_spent_usd(db, guild_id, a, b))

    async def in_flight_expected_usd(self, guild_id: int) -> float:
        """Expected USD of this server's jobs in flight (their totalcost once known)."""
        return await self._run(lambda db: sum_in_flight_usd(db, guild_id))

    async def usage(
        self, guild_id: int, since: datetime, user_id: int | None = None
    ) -> list[UsageRow]:
        """Per-member totals of jobs created since `since` (credits net of refunds)."""
        where, params = _usage_where(guild_id, since, user_id)
        sql = f"""
            SELECT j.user_id AS user_id,{_USAGE_TOTALS},
                   COALESCE(SUM(a.status = 'denied'), 0) AS denied,
                   COALESCE(SUM(a.status = 'expired'), 0) AS expired,
                   COALESCE(SUM(j.image_author_id IS NOT NULL
                                AND j.image_author_id != j.user_id), 0) AS from_others,
                   GROUP_CONCAT(DISTINCT CASE WHEN j.image_author_id != j.user_id
                                THEN j.image_author_id END) AS image_authors
            FROM jobs j LEFT JOIN approvals a ON a.job_id = j.id
            {where}
            GROUP BY j.user_id ORDER BY credits DESC, usd DESC, j.user_id
        """
        return await self._run(
            lambda db: [
                UsageRow.model_validate(r | {"image_authors": _ids(r["image_authors"])})
                for r in db.query(sql, params)
            ]
        )

    async def usage_by_model(
        self, guild_id: int, since: datetime, user_id: int | None = None
    ) -> list[ModelUsageRow]:
        """Per-model totals of jobs created since `since` (credits net of refunds)."""
        where, params = _usage_where(guild_id, since, user_id)
        sql = f"""
            SELECT j.model AS model,{_USAGE_TOTALS}
            FROM jobs j
            {where}
            GROUP BY j.model ORDER BY j.model
        """
        return await self._run(
            lambda db: [ModelUsageRow.model_validate(r) for r in db.query(sql, params)]
        )


# The totals both usage views give per row: jobs, successes, credits net of refunds, USD.
_USAGE_TOTALS = """
                   COUNT(*) AS jobs,
                   SUM(j.state = 'succeeded') AS succeeded,
                   COALESCE(SUM((SELECT SUM(l.credits) FROM ledger l
                                 WHERE l.job_id = j.id AND l.kind IN ('reserve', 'refund'))),
                            0) AS credits,
                   COALESCE(SUM(j.total_cost_usd), 0.0) AS usd"""


def _usage_where(guild_id: int, since: datetime, user_id: int | None) -> tuple[str, list[object]]:
    """The usage views' filter: the server's jobs created since `since`, one member's if given."""
    where = "WHERE j.guild_id = ? AND j.created_at >= ?"
    params: list[object] = [guild_id, to_db_time(since)]
    if user_id is not None:
        where += " AND j.user_id = ?"
        params.append(user_id)
    return where, params


# --- SQL shared by several methods (run on the worker thread) ---------------------------------
def charge_in(
    db: SqliteUtilsDatabase, job_id: int, total_cost_usd: float | None, now: datetime
) -> bool:
    """Write the charge row (inside the caller's transaction); False if nothing changed."""
    reserve, refunded = _reservation(db, job_id)
    if reserve is None or refunded:
        return False
    cur = db.execute(
        "INSERT OR IGNORE INTO ledger (guild_id, user_id, job_id, kind, credits, created_at)"
        " VALUES (?, ?, ?, 'charge', ?, ?)",
        [reserve["guild_id"], reserve["user_id"], job_id, reserve["credits"], to_db_time(now)],
    )
    if cur.rowcount != 1:
        return False
    if total_cost_usd is not None:
        db.execute(
            "UPDATE jobs SET total_cost_usd = ?, updated_at = ? WHERE id = ?",
            [total_cost_usd, to_db_time(now), job_id],
        )
    return True


def refund_in(db: SqliteUtilsDatabase, job_id: int, note: str | None, now: datetime) -> bool:
    """Write the refund row (inside the caller's transaction); False if nothing changed."""
    reserve, _refunded = _reservation(db, job_id)
    if reserve is None:
        return False
    cur = db.execute(
        "INSERT OR IGNORE INTO ledger"
        " (guild_id, user_id, job_id, kind, credits, note, created_at)"
        " VALUES (?, ?, ?, 'refund', ?, ?, ?)",
        [reserve["guild_id"], reserve["user_id"], job_id, -reserve["credits"], note,
         to_db_time(now)],
    )  # fmt: skip
    return cur.rowcount == 1


def _reservation(db: SqliteUtilsDatabase, job_id: int) -> tuple[dict[str, Any] | None, bool]:
    rows = {
        r["kind"]: r
        for r in db.query(
            "SELECT * FROM ledger WHERE job_id = ? AND kind IN ('reserve', 'refund')", [job_id]
        )
    }
    if (
        "reserve" not in rows
        and next(db.query("SELECT 1 AS x FROM jobs WHERE id = ?", [job_id]), None) is None
    ):
        raise JobNotFound(job_id)
    return rows.get("reserve"), "refund" in rows


def sum_credits_used(
    db: SqliteUtilsDatabase, guild_id: int, user_id: int, start: str, end: str
) -> int:
    row = db.execute(
        "SELECT COALESCE(SUM(r.credits), 0) + COALESCE(SUM(f.credits), 0)"
        " FROM ledger r LEFT JOIN ledger f ON f.job_id = r.job_id AND f.kind = 'refund'"
        " WHERE r.guild_id = ? AND r.user_id = ? AND r.kind = 'reserve'"
        " AND r.created_at >= ? AND r.created_at < ?",
        [guild_id, user_id, start, end],
    ).fetchone()
    return int(row[0])


def sum_spent_usd(db: SqliteUtilsDatabase, guild_id: int, start: str, end: str) -> float:
    row = db.execute(
        "SELECT COALESCE(SUM(total_cost_usd), 0.0) FROM jobs WHERE guild_id = ?"
        " AND total_cost_usd IS NOT NULL AND finished_at >= ? AND finished_at < ?",
        [guild_id, start, end],
    ).fetchone()
    return float(row[0])


def sum_in_flight_usd(db: SqliteUtilsDatabase, guild_id: int) -> float:
    # A job delivering already knows its real cost; before that, the estimate stands in.
    row = db.execute(
        "SELECT COALESCE(SUM(COALESCE(total_cost_usd, expected_cost_usd, 0)), 0.0)"
        f" FROM jobs INDEXED BY jobs_in_flight_member WHERE {IN_FLIGHT_SQL} AND guild_id = ?",
        [guild_id],
    ).fetchone()
    return float(row[0])


def _ids(joined: str | None) -> tuple[int, ...]:
    """GROUP_CONCAT's comma-joined ids, sorted."""
    return tuple(sorted(int(part) for part in joined.split(","))) if joined else ()
