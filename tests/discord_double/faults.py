"""Opt-in, per-test faults: server errors, dropped connections and the shapes of 429 Discord sends.

A test scripts them on the double (`dd.fail(...)`, `dd.drop_connection(...)`,
`dd.rate_limit(...)`, `dd.cloudflare_ban(...)`); each fault matches calls by method and a glob on
the REST path (without `/api/v10`) and hits the next `times` matching calls, in the order added.
Without a scripted fault the double never fails a call on its own.

What each looks like on the wire, and why:
* 5xx: 500 is Discord's JSON `{"message": "500: Internal Server Error", "code": 0}`; 502, 503
  and 504 come from the proxies in front of the API as plain text or HTML (a 503 is Envoy's
  "upstream connect error or disconnect/reset before headers"). discord.py retries 500, 502, 504
  and 524 itself (`HTTPClient.request`) and raises `DiscordServerError` at once on a 503.
* A dropped connection: the request is processed (and a message stored, when `after=True`), then
  the socket is closed without an answer. The client sees a transport error and cannot know
  whether the message exists: a retry must carry the same `nonce` with `enforce_nonce`.
* 429 in Discord's shape ("Exceeding A Rate Limit", topics/rate-limits): a JSON body with
  `message`, `retry_after`, `global` and, for some limits, `code`; headers `Retry-After`,
  `X-RateLimit-Scope` (`user`, `global` or `shared`), `X-RateLimit-Global` for global ones, and
  `Via` (Discord's answers pass through Google's front end; discord.py treats a 429 without `Via`
  as a Cloudflare ban and raises instead of waiting).
* A Cloudflare ban ("Invalid Request Limit", topics/rate-limits): 429 with a plain-text body and
  no `Via`; discord.py raises `HTTPException` (status 429, no usable `retry_after`).
"""

from __future__ import annotations

import fnmatch
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

FaultKind = Literal["status", "drop", "rate_limit", "cloudflare"]
RateLimitScope = Literal["user", "global", "shared"]

_PROXY_BODIES = {
    502: ("text/html", "<html><head><title>502 Bad Gateway</title></head></html>"),
    503: (
        "text/plain",
        "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    ),
    504: ("text/html", "<html><head><title>504 Gateway Time-out</title></head></html>"),
    524: ("text/plain", "error code: 524"),
}


@dataclass
class Fault:
    """One scripted fault; `times` < 0 means every matching call until cleared."""

    kind: FaultKind
    method: str | None  # None: any method
    path: str  # fnmatch glob on the REST path, e.g. "/channels/*/messages"
    times: int = 1
    status: int = 503
    after: bool = True  # drop: after the handler ran (the message exists) or before it
    scope: RateLimitScope = "user"
    code: int | None = None
    retry_after: float = 0.05
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a call (and has hits left)."""
        if self.times >= 0 and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def response(self) -> web.Response:
        """The answer for a `status`, `rate_limit` or `cloudflare` fault."""
        if self.kind == "status":
            if self.status in _PROXY_BODIES:
                ctype, text = _PROXY_BODIES[self.status]
                return web.Response(status=self.status, text=text, content_type=ctype)
            error = {"message": f"{self.status}: Internal Server Error", "code": 0}
            return _json(error, self.status, {})
        if self.kind == "cloudflare":
            # Cloudflare's own page: no Via, not JSON (topics/rate-limits, "Invalid Request Limit").
            return web.Response(
                status=429,
                text="error code: 1015",
                content_type="text/plain",
                headers={"Retry-After": str(max(1, math.ceil(self.retry_after)))},
            )
        body: dict[str, Any] = {
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": self.scope == "global",
        }
        if self.code is not None:
            body["code"] = self.code
        headers = {
            "Retry-After": str(max(1, math.ceil(self.retry_after))),
            "X-RateLimit-Scope": self.scope,
            "Via": "1.1 google",
        }
        if self.scope == "global":
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                    "X-RateLimit-Bucket": "fault0000000000",
                }
            )
        return _json(body, 429, headers)


def _json(body: Any, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",  # exactly: discord.py compares the string
        headers=headers,
    )


class Faults:
    """The scripted faults of one double, consumed in the order they were added."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Script a fault; return it (its `hits` counts the calls it answered)."""
        self.pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault that applies to this call, counted as hit."""
        for fault in self.pending:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        """Remove every scripted fault."""
        self.pending.clear()
