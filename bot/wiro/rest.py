"""Wiro's REST core: one signed POST, its envelope read into a body or one typed error, retries.

Every Wiro call goes through `WiroRest.call`: signed with a fresh nonce (or the key alone, or
nothing in the sandbox), the envelope parsed, errors mapped onto the `WiroError` family, and
only what may be retried (`retry=True`: reads, Cancel, Kill, File/Upload; never Run, which is
billed) retried, a bounded number of times, honouring a short `Retry-After`. Whether a failed
call may have reached Wiro is on the error it raises (`maybe_submitted`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.wiro.errors import (
    WiroAuthError,
    WiroConcurrencyLimit,
    WiroError,
    WiroInsufficientBalance,
    WiroNotFound,
    WiroPermissionError,
    WiroRateLimited,
    WiroServerError,
    WiroTransportError,
    WiroValidationError,
)
from bot.wiro.lenient import loose_float, loose_str
from bot.wiro.models import ErrorItem, parse_errors
from bot.wiro.signing import NonceSource, sign_headers

log = logging.getLogger(__name__)

MAX_TRIES = 3  # for retryable calls; Run is tried once
RETRY_BASE_SECONDS = 0.5
RETRY_MAX_SECONDS = 8.0
RETRY_AFTER_CAP_SECONDS = 30.0  # a longer Retry-After is raised to the caller, not slept through
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# code 0 messages that are about the request's parameters (docs/wiro-protocol.md "Errors").
_VALIDATION_HINTS = ("request parameter", "request files", "parameters are invalid", "must be")
_AUTH_HINTS = ("authorization", "signature", "is not allowed", "x-api-key")
_PERMISSION_HINTS = ("permission",)

FormField = tuple[str, str | bytes, str | None, str | None]  # name, value, filename, content type


def error_for(
    items: list[ErrorItem], status: int | None, *, retry_after: float | None = None
) -> WiroError:
    """Map Wiro's envelope (and HTTP status) onto one typed error."""
    first = items[0] if items else ErrorItem(code=None, message="")
    code, message = first.code, first.message or "Wiro refused the request"
    lowered = message.lower()
    if status == 429:
        return WiroRateLimited(message, code=code, status=status, retry_after=retry_after)
    if status in (401, 403) or code in (98, 99):
        return WiroAuthError(message, code=code, status=status)
    if code == 96:
        return WiroConcurrencyLimit(message, code=code, status=status)
    if code == 97:
        return WiroInsufficientBalance(message, code=code, status=status)
    if code == 1 or status == 404:
        return WiroNotFound(message, code=code, status=status)
    if status in (400, 422):
        return WiroValidationError(message, code=code, status=status)
    if status is not None and status >= 500:
        return WiroServerError(message, code=code, status=status)
    if any(hint in lowered for hint in _PERMISSION_HINTS):
        return WiroPermissionError(message, code=code, status=status)
    if any(hint in lowered for hint in _AUTH_HINTS):
        return WiroAuthError(message, code=code, status=status)
    if any(hint in lowered for hint in _VALIDATION_HINTS):
        return WiroValidationError(message, code=code, status=status)
    return WiroServerError(message, code=code, status=status)


def _retry_after(headers: Any) -> float | None:
    value = loose_float(headers.get("Retry-After")) if headers is not None else None
    return max(0.0, value) if value is not None else None


def backoff(attempt: int) -> float:
    """Return the jittered delay before retry number `attempt + 1`."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**attempt) * random.uniform(0.5, 1.5)


def _recorded_request(json_body: dict[str, Any] | None, form: list[FormField] | None) -> Any:
    if form is None:
        return json_body or {}
    # File bytes are never recorded: only their size and type.
    return {
        name: (f"<file {len(value)} bytes {ctype}>" if filename else value)
        for name, value, filename, ctype in form
    }


@dataclass(kw_only=True, eq=False)
class WiroRest:
    """Signed REST calls to one Wiro account; `record` is handed every exchange."""

    api_key: str | None = field(repr=False)
    api_secret: str | None = field(repr=False)
    api_base: str
    request_timeout: float
    session: Callable[[], aiohttp.ClientSession] = field(repr=False)
    record: Callable[[dict[str, Any]], None] = field(repr=False)
    # Shared by every client of the same account, so nonces stay unique and increasing.
    nonces: NonceSource = field(init=False, repr=False, default_factory=NonceSource)

    def _headers(self) -> dict[str, str]:
        if self.api_key is None:
            return {}  # sandbox / no credentials: Wiro's simulator accepts unsigned calls
        if self.api_secret is None:
            # "API Key Only" projects (docs/wiro-protocol.md "Auth").
            return {"x-api-key": self.api_key}
        return sign_headers(self.api_key, self.api_secret, self.nonces.next())

    async def call(
        self,
        path: str,
        json: dict[str, Any] | None = None,
        form: list[FormField] | None = None,
        *,
        retry: bool,
    ) -> dict[str, Any]:
        """POST one signed call, parse the envelope and return it, or raise a typed error."""
        tries = MAX_TRIES if retry else 1
        for attempt in range(tries):
            try:
                return await self._call_once(path, json, form, is_run=path.startswith("/Run/"))
            except (WiroTransportError, WiroServerError, WiroRateLimited) as exc:
                retryable = isinstance(exc, WiroTransportError) or exc.status in RETRYABLE_STATUSES
                if not retry or not retryable or attempt == tries - 1:
                    raise
                delay = backoff(attempt)
                if isinstance(exc, WiroRateLimited) and exc.retry_after is not None:
                    if exc.retry_after > RETRY_AFTER_CAP_SECONDS:
                        raise
                    delay = max(delay, exc.retry_after)
                log.info("%s failed (%s); retry %d in %.1fs", path, exc, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_once(
        self,
        path: str,
        json_body: dict[str, Any] | None,
        form: list[FormField] | None,
        *,
        is_run: bool,
    ) -> dict[str, Any]:
        url = self.api_base + path
        kwargs: dict[str, Any] = {
            "headers": self._headers(),
            "timeout": aiohttp.ClientTimeout(total=self.request_timeout),
        }
        if form is not None:
            data = aiohttp.FormData()
            for name, value, filename, content_type in form:
                data.add_field(name, value, filename=filename, content_type=content_type)
            kwargs["data"] = data
        else:
            kwargs["json"] = json_body or {}
        try:
            async with self.session().post(url, **kwargs) as resp:
                status = resp.status
                raw = await resp.read()
                headers = resp.headers
        except aiohttp.ClientConnectorError as exc:
            # The connection never opened, so nothing reached Wiro.
            self._trace(path, json_body, form, error=type(exc).__name__)
            raise WiroTransportError(f"cannot connect to Wiro ({type(exc).__name__})") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._trace(path, json_body, form, error=type(exc).__name__)
            raise WiroTransportError(
                f"{path}: connection failed ({type(exc).__name__})", maybe_submitted=is_run
            ) from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._trace(
            path, json_body, form, status=status, body=body if body is not None else raw[:2000]
        )
        if not isinstance(body, dict):
            if status in (401, 403):
                raise WiroAuthError("Wiro refused the credentials", status=status)
            if status == 429:
                raise WiroRateLimited(
                    "Wiro is rate limiting", status=status, retry_after=_retry_after(headers)
                )
            if status >= 500 and not is_run:
                raise WiroServerError(f"{path}: Wiro answered HTTP {status}", status=status)
            # A gateway page after a Run: the task may or may not exist at Wiro.
            raise WiroTransportError(
                f"{path}: Wiro answered HTTP {status} without JSON",
                status=status,
                maybe_submitted=is_run,
            )
        ok = body.get("result") is True or loose_str(body.get("result")).lower() in ("true", "1")
        if ok and status < 400:
            return body
        if status < 400 and not parse_errors(body) and "result" not in body:
            return body  # no envelope at all (seen in some endpoints); trust the 2xx
        raise error_for(parse_errors(body), status, retry_after=_retry_after(headers))

    def _trace(
        self,
        path: str,
        json_body: dict[str, Any] | None,
        form: list[FormField] | None,
        **answer: Any,
    ) -> None:
        if isinstance(answer.get("body"), bytes):
            answer["body"] = answer["body"].decode("utf-8", "replace")
        sent = _recorded_request(json_body, form)
        self.record({"kind": "rest", "path": path, "request": sent, **answer})
