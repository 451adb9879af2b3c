"""The frames table: members' first-frame images, kept while a job or its re-roll needs them.

The row says what the image is and how long it stays; its bytes are a file beside the database
(`storage.frame_files`), so that a week of 20 MB images never bloats the database file. A row
whose file is gone (the size cap of kept media evicted it) reads as no frame at all.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.api import JobNotFound
from storage.compaction import reclaim_free_pages
from storage.frame_files import frame_path, frames_dir_for, read_frame, remove_frame, write_frame
from storage.models import StoredFrame
from storage.sqlite import SqliteBase, immediate, to_db_time, upsert

# A finished job's first frame stays this long for a re-roll, then goes.
FRAME_KEEP = timedelta(days=7)
# Well above the 20 MB accepted upload, for images re-encoded to PNG.
MAX_FRAME_BYTES = 64 * 1024 * 1024


class FrameTables(SqliteBase):
    """First-frame images, one per job."""

    @property
    def frames_dir(self) -> Path:
        """Where the images' files are: ``<database file>-frames/``."""
        return frames_dir_for(self.path)

    # --- first-frame images ------------------------------------------------------------------
    async def save_frame(self, job_id: int, data: bytes, content_type: str, filename: str) -> None:
        """Store a job's first-frame image (replaces an earlier one)."""
        if len(data) > MAX_FRAME_BYTES:
            raise ValueError(f"a first frame of {len(data)} bytes is too large to store")
        directory = self.frames_dir

        def work(db: SqliteUtilsDatabase) -> None:
            # Row and file together: a failed write (a full disk) rolls the row back, and the
            # file is written on this thread, so `frames_in_use` never misses a new one.
            with immediate(db):
                upsert(
                    db, "frames", {"job_id": job_id},
                    {"content_type": content_type, "filename": filename, "size": len(data),
                     "created_at": to_db_time(self._now()), "keep_until": None},
                )  # fmt: skip
                write_frame(directory, job_id, data)

        try:
            await self._run(work)
        except sqlite3.IntegrityError:
            raise JobNotFound(job_id) from None

    async def load_frame(self, job_id: int) -> StoredFrame | None:
        """The job's first frame as (data, content_type, filename), or None when gone."""
        directory = self.frames_dir

        def work(db: SqliteUtilsDatabase) -> StoredFrame | None:
            row = db.execute(
                "SELECT content_type, filename FROM frames WHERE job_id = ?", [job_id]
            ).fetchone()
            if row is None:
                return None
            data = read_frame(directory, job_id)
            return None if data is None else StoredFrame(data, row[0], row[1])

        return await self._run(work)

    async def delete_frame(self, job_id: int, *, keep_for_reroll: bool = False) -> None:
        """Drop a finished job's frame, or keep it FRAME_KEEP longer for a re-roll; either way
        frames whose keep time ran out are removed."""
        directory = self.frames_dir

        def work(db: SqliteUtilsDatabase) -> None:
            now = to_db_time(self._now())
            with immediate(db):
                if keep_for_reroll:
                    db.execute(
                        "UPDATE frames SET keep_until = ? WHERE job_id = ?",
                        [to_db_time(self._now() + FRAME_KEEP), job_id],
                    )
                    gone = []
                else:
                    gone = [job_id]
                    db.execute("DELETE FROM frames WHERE job_id = ?", [job_id])
                expired = db.execute(
                    "DELETE FROM frames WHERE keep_until IS NOT NULL AND keep_until < ?"
                    " RETURNING job_id",
                    [now],
                ).fetchall()
            # Files after the commit: a crash in between leaves a file without a row, which the
            # size cap evicts first-come like any frame not in use.
            for gone_id in [*gone, *(row[0] for row in expired)]:
                remove_frame(directory, gone_id)
            reclaim_free_pages(db.conn)

        await self._run(work)

    async def frames_in_use(self) -> frozenset[Path]:
        """The files of frames that jobs in flight still need (never evicted by the size cap).

        A finished job's frame (kept for a re-roll) is not among them."""
        directory = self.frames_dir

        def work(db: SqliteUtilsDatabase) -> frozenset[Path]:
            rows = db.execute("SELECT job_id FROM frames WHERE keep_until IS NULL").fetchall()
            return frozenset(frame_path(directory, row[0]) for row in rows)

        return await self._run(work)
