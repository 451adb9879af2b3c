"""Discord's global limit: at most 50 requests per second per bot token, kept before it is hit.

Discord answers the 51st request of a second with a global 429 (topics/rate-limits "Global Rate
Limit"), and 10,000 such answers (with 401 and 403) in 10 minutes ban the bot's IP for an hour.
discord.py only reacts to a global 429: every request already in flight gets one too. At 50 busy
channels the card editor alone sends about 50 edits a second (one per channel per second), so
the bot paces its own REST requests through aiohttp's request-start hook (discord.py's public
`http_trace` option): at most 45 start in any one second. Interaction responses and their
webhooks are not subject to the global limit ("Interaction endpoints are not bound to the bot's
Global Rate Limit") and are never delayed: the answer to a command does not wait behind edits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

LIMIT = 45  # requests in any one second: under Discord's 50, with room for network jitter
_EXEMPT = ("/interactions/", "/webhooks/")


def counts_against_global_limit(url: URL) -> bool:
    """Whether a request is one of the bot's own REST calls (not the gateway, the CDN, or an
    interaction's callback or webhook)."""
    path = url.path
    return "/api/v" in path and not any(part in path for part in _EXEMPT)


class GlobalPace:
    """At most `limit` of the bot's REST requests start in any `per` seconds (all routes).

    A sliding window over the times requests really started: a spacing computed in advance
    would let requests whose turns came while the event loop was busy all leave together."""

    def __init__(
        self,
        limit: int = LIMIT,
        per: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.per = per
        self._clock = clock
        self._sleep = sleep
        self._started: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.delayed = 0  # requests that had to wait (for logs and tests)

    async def acquire(self) -> float:
        """Wait for a place in the window; return the seconds waited."""
        asked = self._clock()
        async with self._lock:  # first come, first served
            while True:
                now = self._clock()
                while self._started and now - self._started[0] >= self.per:
                    self._started.popleft()
                if len(self._started) < self.limit:
                    break
                await self._sleep(self._started[0] + self.per - now)
            self._started.append(now)
        waited = now - asked
        self.delayed += waited > 0
        return waited

    def trace_config(self) -> aiohttp.TraceConfig:
        """The aiohttp hook to pass to discord.py as `http_trace`."""
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._on_request_start)
        return trace

    async def _on_request_start(
        self, session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        if counts_against_global_limit(params.url):
            await self.acquire()
