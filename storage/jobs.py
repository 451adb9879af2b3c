"""The jobs table: creating a job with its credit reservation, state transitions, queries."""

from __future__ import annotations

import logging
import statistics
from datetime import datetime
from typing import Any, Literal

from sqlite_utils import Database as SqliteUtilsDatabase

from storage import approvals
from storage.api import (
    FollowUpInFlight,
    IllegalTransition,
    JobNotFound,
    NewJob,
    ReservationCheck,
    ReservationRefused,
    UsageNumbers,
    UsageWindows,
)
from storage.approvals import Hold
from storage.ledger import charge_in, refund_in, sum_credits_used, sum_in_flight_usd, sum_spent_usd
from storage.migrations import IN_FLIGHT_SQL
from storage.models import (
    ALLOWED_TRANSITIONS,
    FollowUp,
    Job,
    JobState,
    Stage,
    follow_up_of,
)
from storage.sqlite import (
    SqliteBase,
    from_db_time,
    immediate,
    snapshot,
    sql_value,
    to_db_time,
)
from storage.studio import write_mod_action

log = logging.getLogger(__name__)

_JOB_FIELDS = tuple(Job.model_fields)
_JOB_DATETIMES = frozenset(
    {
        "card_posted_at",
        "created_at",
        "submitted_at",
        "run_sent_at",
        "started_at",
        "finished_at",
        "approved_at",
        "delivery_unavailable_since",
        "deleted_at",
        "updated_at",
    }
)
# Fields fixed at creation: changing them would detach a job from its ledger rows or owner.
_JOB_IMMUTABLE = frozenset({"id", "guild_id", "user_id", "credits", "created_at", "state"})
# card_pending moves only through transition(), request_card() and card_shown().
_JOB_UPDATABLE = frozenset(_JOB_FIELDS) - _JOB_IMMUTABLE - {"updated_at", "card_pending"}

# The column that names a follow-up's parent job, per kind (see storage.models.follow_up_of).
_FOLLOW_UP_SQL: dict[FollowUp, str] = {
    FollowUp.REROLL: "reroll_of = ?",
    FollowUp.REMAKE: "remake_of = ? AND reroll_of IS NULL",
    FollowUp.EXTEND: (
        "extends_job_id = ? AND reroll_of IS NULL AND remake_of IS NULL AND remix_of IS NULL"
    ),
}

# The card stage that matches a state, set by transition() unless the caller gives one.
_STAGE_FOR_STATE: dict[JobState, Stage] = {
    JobState.WAITING: Stage.WAITING,
    JobState.SUBMITTING: Stage.SUBMITTING,
    JobState.DELIVERING: Stage.DELIVERING,
    JobState.SUCCEEDED: Stage.DONE,
    JobState.FAILED: Stage.DONE,
    JobState.CANCELLED: Stage.DONE,
    JobState.TIMED_OUT: Stage.DONE,
}


def _job_from_row(row: dict[str, Any]) -> Job:
    data = {k: (from_db_time(v) if k in _JOB_DATETIMES else v) for k, v in row.items()}
    return Job.model_validate(data)


class JobTables(SqliteBase):
    """Jobs: each row is one /video run from reservation to its final state."""

    # --- jobs --------------------------------------------------------------------------------
    async def create_job_with_reservation(
        self,
        new: NewJob,
        *,
        windows: UsageWindows,
        check: ReservationCheck,
        now: datetime,
        hold: Hold | None = None,
    ) -> Job:
        """Read the usage numbers, let `check` decide, then insert the job and its reservation.

        All in one BEGIN IMMEDIATE transaction: two requests racing for the last credit see each
        other's reservation, never the same stale total. With `hold`, the job also waits for a
        moderator: its approvals row is written in the same transaction, so no restart can ever
        find it reserved but not held.

        A follow-up (Re-roll, Extend, Remake) is refused with FollowUpInFlight while one of
        the same kind of the same job is in flight: checked in the same transaction, so two
        clicks at once make one job."""
        stamp = to_db_time(now)
        follows = follow_up_of(new)
        draft = Job.model_validate(
            {
                "id": 0,
                "guild_id": new.guild_id,
                "channel_id": new.channel_id,
                "user_id": new.user_id,
                "prompt": new.prompt,
                "resolution": new.resolution,
                "duration": new.duration,
                "prompt_optimizer": new.prompt_optimizer,
                "has_image": new.has_image,
                "image_sha256": new.image_sha256,
                "image_url": new.image_url,
                "credits": new.credits,
                "upload_limit": new.upload_limit,
                "expected_cost_usd": new.expected_cost_usd,
                "reroll_of": new.reroll_of,
                "model": new.model,
                "camera": new.camera,
                "image_note": new.image_note,
                "source_url": new.source_url,
                "image_author_id": new.image_author_id,
                "extends_job_id": new.extends_job_id,
                "chain_seconds": new.chain_seconds,
                "remake_of": new.remake_of,
                "remix_of": new.remix_of,
                "style": new.style,
                "style_prompt": new.style_prompt,
                "created_at": now,
                "updated_at": now,
            }
        )
        row = {k: sql_value(v) for k, v in draft.model_dump().items() if k != "id"}

        def work(db: SqliteUtilsDatabase) -> Job:
            with immediate(db):
                if follows is not None:
                    # First: a double click hears "already on its way", not "limit reached".
                    sibling = _follow_up_in_flight(db, draft.guild_id, *follows)
                    if sibling is not None:
                        raise FollowUpInFlight(*follows, sibling)
                numbers = read_usage_numbers(db, draft.guild_id, draft.user_id, windows)
                refusal = check(numbers, draft.credits, draft.expected_cost_usd)
                if refusal is not None:
                    raise ReservationRefused(refusal)
                cols = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                cur = db.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", list(row.values()))
                job_id = cur.lastrowid
                db.execute(
                    "INSERT INTO ledger (guild_id, user_id, job_id, kind, credits, created_at)"
                    " VALUES (?, ?, ?, 'reserve', ?, ?)",
                    [draft.guild_id, draft.user_id, job_id, draft.credits, stamp],
                )
                if hold is not None:
                    assert job_id is not None
                    approvals.insert_waiting(
                        db, job_id=job_id, guild_id=draft.guild_id, user_id=draft.user_id,
                        review_channel_id=hold.review_channel_id, now=now,
                        expires_at=hold.expires_at,
                    )  # fmt: skip
            return draft.model_copy(update={"id": job_id})

        job = await self._run(work)
        log.info("job=%d created with %d credits reserved", job.id, job.credits)
        return job

    async def usage_numbers(
        self, guild_id: int, user_id: int, windows: UsageWindows
    ) -> UsageNumbers:
        """The numbers a reservation is checked against, read in one snapshot."""

        def work(db: SqliteUtilsDatabase) -> UsageNumbers:
            with snapshot(db):
                return read_usage_numbers(db, guild_id, user_id, windows)

        return await self._run(work)

    async def get_job(self, job_id: int) -> Job:
        """Return a job by id (JobNotFound if there is none)."""
        return await self._run(lambda db: _get_job(db, job_id))

    async def transition(
        self,
        job_id: int,
        to: JobState,
        *,
        settle: Literal["charge", "refund"] | None = None,
        settle_note: str | None = None,
        **fields: object,
    ) -> Job:
        """Move a job to `to` if ALLOWED_TRANSITIONS permits, setting `fields` and timestamps.

        `settle` also charges or refunds the job's reservation in the same transaction, so a
        crash can never leave a finished job with its credits neither charged nor refunded."""
        to = JobState(to)
        _check_fields(fields)

        def work(db: SqliteUtilsDatabase) -> Job:
            with immediate(db):
                current = _get_job(db, job_id)
                if to not in ALLOWED_TRANSITIONS[current.state]:
                    raise IllegalTransition(job_id, current.state, to)
                now = self._now()
                changes: dict[str, object] = {"state": to, "updated_at": now, **fields}
                # The card must show the new state: marked in the same transaction, so a crash
                # before the (paced) edit still leaves the mark for the next start.
                changes["card_pending"] = current.card_pending + 1
                if to is JobState.RUNNING:
                    changes.setdefault("submitted_at", current.submitted_at or now)
                if to.is_terminal:
                    changes.setdefault("finished_at", now)
                if to in _STAGE_FOR_STATE:
                    changes.setdefault("stage", _STAGE_FOR_STATE[to])
                job = _write_job(db, current, changes, expect_state=current.state)
                if settle == "charge":
                    charge_in(db, job_id, None, now)
                elif settle == "refund":
                    refund_in(db, job_id, settle_note, now)
                return job

        job = await self._run(work)
        settled = {"charge": " (charged)", "refund": " (refunded)"}.get(settle or "", "")
        log.info("job=%d is now %s%s", job_id, to.value, settled)
        return job

    async def update_job(self, job_id: int, **fields: object) -> Job:
        """Set non-state fields (stage, progress, card ids, task id/token, costs...)."""
        if "state" in fields:
            raise ValueError("use transition() to change a job's state")
        _check_fields(fields)
        if not fields:
            return await self.get_job(job_id)

        def work(db: SqliteUtilsDatabase) -> Job:
            with immediate(db):
                current = _get_job(db, job_id)
                return _write_job(db, current, {**fields, "updated_at": self._now()})

        return await self._run(work)

    async def follow_up_in_flight(self, kind: FollowUp, parent_id: int) -> int | None:
        """The id of a job in flight that follows up `parent_id` as `kind`, if any."""

        def work(db: SqliteUtilsDatabase) -> int | None:
            parent = _get_job(db, parent_id)
            return _follow_up_in_flight(db, parent.guild_id, kind, parent_id)

        return await self._run(work)

    # --- whether each card shows its job's latest state ---------------------------------------
    async def request_card(self, job_id: int) -> None:
        """Mark the job's card as not showing its latest state (state changes do it too)."""
        await self._run(
            lambda db: db.execute(
                "UPDATE jobs SET card_pending = card_pending + 1 WHERE id = ?", [job_id]
            )
        )

    async def card_shown(self, job_id: int, pending: int) -> bool:
        """The card shows the job as read with `card_pending == pending`: clear the mark,
        unless a newer change came since (it stays for the next edit). True when cleared."""
        if pending <= 0:
            return False
        sql = "UPDATE jobs SET card_pending = 0 WHERE id = ? AND card_pending = ?"
        return await self._run(lambda db: db.execute(sql, [job_id, pending]).rowcount == 1)

    async def stale_cards(self, since: datetime) -> list[Job]:
        """Posted cards still marked, of jobs changed since `since`, oldest change first."""
        sql = (
            "SELECT * FROM jobs INDEXED BY jobs_card_pending WHERE card_pending > 0"
            " AND updated_at >= ? AND card_message_id IS NOT NULL ORDER BY updated_at, id"
        )
        params = [to_db_time(since)]
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def forget_stale_cards(self, before: datetime) -> int:
        """Clear the marks of jobs unchanged since before `before` (given up); how many."""
        sql = "UPDATE jobs SET card_pending = 0 WHERE card_pending > 0 AND updated_at < ?"
        return await self._run(lambda db: db.execute(sql, [to_db_time(before)]).rowcount)

    async def jobs_in_flight(self, guild_id: int | None = None) -> list[Job]:
        """Jobs not in a terminal state, oldest first (all guilds when guild_id is None)."""
        # INDEXED BY: without ANALYZE statistics the planner prefers the full (guild_id,
        # created_at) index and walks every past job of the server; the partial one holds only
        # jobs in flight. It runs on every restart and must stay in milliseconds.
        if guild_id is None:
            sql = f"SELECT * FROM jobs INDEXED BY jobs_in_flight WHERE {IN_FLIGHT_SQL}"
            params: list[object] = []
        else:
            sql = (
                f"SELECT * FROM jobs INDEXED BY jobs_in_flight_guild WHERE {IN_FLIGHT_SQL}"
                " AND guild_id = ?"
            )
            params = [guild_id]
        sql += " ORDER BY created_at, id"
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def jobs_for_user(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        """A member's latest jobs, newest first."""
        sql = (
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        params = [guild_id, user_id, limit]
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def jobs_for_guild(
        self, guild_id: int, since: datetime | None = None, limit: int = 1000
    ) -> list[Job]:
        """A server's jobs created since `since` (all when None), newest first."""
        sql = "SELECT * FROM jobs WHERE guild_id = ?"
        params: list[object] = [guild_id]
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(to_db_time(since))
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return await self._run(lambda db: [_job_from_row(r) for r in db.query(sql, params)])

    async def count_in_flight(self, guild_id: int, user_id: int | None = None) -> int:
        """Count a server's (or one member's) jobs not yet in a terminal state."""
        return await self._run(lambda db: _count_in_flight(db, guild_id, user_id))

    async def median_duration_seconds(
        self,
        resolution: str,
        duration: int,
        guild_id: int | None = None,
        model: str = "hailuo-2.3",
    ) -> float | None:
        """Median (finished_at - created_at) of SUCCEEDED jobs of this model and settings
        (latest 200)."""
        # The WHERE repeats the partial index's "state = 'succeeded'" so the planner uses it.
        sql = (
            "SELECT created_at, finished_at FROM jobs WHERE state = 'succeeded'"
            " AND model = ? AND resolution = ? AND duration = ? AND finished_at IS NOT NULL"
        )
        params: list[object] = [model, resolution, duration]
        if guild_id is not None:
            sql += " AND guild_id = ?"
            params.append(guild_id)
        sql += " ORDER BY finished_at DESC LIMIT 200"

        def work(db: SqliteUtilsDatabase) -> float | None:
            spans = [
                (from_db_time(r["finished_at"]) - from_db_time(r["created_at"])).total_seconds()  # type: ignore[operator]
                for r in db.query(sql, params)
            ]
            return statistics.median(spans) if spans else None

        return await self._run(work)

    async def median_cost_usd(
        self, resolution: str, duration: int, model: str = "hailuo-2.3"
    ) -> float | None:
        """Median total_cost_usd of SUCCEEDED jobs of this model and settings (latest 200)."""
        sql = (
            "SELECT total_cost_usd FROM jobs WHERE state = 'succeeded'"
            " AND model = ? AND resolution = ? AND duration = ? AND total_cost_usd IS NOT NULL"
            " ORDER BY finished_at DESC LIMIT 200"
        )

        def work(db: SqliteUtilsDatabase) -> float | None:
            costs = [r["total_cost_usd"] for r in db.query(sql, [model, resolution, duration])]
            return float(statistics.median(costs)) if costs else None

        return await self._run(work)

    async def mark_deleted(self, job_id: int, actor_id: int) -> tuple[Job, bool]:
        """Record that `actor_id` deleted the job's clip, once: (the job, whether this call
        recorded it). The row stays, with its ledger rows: nothing is refunded. The deletion is
        in the moderators' log too (`job.delete`)."""

        def work(db: SqliteUtilsDatabase) -> tuple[Job, bool]:
            with immediate(db):
                job = _get_job(db, job_id)
                if job.deleted_at is not None:
                    return job, False
                now = self._now()
                job = _write_job(
                    db, job, {"deleted_at": now, "deleted_by": actor_id, "updated_at": now}
                )
                write_mod_action(
                    db,
                    job.guild_id,
                    actor_id,
                    "job.delete",
                    f"deleted the clip of job {job_id} (asked by user {job.user_id})",
                    now,
                )
            return job, True

        return await self._run(work)


def _get_job(db: SqliteUtilsDatabase, job_id: int) -> Job:
    row = next(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]), None)
    if row is None:
        raise JobNotFound(job_id)
    return _job_from_row(row)


def _follow_up_in_flight(
    db: SqliteUtilsDatabase, guild_id: int, kind: FollowUp, parent_id: int
) -> int | None:
    # A follow-up runs in its parent's server: the partial index of the server's jobs in
    # flight (a handful) keeps this inside the write lock in microseconds.
    sql = (
        f"SELECT id FROM jobs INDEXED BY jobs_in_flight_guild WHERE {IN_FLIGHT_SQL}"
        f" AND guild_id = ? AND {_FOLLOW_UP_SQL[kind]} ORDER BY id LIMIT 1"
    )
    row = db.execute(sql, [guild_id, parent_id]).fetchone()
    return None if row is None else int(row[0])


def _check_fields(fields: dict[str, object]) -> None:
    wrong = sorted(set(fields) - _JOB_UPDATABLE)
    if wrong:
        raise ValueError(f"cannot set job field(s) {', '.join(wrong)}")


def _write_job(
    db: SqliteUtilsDatabase,
    current: Job,
    changes: dict[str, object],
    *,
    expect_state: JobState | None = None,
) -> Job:
    # Validate the whole record before writing, so a bad value never reaches the table.
    updated = Job.model_validate({**current.model_dump(), **changes})
    values = {k: sql_value(getattr(updated, k)) for k in changes}
    sets = ", ".join(f"{k} = ?" for k in values)
    sql = f"UPDATE jobs SET {sets} WHERE id = ?"
    params = [*values.values(), current.id]
    if expect_state is not None:
        sql += " AND state = ?"
        params.append(expect_state.value)
    cur = db.execute(sql, params)
    if cur.rowcount != 1:  # cannot happen inside BEGIN IMMEDIATE; guards a future refactor
        raise RuntimeError(f"job {current.id} changed underneath an update")
    return updated


def _count_in_flight(db: SqliteUtilsDatabase, guild_id: int, user_id: int | None) -> int:
    # Runs inside the reservation's write lock: the partial index keeps it independent of how
    # many jobs the member ever ran (the planner would otherwise pick jobs_member_created).
    sql = f"SELECT COUNT(*) FROM jobs INDEXED BY jobs_in_flight_member WHERE {IN_FLIGHT_SQL}"
    sql += " AND guild_id = ?"
    params: list[object] = [guild_id]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    return int(db.execute(sql, params).fetchone()[0])


def read_usage_numbers(
    db: SqliteUtilsDatabase, guild_id: int, user_id: int, windows: UsageWindows
) -> UsageNumbers:
    """Read what a reservation is checked against (inside the caller's transaction)."""
    month_from, month_to = to_db_time(windows.month_start), to_db_time(windows.month_end)
    return UsageNumbers(
        credits_used=sum_credits_used(
            db,
            guild_id,
            user_id,
            to_db_time(windows.credits_start),
            to_db_time(windows.credits_end),
        ),
        member_in_flight=_count_in_flight(db, guild_id, user_id),
        guild_in_flight=_count_in_flight(db, guild_id, None),
        spent_usd=sum_spent_usd(db, guild_id, month_from, month_to),
        in_flight_usd=sum_in_flight_usd(db, guild_id),
    )
