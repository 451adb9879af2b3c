"""Pacing Discord writes per channel: coalesced card edits (finals first) and new messages."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.jobs import CardExtras
from storage.models import Job

if TYPE_CHECKING:
    from cogs.cards.presenter import DiscordPresenter

log = logging.getLogger(__name__)

# Discord allows about 5 edits per 5 s per channel: one edit a second per channel. New messages
# have their own bucket (SendPacer); if Discord ever shares them, discord.py still waits on the
# rate-limit headers before sending, so the worst case is a short wait, not a 429.
EDIT_INTERVAL_SECONDS = 1.0


@dataclass
class _Pending:
    job: Job
    extras: CardExtras
    since: float = field(default_factory=time.monotonic)


class CardEditor:
    """Coalesce card updates per message and pace them per channel, finals first.

    Only the latest state of each card is kept; one worker per channel sends at most one edit
    per `interval` seconds, choosing terminal states before progress updates, oldest first.
    """

    def __init__(self, presenter: DiscordPresenter, interval: float = EDIT_INTERVAL_SECONDS):
        self._presenter = presenter
        self._interval = interval
        self._pending: dict[int, dict[int, _Pending]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._last_sent: dict[int, float] = {}
        self._closed = False

    def submit(self, job: Job, extras: CardExtras) -> None:
        if self._closed:
            return
        channel = self._pending.setdefault(job.channel_id, {})
        previous = channel.get(job.id)
        channel[job.id] = _Pending(job, extras, previous.since if previous else time.monotonic())
        worker = self._workers.get(job.channel_id)
        if worker is None or worker.done():
            self._workers[job.channel_id] = asyncio.get_running_loop().create_task(
                self._run(job.channel_id), name=f"card-editor-{job.channel_id}"
            )

    def pending_count(self) -> int:
        return sum(len(p) for p in self._pending.values())

    async def _run(self, channel_id: int) -> None:
        try:
            while self._pending.get(channel_id):
                wait = self._last_sent.get(channel_id, 0.0) + self._interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                queue = self._pending.get(channel_id)
                if not queue:
                    break
                job_id = min(queue, key=lambda k: (not queue[k].job.is_terminal, queue[k].since))
                item = queue.pop(job_id)
                self._last_sent[channel_id] = time.monotonic()
                try:
                    await self._presenter.edit_card(item.job, item.extras)
                except Exception:
                    log.exception("job=%s card edit failed", item.job.id)
        finally:
            if not self._pending.get(channel_id):
                self._pending.pop(channel_id, None)
            self._workers.pop(channel_id, None)

    async def flush(self, timeout: float = 3.0) -> None:
        """Give pending edits a bounded chance to go out (used at shutdown)."""
        workers = [w for w in self._workers.values() if not w.done()]
        if workers:
            await asyncio.wait(workers, timeout=timeout)
        self._closed = True
        for worker in self._workers.values():
            worker.cancel()


class SendPacer:
    """A token bucket per channel for new messages (cards, clips, reposted cards).

    Discord limits new messages to about 5 per 5 s per channel. discord.py learns a bucket only
    from the headers of earlier answers, so a burst of concurrent sends (20 members asking at
    once) can still meet a 429 before it knows. Taking a token here first keeps bursts of up to
    `capacity` instant and spaces the rest.
    """

    def __init__(self, capacity: int = 5, period: float = 5.5) -> None:
        self._capacity = capacity
        self._rate = capacity / period  # tokens per second
        self._buckets: dict[int, tuple[float, float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def acquire(self, channel_id: int) -> None:
        """Wait until a message may be sent in this channel, then take the token."""
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            tokens, updated = self._buckets.get(channel_id, (float(self._capacity), now))
            tokens = min(self._capacity, tokens + (now - updated) * self._rate)
            if tokens < 1:
                await asyncio.sleep((1 - tokens) / self._rate)
                now = time.monotonic()
                tokens = 1.0
            self._buckets[channel_id] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle channels, keep memory flat
                idle = [c for c, (_, t) in self._buckets.items() if now - t > 60]
                for channel in idle:
                    self._buckets.pop(channel, None)
                    if channel != channel_id:
                        self._locks.pop(channel, None)
