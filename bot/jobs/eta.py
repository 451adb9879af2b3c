"""When a job will probably be done: the median of past runs, shown on the card as an ETA."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.catalogue import DEFAULT_MODEL, MODELS, get_model
from storage.api import Storage
from storage.models import Job, JobState

# Before any history exists: each model's setting says how long a run takes (bot/catalogue.py).
DEFAULT_ETA_SECONDS = {key: s.eta_seconds for key, s in get_model(DEFAULT_MODEL).settings.items()}
# An ETA is never shown in the past: a run slower than usual is "due in" at least this.
ETA_FLOOR = timedelta(seconds=30)
# Medians are re-read at most this often per (settings, server): cards update every second.
CACHE_SECONDS = 60.0


class EtaEstimator:
    """Estimate a job's end from the median duration of finished jobs with its settings."""

    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str, int, int], tuple[float, float | None]] = {}

    async def eta(self, job: Job) -> datetime | None:
        """When the job should be done (never in the past), or None once it is over."""
        if job.is_terminal:
            return None
        seconds = await self.seconds(job)
        now = self.clock()
        # Time at Wiro counts from submission; a job still in our local queue has not
        # started that clock yet. A run slower than usual shows "soon", never "ago".
        start = job.submitted_at or (
            now if job.state is JobState.WAITING else job.approved_at or job.created_at
        )
        return max(start + timedelta(seconds=seconds), now + ETA_FLOOR)

    async def seconds(self, job: Job) -> float:
        """Median duration of finished jobs of this model and settings (this server's, else
        all)."""
        key = (job.model, job.resolution, job.duration, job.guild_id)
        now = self._monotonic()
        cached = self._cache.get(key)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            median = await self.storage.median_duration_seconds(
                job.resolution, job.duration, job.guild_id, job.model
            )
            if median is None:
                median = await self.storage.median_duration_seconds(
                    job.resolution, job.duration, model=job.model
                )
            cached = (now, median)
            self._cache[key] = cached
        median = cached[1]
        if median is None:
            setting = MODELS.get(job.model, get_model(DEFAULT_MODEL)).settings.get(
                (job.resolution, job.duration)
            )
            median = setting.eta_seconds if setting else 180.0
        return median
