"""Pacing Discord writes per channel: coalesced card edits (finals first) and new messages."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.jobs.contracts import CardExtras
from bot.jobs.outage import RetryPolicy
from cogs.cards.outage import describe, is_unavailable
from storage.models import Job

if TYPE_CHECKING:
    from cogs.cards.presenter import DiscordPresenter

log = logging.getLogger(__name__)

# Discord allows about 5 edits per 5 s per channel: one edit a second per channel. New messages
# have their own bucket (SendPacer); if Discord ever shares them, discord.py still waits on the
# rate-limit headers before sending, so the worst case is a short wait, not a 429.
EDIT_INTERVAL_SECONDS = 1.0
SEND_BURST = 5
SEND_WINDOW_SECONDS = 5.0  # Discord: about 5 new messages per 5 s per channel
SEND_MARGIN_SECONDS = 0.5  # for network jitter, which does not shrink with the window


@dataclass(frozen=True)
class Pacing:
    """The per-channel windows the bot keeps to; read when a CardEditor or SendPacer is built.

    The e2e harness sets `PACING` to a scaled copy (same shape, shorter windows) so that its
    Discord double, with its buckets scaled alike, checks the same behaviour in less time.
    """

    edit_interval: float = EDIT_INTERVAL_SECONDS
    send_burst: int = SEND_BURST
    send_period: float = SEND_WINDOW_SECONDS + SEND_MARGIN_SECONDS

    def scaled(self, factor: float) -> Pacing:
        """The same pacing for Discord windows multiplied by `factor` (the margin stays)."""
        return Pacing(
            self.edit_interval * factor,
            self.send_burst,
            (self.send_period - SEND_MARGIN_SECONDS) * factor + SEND_MARGIN_SECONDS,
        )


PACING = Pacing()


class Timer(Protocol):
    """Monotonic time and sleeping, injected so that tests can move time by hand."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealTimer:
    """`time.monotonic` and `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class _Pending:
    job: Job
    extras: CardExtras
    since: float
    not_before: float = 0.0  # a final state retried after an outage waits until then
    failures: int = 0
    first_failure: float | None = None


class CardEditor:
    """Coalesce card updates per message and pace them per channel, finals first.

    Only the latest state of each card is kept; one worker per channel sends at most one edit
    per `interval` seconds (default: `PACING.edit_interval`), choosing terminal states before
    progress updates, oldest first. A final state that Discord cannot take now (5xx, a dropped
    connection, an unusable 429) is tried again with backoff for `retry.window`, like the clip
    itself; a refused progress update is simply replaced by the next one.
    """

    def __init__(
        self,
        presenter: DiscordPresenter,
        interval: float | None = None,
        *,
        timer: Timer | None = None,
        retry: RetryPolicy | None = None,
    ):
        self._presenter = presenter
        self._interval = PACING.edit_interval if interval is None else interval
        self._timer = timer or RealTimer()
        self._retry = retry or RetryPolicy()
        self._wake: dict[int, asyncio.Event] = {}
        self._pending: dict[int, dict[int, _Pending]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._last_sent: dict[int, float] = {}
        self._closed = False

    def submit(self, job: Job, extras: CardExtras) -> None:
        if self._closed:
            return
        channel = self._pending.setdefault(job.channel_id, {})
        previous = channel.get(job.id)
        since = previous.since if previous else self._timer.monotonic()
        channel[job.id] = _Pending(job, extras, since)
        if job.channel_id in self._wake:
            self._wake[job.channel_id].set()  # a worker waiting out a retry delay takes it now
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
                queue = self._pending[channel_id]
                now = self._timer.monotonic()
                last = self._last_sent.get(channel_id)
                wait = 0.0 if last is None else last + self._interval - now
                ready = min(p.not_before for p in queue.values())
                if ready > now + max(wait, 0.0):
                    await self._wait_retry(channel_id, ready - now)  # only retries are queued
                    continue
                if wait > 0:
                    await self._timer.sleep(wait)
                queue = self._pending.get(channel_id, {})
                now = self._timer.monotonic()
                due = [k for k, p in queue.items() if p.not_before <= now]
                if not due:
                    continue
                job_id = min(due, key=lambda k: (not queue[k].job.is_terminal, queue[k].since))
                item = queue.pop(job_id)
                self._last_sent[channel_id] = self._timer.monotonic()
                try:
                    await self._presenter.edit_card(item.job, item.extras)
                except Exception as exc:
                    if not self._retry_later(channel_id, item, exc):
                        log.exception("job=%s card edit failed", item.job.id)
        finally:
            if not self._pending.get(channel_id):
                self._pending.pop(channel_id, None)
            self._workers.pop(channel_id, None)
            self._wake.pop(channel_id, None)

    async def _wait_retry(self, channel_id: int, seconds: float) -> None:
        """Sleep until a retry is due, or until a new state for this channel is submitted."""
        wake = self._wake.setdefault(channel_id, asyncio.Event())
        wake.clear()
        sleeper = asyncio.ensure_future(self._timer.sleep(seconds))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def _retry_later(self, channel_id: int, item: _Pending, exc: Exception) -> bool:
        """Queue a final state again after a "not now" from Discord; False if it is not one."""
        if not is_unavailable(exc):
            return False
        if not item.job.is_terminal:
            log.warning(
                "job=%s card update refused (%s); the next state replaces it",
                item.job.id,
                describe(exc),
            )
            return True
        queue = self._pending.setdefault(channel_id, {})
        if item.job.id in queue:
            return True  # a newer state of this card is already waiting
        now = self._timer.monotonic()
        first = item.first_failure if item.first_failure is not None else now
        if now - first >= self._retry.window.total_seconds():
            log.warning(
                "job=%s final card edit still refused after %d tries (%s); giving up",
                item.job.id,
                item.failures + 1,
                describe(exc),
            )
            return True
        pause = self._retry.delay(item.failures)
        log.warning(
            "job=%s final card edit refused (%s); trying again in %.1f s",
            item.job.id,
            describe(exc),
            pause,
        )
        item.failures += 1
        item.first_failure = first
        item.not_before = now + pause
        queue[item.job.id] = item
        return True

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

    def __init__(
        self,
        capacity: int | None = None,
        period: float | None = None,
        *,
        timer: Timer | None = None,
    ) -> None:
        self._capacity = PACING.send_burst if capacity is None else capacity
        period = PACING.send_period if period is None else period
        self._rate = self._capacity / period  # tokens per second
        self._timer = timer or RealTimer()
        self._buckets: dict[int, tuple[float, float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def acquire(self, channel_id: int) -> None:
        """Wait until a message may be sent in this channel, then take the token."""
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            now = self._timer.monotonic()
            tokens, updated = self._buckets.get(channel_id, (float(self._capacity), now))
            tokens = min(self._capacity, tokens + (now - updated) * self._rate)
            if tokens < 1:
                await self._timer.sleep((1 - tokens) / self._rate)
                now = self._timer.monotonic()
                tokens = 1.0
            self._buckets[channel_id] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle channels, keep memory flat
                idle = [c for c, (_, t) in self._buckets.items() if now - t > 60]
                for channel in idle:
                    self._buckets.pop(channel, None)
                    if channel != channel_id:
                        self._locks.pop(channel, None)
