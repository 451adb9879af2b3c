"""The one place that decides whether a Discord failure means "not now" (retry) or "no".

discord.py already retries 500, 502, 504 and 524 a few times and waits out 429s that carry
`Via` and a JSON `retry_after`. What reaches us after that is still often a passing outage:

- `DiscordServerError`: a 503 (raised at once), or a 5xx that outlasted discord.py's own tries;
- an `HTTPException` with status 429: a Cloudflare answer without `Via` or without a JSON body,
  so there is no usable wait in it ("Invalid Request Limit", topics/rate-limits);
- `RateLimited`: a wait longer than the client's `max_ratelimit_timeout`;
- transport errors (`aiohttp.ClientError`, timeouts, resets): the request may even have been
  stored, which is why clip posts carry a nonce with `enforce_nonce`.

Everything else (403 missing permission, 404 unknown channel, 400 refused body) is a "no".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import aiohttp
import discord

from bot.jobs.outage import DiscordUnavailable

UNKNOWN_MESSAGE = 10008  # also what a nonce of a since-deleted message gets (Create Message)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says Discord could not take the request right now (retry it later)."""
    if isinstance(exc, discord.RateLimited):
        return True
    if isinstance(exc, discord.HTTPException):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError)


@contextlib.contextmanager
def unavailable_as_retryable() -> Iterator[None]:
    """Turn a "not now" from Discord into `DiscordUnavailable`; let every other error through."""
    try:
        yield
    except DiscordUnavailable:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise DiscordUnavailable(describe(exc)) from exc
        raise


def describe(exc: BaseException) -> str:
    """A short description for logs (no request bodies, no tokens)."""
    if isinstance(exc, discord.HTTPException):
        return f"{exc.status} {exc.response.reason or ''} (code {exc.code})".strip()
    if isinstance(exc, discord.RateLimited):
        return f"rate limited for {exc.retry_after:.0f} s"
    return type(exc).__name__
