"""The frames table: members' first-frame images, kept while a job or its re-roll needs them."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.api import JobNotFound
from storage.models import StoredFrame
from storage.sqlite import SqliteBase, immediate, to_db_time

# A finished job's first frame stays this long for a re-roll, then goes (the file stays small).
FRAME_KEEP = timedelta(days=7)
# Well above the 20 MB accepted upload, for images re-encoded to PNG.
MAX_FRAME_BYTES = 64 * 1024 * 1024


class FrameTables(SqliteBase):
    """First-frame images, one per job."""

    # --- first-frame images ------------------------------------------------------------------
    async def save_frame(self, job_id: int, data: bytes, content_type: str, filename: str) -> None:
        """Store a job's first-frame image (replaces an earlier one)."""
        if len(data) > MAX_FRAME_BYTES:
            raise ValueError(f"a first frame of {len(data)} bytes is too large to store")

        def work(db: SqliteUtilsDatabase) -> None:
            db.execute(
                "INSERT INTO frames (job_id, data, content_type, filename, size, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                " data = excluded.data, content_type = excluded.content_type,"
                " filename = excluded.filename, size = excluded.size,"
                " created_at = excluded.created_at, keep_until = NULL",
                [job_id, sqlite3.Binary(data), content_type, filename, len(data),
                 to_db_time(self._now())],
            )  # fmt: skip

        try:
            await self._run(work)
        except sqlite3.IntegrityError:
            raise JobNotFound(job_id) from None

    async def load_frame(self, job_id: int) -> StoredFrame | None:
        """The job's first frame as (data, content_type, filename), or None when gone."""

        def work(db: SqliteUtilsDatabase) -> StoredFrame | None:
            row = db.execute(
                "SELECT data, content_type, filename FROM frames WHERE job_id = ?", [job_id]
            ).fetchone()
            return None if row is None else StoredFrame(bytes(row[0]), row[1], row[2])

        return await self._run(work)

    async def delete_frame(self, job_id: int, *, keep_for_reroll: bool = False) -> None:
        """Drop a finished job's frame, or keep it FRAME_KEEP longer for a re-roll; either way
        frames whose keep time ran out are removed."""

        def work(db: SqliteUtilsDatabase) -> None:
            now = self._now()
            with immediate(db):
                if keep_for_reroll:
                    db.execute(
                        "UPDATE frames SET keep_until = ? WHERE job_id = ?",
                        [to_db_time(now + FRAME_KEEP), job_id],
                    )
                else:
                    db.execute("DELETE FROM frames WHERE job_id = ?", [job_id])
                db.execute(
                    "DELETE FROM frames WHERE keep_until IS NOT NULL AND keep_until < ?",
                    [to_db_time(now)],
                )

        await self._run(work)
