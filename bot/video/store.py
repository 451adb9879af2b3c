"""The clips the bot posted, kept on disk for a while so that they can be extended.

A stitched clip exists nowhere else at full quality (Discord may hold a compressed copy, and
Wiro only has the parts), and Wiro's own links expire. Each successful job's clip is kept here
as ``job-<id>.mp4`` for `keep`; older ones are removed by `prune` (at start-up and after each
new clip). Files arrive by rename from the work directory (same file system: no copy).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_KEEP = timedelta(hours=72)


class ClipStore:
    """`job-<id>.mp4` files in one directory, removed after `keep`."""

    def __init__(self, directory: Path, *, keep: timedelta = DEFAULT_KEEP) -> None:
        self.directory = directory
        self.keep_for = keep

    def path(self, job_id: int) -> Path:
        return self.directory / f"job-{job_id}.mp4"

    def get(self, job_id: int) -> Path | None:
        """The kept clip of a job, if it is still here."""
        path = self.path(job_id)
        return path if path.is_file() else None

    def put(self, job_id: int, clip: Path) -> Path:
        """Move `clip` into the store as this job's clip (replacing an older one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(job_id)
        try:
            os.replace(clip, target)
        except OSError:  # another file system: copy, then remove the source
            import shutil

            shutil.copyfile(clip, target)
            clip.unlink(missing_ok=True)
        return target

    def prune(self, now: float | None = None) -> int:
        """Remove clips older than `keep`; return how many."""
        if not self.directory.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - self.keep_for.total_seconds()
        removed = 0
        for clip in self.directory.glob("job-*.mp4"):
            with contextlib.suppress(OSError):
                if clip.stat().st_mtime < cutoff:
                    clip.unlink()
                    removed += 1
        if removed:
            log.info("removed %d kept clips older than %s", removed, self.keep_for)
        return removed
