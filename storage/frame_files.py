"""Where first-frame images live on disk: one file per job beside the database file.

A member's first frame is up to 20 MB; kept inside SQLite for a week it made the file grow by
gigabytes that it never gave back. Since schema version 8 the `frames` table keeps only what an
image is (type, name, size, how long it stays) and the bytes are in
``<database file>-frames/job-<id>.frame`` (``data/bot.sqlite3-frames/`` by default), written to a
temporary file and renamed, so a reader never sees half of one. The kept clips' size cap
(`CLIP_STORE_MB`, `bot.media.video.store`) counts these files too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FRAME_SUFFIX = ".frame"
# A frame being written: ".job-<id>.frame.<random>.part" (a killed process may leave one).
PART_GLOB = f".job-*{FRAME_SUFFIX}.*.part"


def frames_dir_for(database_path: Path) -> Path:
    """The directory of a database file's first-frame images (beside it, like its -wal)."""
    return database_path.with_name(database_path.name + "-frames")


def frame_path(directory: Path, job_id: int) -> Path:
    return directory / f"job-{job_id}{FRAME_SUFFIX}"


def write_frame(directory: Path, job_id: int, data: bytes) -> Path:
    """Write a job's frame atomically (temporary file, then rename); mode 0600 like the
    database, since it is a member's picture."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = frame_path(directory, job_id)
    part = directory / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def read_frame(directory: Path, job_id: int) -> bytes | None:
    """A job's frame, or None when its file is gone (expired, or evicted by the size cap)."""
    try:
        return frame_path(directory, job_id).read_bytes()
    except FileNotFoundError:
        return None


def remove_frame(directory: Path, job_id: int) -> None:
    with contextlib.suppress(OSError):  # gone already, or the disk refuses: the sweep retries
        frame_path(directory, job_id).unlink(missing_ok=True)
