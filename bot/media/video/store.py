"""The clips the bot posted, kept on disk for a while so that they can be extended.

A stitched clip exists nowhere else at full quality (Discord may hold a compressed copy, and
Wiro only has the parts), and Wiro's own links expire. Each successful job's clip is kept here
as ``job-<id>.mp4`` for `keep`, and beside it, once decoded, its last frame as
``job-<id>.last.png`` (the first frame of an Extend; see `bot.media.video.last_frames`). Older ones
are removed by `prune` (at start-up and after each new clip), a frame together with its clip.
Files arrive by rename from the work directory (same file system: no copy); a frame is written
to a temporary file first and renamed, so a reader never sees half of one.

The disk is bounded by `cap_bytes` (`CLIP_STORE_MB`): it covers the kept clips, their last
frames, and the members' first-frame images that storage keeps as files in `frames_dir`
(`storage.frame_files`). After each keep (`trim`), the oldest kept clip or finished job's first
frame goes first until the total is under the cap; a first frame that a job in flight still
needs is counted but never removed. A clip bigger than the cap alone is not kept at all (an
Extend of it then says it is no longer stored). Pruning never fails a delivery: it runs after
the clip is posted, and a file it cannot remove is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import KW_ONLY, InitVar, dataclass, field
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_KEEP = timedelta(hours=72)
FRAME_SUFFIX = ".last.png"
# A frame being written: ".job-<id>.last.png.<random>.part" (removed at start-up if left over).
PART_GLOB = f".job-*{FRAME_SUFFIX}.*.part"


FramesInUse = Callable[[], Awaitable[Collection[Path]]]


@dataclass(frozen=True)
class _Kept:
    """One thing the cap may remove: a clip with its last frame, or a first-frame file."""

    files: tuple[Path, ...]
    size: int
    mtime: float


@dataclass(eq=False)
class ClipStore:
    """`job-<id>.mp4` files (and their `job-<id>.last.png`) in one directory, removed after
    `keep`, and oldest first beyond `cap_bytes` (counting the first frames in `frames_dir`)."""

    directory: Path
    _: KW_ONLY
    keep: InitVar[timedelta] = DEFAULT_KEEP
    cap_bytes: int | None = None
    frames_dir: Path | None = None
    frames_in_use: FramesInUse | None = field(default=None, repr=False)
    keep_for: timedelta = field(init=False)

    def __post_init__(self, keep: timedelta) -> None:
        self.keep_for = keep

    def path(self, job_id: int) -> Path:
        return self.directory / f"job-{job_id}.mp4"

    def frame_path(self, job_id: int) -> Path:
        return self.directory / f"job-{job_id}{FRAME_SUFFIX}"

    def get(self, job_id: int) -> Path | None:
        """The kept clip of a job, if it is still here."""
        path = self.path(job_id)
        return path if path.is_file() else None

    def over_cap(self, size: int | None) -> bool:
        """Whether a clip of `size` bytes alone is over the cap (so it would not be kept)."""
        return self.cap_bytes is not None and size is not None and size > self.cap_bytes

    def put(self, job_id: int, clip: Path) -> Path | None:
        """Move `clip` into the store as this job's clip (replacing an older one, and the last
        frame decoded from that one); None, leaving `clip` where it is, when it alone is over
        the cap."""
        size = clip.stat().st_size
        if self.over_cap(size):
            assert self.cap_bytes is not None
            log.info(
                "job=%s clip of %d MiB not kept: over the %d MiB cap of kept clips",
                job_id,
                size // 2**20,
                self.cap_bytes // 2**20,
            )
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(job_id)
        self.frame_path(job_id).unlink(missing_ok=True)
        try:
            os.replace(clip, target)
        except OSError:  # another file system: copy, then remove the source
            import shutil

            shutil.copyfile(clip, target)
            clip.unlink(missing_ok=True)
        os.utime(target)  # kept now: the cap removes what was kept longest ago first
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
        # The frame comes after the keep's trim: stay under the cap (clips only go here; the
        # next `trim` knows which first frames may go too).
        self._enforce_cap(None, None)
        return target

    def discard_last_frame(self, job_id: int) -> None:
        """Remove a job's stored last frame (a damaged one is decoded again next time)."""
        self.frame_path(job_id).unlink(missing_ok=True)

    def prune(
        self,
        now: float | None = None,
        *,
        frames_in_use: Collection[Path] | None = None,
        fresh_after: float | None = None,
    ) -> int:
        """Remove clips older than `keep`, each with its last frame, and frames whose clip is
        gone; then, beyond the cap, the oldest clips and first frames; return how many.

        First frames are removed for the cap only when `frames_in_use` says which ones jobs in
        flight need (`trim` asks storage), and never one written after `fresh_after`."""
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
        return removed + self._enforce_cap(frames_in_use, fresh_after)

    async def trim(self) -> int:
        """`prune` with the first frames jobs in flight still need left alone (call after each
        keep); return how many clips and frames were removed."""
        fresh_after = time.time()  # a frame saved from now on is not in the answer below
        in_use: frozenset[Path] | None = frozenset()
        if self.frames_in_use is not None:
            try:
                in_use = frozenset(await self.frames_in_use())
            except Exception as exc:  # the database closing at shutdown: clips only, then
                log.warning("could not ask which first frames are in use: %s", exc)
                in_use = None
        return await asyncio.to_thread(self.prune, frames_in_use=in_use, fresh_after=fresh_after)

    def _enforce_cap(
        self, frames_in_use: Collection[Path] | None, fresh_after: float | None
    ) -> int:
        """Remove the oldest clips and first frames until the total is under the cap."""
        if self.cap_bytes is None:
            return 0
        total, candidates = self._inventory(frames_in_use, fresh_after)
        removed = freed = 0
        for kept in sorted(candidates, key=lambda k: k.mtime):
            if total - freed <= self.cap_bytes:
                break
            try:
                for file in kept.files:
                    file.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove %s to stay under the cap: %s", kept.files[0], exc)
                continue
            freed += kept.size
            removed += 1
        if removed:
            log.info(
                "removed %d kept clips and first frames (%d MiB) to stay under the %d MiB cap",
                removed,
                freed // 2**20,
                self.cap_bytes // 2**20,
            )
        return removed

    def _inventory(
        self, frames_in_use: Collection[Path] | None, fresh_after: float | None
    ) -> tuple[int, list[_Kept]]:
        """Every byte the cap counts, and what it may remove (first frames only when it is
        known which ones are in use)."""
        total = 0
        candidates: list[_Kept] = []
        if self.directory.is_dir():
            for entry in os.scandir(self.directory):
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    total += info.st_size
                    if entry.name.startswith("job-") and entry.name.endswith(".mp4"):
                        clip = Path(entry.path)
                        frame = clip.with_name(clip.stem + FRAME_SUFFIX)
                        frame_size = frame.stat().st_size if frame.exists() else 0
                        candidates.append(
                            _Kept((clip, frame), info.st_size + frame_size, info.st_mtime)
                        )
        if self.frames_dir is not None and self.frames_dir.is_dir():
            for entry in os.scandir(self.frames_dir):
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    total += info.st_size
                    path = Path(entry.path)
                    fresh = fresh_after is not None and info.st_mtime >= fresh_after
                    if (
                        frames_in_use is not None
                        and path not in frames_in_use
                        and not fresh
                        and not entry.name.startswith(".")
                    ):
                        candidates.append(_Kept((path,), info.st_size, info.st_mtime))
        return total, candidates

    def remove_leftovers(self) -> int:
        """Delete frames a killed process was writing; return how many (call at start-up)."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        for part in self.directory.glob(PART_GLOB):
            part.unlink(missing_ok=True)
            removed += 1
        return removed
