"""Free disk space under the data directory, and the floor below which no new job starts.

A full disk makes every delivery fail (and SQLite refuse writes), so the bot stops taking new
videos while free space is under `MIN_FREE_DISK_MB`; jobs already running still finish, their
clip posted or at worst linked. The early check of every /video asks, so the answer is cached
for a few seconds: one `statvfs` per `ttl`, not one per command.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MIB = 1024 * 1024
CACHE_SECONDS = 5.0


def free_bytes_at(path: Path) -> int:
    """Free bytes (for this user) on the file system holding `path`, or its nearest existing
    parent (the data directory may not exist before the first start)."""
    probe = path.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass(frozen=True)
class DiskReading:
    """Free space at one moment, against the floor."""

    free_bytes: int
    floor_bytes: int

    @property
    def low(self) -> bool:
        return self.free_bytes < self.floor_bytes


@dataclass(eq=False)
class DiskSpace:
    """Free space on the data directory's disk, read at most once per `ttl` seconds."""

    path: Path
    floor_bytes: int
    _: KW_ONLY
    free_bytes: Callable[[Path], int] = field(default=free_bytes_at, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    ttl: float = CACHE_SECONDS
    _cached: tuple[float, int] | None = field(init=False, default=None, repr=False)
    _was_low: bool = field(init=False, default=False, repr=False)

    def reading(self) -> DiskReading | None:
        """Free space now (cached), or None when it cannot be read (then nothing is refused:
        a disk the bot cannot measure is one it cannot judge)."""
        now = self.monotonic()
        if self._cached is None or now - self._cached[0] >= self.ttl:
            try:
                free = self.free_bytes(self.path)
            except OSError as exc:
                log.warning("could not read the free disk space at %s: %s", self.path, exc)
                return None
            self._cached = (now, free)
        reading = DiskReading(self._cached[1], self.floor_bytes)
        self._note(reading)
        return reading

    def low(self) -> bool:
        """Whether free space is under the floor (a floor of 0 never is)."""
        if self.floor_bytes <= 0:
            return False
        reading = self.reading()
        return reading is not None and reading.low

    def _note(self, reading: DiskReading) -> None:
        # One line when the disk crosses the floor each way, for the operator reading the logs.
        if reading.low and not self._was_low:
            log.error(
                "disk nearly full: %d MiB free at %s, under MIN_FREE_DISK_MB=%d: new videos are "
                "refused until space is freed (jobs in flight still deliver)",
                reading.free_bytes // MIB,
                self.path,
                reading.floor_bytes // MIB,
            )
        elif self._was_low and not reading.low:
            log.info("disk space back above the floor (%d MiB free): new videos are taken again",
                     reading.free_bytes // MIB)  # fmt: skip
        self._was_low = reading.low
