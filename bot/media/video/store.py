"""The clips the bot posted, kept on disk for a while so that they can be extended.

A stitched clip exists nowhere else at full quality (Discord may hold a compressed copy, and
Wiro only has the parts), and Wiro's own links expire. Each successful job's clip is kept here
as ``job-<id>.mp4`` for `keep`, and beside it, once decoded, its last frame as
``job-<id>.last.png`` (the first frame of an Extend; see `bot.media.video.last_frames`). Older ones
are removed by `prune` (at start-up and after each new clip), a frame together with its clip.
Files arrive by rename from the work directory (same file system: no copy); a frame is written
to a temporary file first and renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_KEEP = timedelta(hours=72)
FRAME_SUFFIX = ".last.png"
# A frame being written: ".job-<id>.last.png.<random>.part" (removed at start-up if left over).
PART_GLOB = f".job-*{FRAME_SUFFIX}.*.part"


class ClipStore:
    """`job-<id>.mp4` files (and their `job-<id>.last.png`) in one directory, removed after
    `keep`."""

    def __init__(self, directory: Path, *, keep: timedelta = DEFAULT_KEEP) -> None:
        self.directory = directory
        self.keep_for = keep

    def path(self, job_id: int) -> Path:
        return self.directory / f"job-{job_id}.mp4"

    def frame_path(self, job_id: int) -> Path:
        return self.directory / f"job-{job_id}{FRAME_SUFFIX}"

    def get(self, job_id: int) -> Path | None:
        """The kept clip of a job, if it is still here."""
        path = self.path(job_id)
        return path if path.is_file() else None

    def put(self, job_id: int, clip: Path) -> Path:
        """Move `clip` into the store as this job's clip (replacing an older one, and the last
        frame decoded from that one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(job_id)
        self.frame_path(job_id).unlink(missing_ok=True)
        try:
            os.replace(clip, target)
        except OSError:  # another file system: copy, then remove the source
            import shutil

            shutil.copyfile(clip, target)
            clip.unlink(missing_ok=True)
        return target

    def last_frame(self, job_id: int) -> bytes | None:
        """The stored last frame (PNG) of a job's kept clip, if it was decoded and is here."""
        if self.get(job_id) is None:
            return None  # never a frame without its clip (pruned, or replaced)
        try:
            return self.frame_path(job_id).read_bytes()
        except FileNotFoundError:
            return None

    def put_last_frame(self, job_id: int, png: bytes) -> Path:
        """Store the last frame of a job's kept clip, atomically (temporary file + rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.frame_path(job_id)
        part = self.directory / f".{target.name}.{secrets.token_hex(4)}.part"
        try:
            part.write_bytes(png)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target

    def discard_last_frame(self, job_id: int) -> None:
        """Remove a job's stored last frame (a damaged one is decoded again next time)."""
        self.frame_path(job_id).unlink(missing_ok=True)

    def prune(self, now: float | None = None) -> int:
        """Remove clips older than `keep`, each with its last frame, and frames whose clip is
        gone; return how many clips."""
        if not self.directory.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - self.keep_for.total_seconds()
        removed = 0
        for clip in self.directory.glob("job-*.mp4"):
            with contextlib.suppress(OSError):
                if clip.stat().st_mtime < cutoff:
                    clip.unlink()
                    clip.with_name(clip.stem + FRAME_SUFFIX).unlink(missing_ok=True)
                    removed += 1
        for frame in self.directory.glob(f"job-*{FRAME_SUFFIX}"):
            clip = frame.with_name(frame.name.removesuffix(FRAME_SUFFIX) + ".mp4")
            if not clip.exists():
                with contextlib.suppress(OSError):
                    frame.unlink()
        if removed:
            log.info("removed %d kept clips older than %s", removed, self.keep_for)
        return removed

    def remove_leftovers(self) -> int:
        """Delete frames a killed process was writing; return how many (call at start-up)."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        for part in self.directory.glob(PART_GLOB):
            part.unlink(missing_ok=True)
            removed += 1
        return removed
