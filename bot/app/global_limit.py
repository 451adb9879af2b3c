"""Discord's global limit: at most 50 requests per second per bot token, kept before it is hit.

Discord answers the 51st request of a second with a global 429 (topics/rate-limits "Global Rate
Limit"), and 10,000 such answers (with 401 and 403) in 10 minutes ban the bot's IP for an hour.
discord.py only reacts to a global 429: every request already in flight gets one too. At 50 busy
channels the card editor alone sends about 50 edits a second (one per channel per second), so
the bot paces its own REST requests through aiohttp's request-start hook (discord.py's public
`http_trace` option): one every 1/`rate` s. Interaction responses and their webhooks are not
subject to the global limit ("Interaction endpoints are not bound to the bot's Global Rate
Limit") and are never delayed: the 3-second answer to a command does not wait behind edits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

RATE_PER_S = 45.0  # under Discord's 50/s, with room for what a second's edge lets through
_EXEMPT = ("/interactions/", "/webhooks/")


def counts_against_global_limit(url: URL) -> bool:
    """Whether a request is one of the bot's own REST calls (not the gateway, the CDN, or an
    interaction's callback or webhook)."""
    path = url.path
    return "/api/v" in path and not any(part in path for part in _EXEMPT)


class GlobalPace:
    """Space the bot's REST requests at least 1/`rate` s apart (all routes together)."""

    def __init__(
        self,
        rate: float = RATE_PER_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gap = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0  # the earliest time the next request may start
        self.delayed = 0  # requests that had to wait (for logs and tests)

    async def acquire(self) -> float:
        """Take the next slot; return the seconds waited for it."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.gap  # reserved before sleeping: concurrent callers queue up
        wait = slot - now
        if wait > 0:
            self.delayed += 1
            await self._sleep(wait)
        return wait

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
