"""The local queue: jobs that wait for a free Wiro slot, first come, first served.

The order lives in SQLite (jobs in the WAITING state, oldest first), so it survives a restart.
This class keeps what only matters while the process runs: until when Wiro said it is busy
(code 96 or a rate limit), and a wake-up for the waiters when a slot may have been freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from storage.api import Storage
from storage.models import JobState


class LocalQueue:
    """Who waits for Wiro, and when the head of the line may try again."""

    def __init__(
        self,
        storage: Storage,
        *,
        busy_retry_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.busy_retry_seconds = busy_retry_seconds
        self._monotonic = monotonic
        self._changed = asyncio.Event()
        self._busy_until = 0.0  # monotonic; while in the future, the queue holds

    async def waiting_ids(self) -> list[int]:
        """Ids of the jobs waiting in the local queue, first in line first."""
        return [j.id for j in await self.storage.jobs_in_flight() if j.state is JobState.WAITING]

    async def occupied(self, job_id: int) -> bool:
        """True when other jobs already wait (a new job goes behind them) or Wiro is busy."""
        others = any(i != job_id for i in await self.waiting_ids())
        return others or self._monotonic() < self._busy_until

    async def position(self, job_id: int) -> int:
        """The job's place in line, from 1."""
        waiting = await self.waiting_ids()
        return waiting.index(job_id) + 1 if job_id in waiting else 1

    def busy(self, retry_after: float | None) -> None:
        """Wiro answered "busy": hold the queue for a while (at least `busy_retry_seconds`)."""
        self._busy_until = self._monotonic() + max(self.busy_retry_seconds, retry_after or 0.0)

    def slot_freed(self) -> None:
        """Wiro accepted a Run or one of our tasks ended: the head of the line may try now."""
        self._busy_until = 0.0
        self._changed.set()

    def changed(self) -> None:
        """Something in the line changed (a job left it): wake the waiters to look again."""
        self._changed.set()

    def may_go(self, position: int) -> bool:
        """Whether the job at `position` may send its Run now."""
        return position == 1 and self._busy_until - self._monotonic() <= 0

    async def wait(self, position: int) -> None:
        """Wait until something changes, or until the head of the line may retry (bounded)."""
        wait = self._busy_until - self._monotonic()
        self._changed.clear()
        timeout = wait if position == 1 else self.busy_retry_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout=max(0.05, timeout))
