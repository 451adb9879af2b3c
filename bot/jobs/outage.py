"""Getting a paid clip (and its final card) to Discord through a passing outage.

Once Wiro has made a clip it has been paid for, so a post that fails because Discord had a bad
minute must not fail the job. The presenter raises `DiscordUnavailable` for failures that say
"not now" (a 5xx, a dropped or timed-out connection, a 429 whose headers give no usable wait);
`outlast()` then tries again with jittered exponential backoff until `RetryPolicy.window` has
passed, and only then gives up with `OutageOutlasted` so the caller can fall back (link the clip).
Anything else (missing permission, unknown channel, a refused body) is not retried here.

Why 15 minutes: Discord's API incidents that return 5xx are mostly over within minutes, and a
member watching a card that says "on its way" should get at least a link within a quarter of an
hour; Wiro's output links stay valid much longer than that, so the link fallback still works.
Retries reuse the message nonce with `enforce_nonce`, so a post that reached Discord before the
connection dropped is returned, not posted twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_WINDOW = timedelta(minutes=15)


class DiscordUnavailable(Exception):
    """Discord could not take the request right now; the same request may be sent again.

    It may even have been stored (a connection dropped after Discord saved the message), which
    is why clip posts carry a nonce."""


class OutageOutlasted(Exception):
    """Discord stayed unavailable for the whole retry window."""

    def __init__(self, last: DiscordUnavailable, attempts: int) -> None:
        super().__init__(f"still unavailable after {attempts} attempts: {last}")
        self.last = last
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry while Discord is unavailable."""

    window: timedelta = DEFAULT_WINDOW
    first_delay: float = 2.0  # seconds
    max_delay: float = 60.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before try `attempt + 2`: doubling, capped, with equal jitter.

        The cap is also a tenth of the window, so a short window still gets about ten tries."""
        cap = min(self.max_delay, self.window.total_seconds() / 10)
        base = min(cap, self.first_delay * 2 ** min(attempt, 30))
        return base / 2 + base / 2 * rng()


async def outlast(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[object]],
    on_unavailable: Callable[[int, DiscordUnavailable], Awaitable[None]] | None = None,
    what: str = "request",
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = log,
    since: datetime | None = None,
) -> T:
    """Run `operation` until it succeeds or Discord has been unavailable for `policy.window`.

    The window counts from `since` when given (an outage that began before a restart), else
    from now. `on_unavailable(attempt, exc)` runs after each failed try (attempt 0 first),
    before the wait: the job service uses it to tell the member the clip is on its way and to
    record when the outage began. Other exceptions propagate at once. Raises OutageOutlasted
    when the window is over (at the first failure if it already was)."""
    started = since or clock()
    attempt = 0
    while True:
        try:
            return await operation()
        except DiscordUnavailable as exc:
            waited = clock() - started
            if waited >= policy.window:
                logger.warning(
                    "%s: Discord still unavailable after %d tries over %s; giving up (%s)",
                    what,
                    attempt + 1,
                    waited,
                    exc,
                )
                raise OutageOutlasted(exc, attempt + 1) from exc
            left = (policy.window - waited).total_seconds()
            pause = min(policy.delay(attempt), max(left, 0.0))
            logger.warning(
                "%s: Discord unavailable (%s); try %d again in %.1f s",
                what,
                exc,
                attempt + 2,
                pause,
            )
            if on_unavailable is not None:
                await on_unavailable(attempt, exc)
            await sleep(pause)
            attempt += 1
