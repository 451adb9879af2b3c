"""The Wiro client: signed REST calls, typed errors, the endpoints, safe downloads.

Never imports discord. One `WiroClient` per process; it owns at most one websocket, shared by
every task it follows. This module holds the REST core (`_request`: signing, the envelope,
mapping errors, bounded retries), the endpoints (Tool/Detail, Run, Task/Detail, Cancel, Kill)
and downloads. Following a task and the stop loop live in `following.py`, the shared websocket
in `socket_hub.py`; `follow` and `stop` here hand over to them. The protocol it speaks is
written down in docs/wiro-protocol.md; the guesses it still makes are listed in
docs/wiro-assumptions.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.wiro import following
from bot.wiro.errors import (
    DownloadRefused,
    WiroAuthError,
    WiroConcurrencyLimit,
    WiroError,
    WiroInsufficientBalance,
    WiroNotFound,
    WiroPermissionError,
    WiroRateLimited,
    WiroSchemaUnavailable,
    WiroServerError,
    WiroTransportError,
    WiroValidationError,
)
from bot.wiro.lenient import loose_float, loose_str
from bot.wiro.models import (
    ErrorItem,
    RunAccepted,
    StageUpdate,
    TaskDetail,
    TaskOutcome,
    parse_errors,
)
from bot.wiro.schema import ToolInfo
from bot.wiro.signing import NonceSource, sign_headers
from bot.wiro.socket_hub import SocketHub

log = logging.getLogger(__name__)

MAX_TRIES = 3  # for retryable calls; Run is tried once
POLL_SECONDS = (
    10.0  # Task/Detail pace while the socket is silent (a client's poll_interval default)
)
SCHEMA_TIMEOUT_SECONDS = 10.0  # Tool/Detail at start-up, and again before an image run if needed
RETRY_BASE_SECONDS = 0.5
RETRY_MAX_SECONDS = 8.0
RETRY_AFTER_CAP_SECONDS = 30.0  # a longer Retry-After is raised to the caller, not slept through
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DOWNLOAD_CHUNK = 64 * 1024
MAX_REDIRECTS = 3
# Tool/Detail is asked again in the background at this pace until it names the image field.
SCHEMA_RETRY_SECONDS = 30.0
SCHEMA_INLINE_TIMEOUT_SECONDS = 5.0  # one quick extra try before refusing an image run
# After Wiro refuses File/Upload (a July 2026 repro saw "invalid-parameters" under signature auth),
# image runs send their bytes in the Run itself for this long before File/Upload is tried again.
UPLOAD_REFUSED_SECONDS = 15 * 60
# Image field types a Run may name by URL (docs/wiro-protocol.md "Inputs").
URL_FIELD_TYPES = frozenset({"fileinput", "combinefileinput"})
# Kill takes either body; one official client sends a third. A refusal of one form tries the next.
KILL_KEYS = ("taskid", "socketaccesstoken", "tasktoken")
# Task/Detail's "no such task" wordings: code 1 "There is no task yet.", or "task-not-founded".
_NOT_FOUND_HINTS = ("no task", "not-found", "not found", "not-exist", "not exist")

# code 0 messages that are about the request's parameters (docs/wiro-protocol.md "Errors").
_VALIDATION_HINTS = ("request parameter", "request files", "parameters are invalid", "must be")
_AUTH_HINTS = ("authorization", "signature", "is not allowed", "x-api-key")
_PERMISSION_HINTS = ("permission",)

Trace = Callable[[dict[str, Any]], None]

FormField = tuple[str, str | bytes, str | None, str | None]  # name, value, filename, content type


def _error_for(
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


def _backoff(attempt: int) -> float:
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**attempt) * random.uniform(0.5, 1.5)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WiroClient:
    """Talk to Wiro for one model: submit runs, follow them, stop them, fetch their clips."""

    def __init__(
        self,
        *,
        api_key: str | None,
        api_secret: str | None,
        api_base: str,
        socket_url: str,
        output_hosts: tuple[str, ...],
        owner: str = "minimax",
        project: str = "hailuo-2-3",
        session: aiohttp.ClientSession | None = None,
        poll_interval: float | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        self._api_key = api_key or None
        self._api_secret = api_secret or None
        self.api_base = api_base.rstrip("/")
        self.socket_url = socket_url
        self.output_hosts = tuple(h.strip().lower().lstrip(".") for h in output_hosts if h.strip())
        self.owner = owner
        self.project = project
        self.poll_interval = POLL_SECONDS if poll_interval is None else poll_interval
        self.request_timeout = request_timeout
        # A download may trickle; this bounds the whole transfer, not just each read.
        self.download_timeout = 600.0
        self.tool: ToolInfo = ToolInfo.fallback()
        self._session = session
        self._owns_session = session is None
        self._nonces = NonceSource()
        self._hub = SocketHub(self)
        self._schema_refresh: asyncio.Task[None] | None = None
        # Image runs whose Task/Detail `parameters` are still to be checked for the image field.
        self._image_runs: dict[str, str] = {}
        # Called with every REST exchange and socket frame (doctor --live records them).
        self.trace: Trace | None = None
        self.detail_calls = 0  # Task/Detail requests made, for the benchmark and tests
        # Clients for the other models of the same account (for_project), and this one's owner.
        self._siblings: dict[str, WiroClient] = {}
        self._parent: WiroClient | None = None
        self._uploads_refused_until = 0.0  # loop time; see UPLOAD_REFUSED_SECONDS

    def __repr__(self) -> str:
        return f"WiroClient(api_base={self.api_base!r}, signed={self._api_key is not None})"

    # ------------------------------------------------------------ lifecycle

    @property
    def session(self) -> aiohttp.ClientSession:
        """Return the HTTP session (start() must have run)."""
        if self._parent is not None:
            return self._parent.session
        if self._session is None or self._session.closed:
            raise RuntimeError("WiroClient.start() has not been called")
        return self._session

    async def start(self) -> None:
        """Open the HTTP session if needed and read the model schema (best effort)."""
        if self._parent is None and (self._session is None or self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        try:
            # Bounded: an unreachable Wiro must not hold up the bot's start (and Discord).
            async with asyncio.timeout(SCHEMA_TIMEOUT_SECONDS):
                await self.tool_detail()
        except (TimeoutError, WiroError) as exc:
            log.warning(
                "Tool/Detail failed (%s); text runs work, image runs are refused until it "
                "answers (asking again every %.0f s)",
                exc or type(exc).__name__,
                SCHEMA_RETRY_SECONDS,
            )
        if self.tool.from_fallback:
            self.refresh_schema_soon()

    def refresh_schema_soon(self) -> None:
        """Keep asking Tool/Detail in the background until it names the image field."""
        if self._schema_refresh is None or self._schema_refresh.done():
            self._schema_refresh = asyncio.get_running_loop().create_task(
                self._refresh_schema(), name="wiro-schema"
            )

    async def _refresh_schema(self) -> None:
        while self.tool.from_fallback:
            await asyncio.sleep(SCHEMA_RETRY_SECONDS)
            try:
                async with asyncio.timeout(SCHEMA_TIMEOUT_SECONDS):
                    await self.tool_detail()
            except (TimeoutError, WiroError) as exc:
                log.info("Tool/Detail still unreadable (%s)", exc or type(exc).__name__)
        log.info("Tool/Detail answered: image runs are accepted again")

    async def close(self) -> None:
        """Close the websocket and, if this client opened it, the HTTP session."""
        refresh, self._schema_refresh = self._schema_refresh, None
        if refresh is not None:
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await refresh
        for sibling in self._siblings.values():
            await sibling.close()
        if self._parent is not None:
            return  # the session and the websocket belong to the parent
        await self._hub.close()
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None if self._owns_session else self._session

    def for_project(self, project: str) -> WiroClient:
        """The client for another model of the same Wiro account (e.g. ``hailuo-2-3-fast``).

        It runs that slug with that slug's own Tool/Detail schema and prices (read by its
        `start()`), and shares this client's HTTP session, nonce source (so nonces stay unique
        and increasing across both) and websocket."""
        if project == self.project:
            return self
        sibling = self._siblings.get(project)
        if sibling is None:
            sibling = WiroClient(
                api_key=self._api_key,
                api_secret=self._api_secret,
                api_base=self.api_base,
                socket_url=self.socket_url,
                output_hosts=self.output_hosts,
                owner=self.owner,
                project=project,
                poll_interval=self.poll_interval,
                request_timeout=self.request_timeout,
            )
            sibling._parent = self
            sibling._owns_session = False
            sibling._nonces = self._nonces
            sibling._hub = self._hub
            sibling.download_timeout = self.download_timeout
            self._siblings[project] = sibling
        return sibling

    # ------------------------------------------------------------ REST core

    def _headers(self) -> dict[str, str]:
        if self._api_key is None:
            return {}  # sandbox / no credentials: Wiro's simulator accepts unsigned calls
        if self._api_secret is None:
            # "API Key Only" projects (docs/wiro-protocol.md "Auth").
            return {"x-api-key": self._api_key}
        return sign_headers(self._api_key, self._api_secret, self._nonces.next())

    async def _request(
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
                return await self._request_once(path, json, form, is_run=path.startswith("/Run/"))
            except (WiroTransportError, WiroServerError, WiroRateLimited) as exc:
                retryable = isinstance(exc, WiroTransportError) or exc.status in RETRYABLE_STATUSES
                if not retry or not retryable or attempt == tries - 1:
                    raise
                delay = _backoff(attempt)
                if isinstance(exc, WiroRateLimited) and exc.retry_after is not None:
                    if exc.retry_after > RETRY_AFTER_CAP_SECONDS:
                        raise
                    delay = max(delay, exc.retry_after)
                log.info("%s failed (%s); retry %d in %.1fs", path, exc, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request_once(
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
        if path == "/Task/Detail":
            self.detail_calls += 1
        try:
            async with self.session.post(url, **kwargs) as resp:
                status = resp.status
                raw = await resp.read()
                headers = resp.headers
        except aiohttp.ClientConnectorError as exc:
            # The connection never opened, so nothing reached Wiro.
            self._trace_rest(path, json_body, form, error=type(exc).__name__)
            raise WiroTransportError(f"cannot connect to Wiro ({type(exc).__name__})") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._trace_rest(path, json_body, form, error=type(exc).__name__)
            raise WiroTransportError(
                f"{path}: connection failed ({type(exc).__name__})", maybe_submitted=is_run
            ) from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._trace_rest(
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
        raise _error_for(parse_errors(body), status, retry_after=_retry_after(headers))

    def _trace_rest(
        self,
        path: str,
        json_body: dict[str, Any] | None,
        form: list[FormField] | None,
        **answer: Any,
    ) -> None:
        if self.trace is None:
            return
        if form is not None:
            # File bytes are never recorded: only their size and type.
            sent: Any = {
                name: (f"<file {len(value)} bytes {ctype}>" if filename else value)
                for name, value, filename, ctype in form
            }
        else:
            sent = json_body or {}
        if isinstance(answer.get("body"), bytes):
            answer["body"] = answer["body"].decode("utf-8", "replace")
        with contextlib.suppress(Exception):  # a recorder must never break a call
            self.trace({"kind": "rest", "path": path, "request": sent, **answer})

    def trace_event(self, record: dict[str, Any]) -> None:
        """Hand one socket or download event to the recorder, if any."""
        if self.trace is not None:
            with contextlib.suppress(Exception):
                self.trace(record)

    # ------------------------------------------------------------ endpoints

    async def tool_detail(self) -> ToolInfo:
        """Read the model schema and prices from Tool/Detail and cache them on `tool`."""
        body = await self._request(
            "/Tool/Detail", {"slugowner": self.owner, "slugproject": self.project}, retry=True
        )
        self.tool = ToolInfo.from_body(body)
        if self.tool.from_fallback:
            log.warning(
                "Tool/Detail answered without a file field (parameters missing or null): image "
                "runs are refused until it names one"
            )
            return self.tool
        log.info(
            "Tool/Detail: image field %s (%s), resolutions %s, durations %s, %d price tiers",
            self.tool.image_field_id,
            self.tool.image_field_type,
            ",".join(self.tool.resolutions),
            ",".join(self.tool.durations),
            len(self.tool.prices),
        )
        return self.tool

    def uploads_first(self) -> bool:
        """Whether an image run should upload its first frame before the Run (see `upload`).

        Not while Wiro's last File/Upload refusal is recent, not before Tool/Detail named the
        image field (`run` asks it once more, with the bytes), and not for a field type that
        Wiro's docs do not say takes a URL (multifileinput)."""
        refused_until = (self._parent or self)._uploads_refused_until  # one account, one answer
        return self._url_field() and asyncio.get_running_loop().time() >= refused_until

    def _url_field(self) -> bool:
        return not self.tool.from_fallback and self.tool.image_field_type in URL_FIELD_TYPES

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """Put a file in Wiro's storage (File/Upload) and return its URL, for a Run to name.

        Not billed, so it is retried like a read. Uploading the first frame first keeps the
        Run itself small (a JSON body, sub-second), which shrinks the window in which a crash
        or a stop leaves a task at Wiro whose id the bot never learned. A refusal by Wiro (not
        a broken connection) turns uploads off for UPLOAD_REFUSED_SECONDS; the caller then
        sends the bytes in the Run, as before (and only for that job after an outage)."""
        try:
            body = await self._request(
                "/File/Upload", form=[("file", data, filename, content_type)], retry=True
            )
        except (WiroTransportError, WiroRateLimited):
            raise
        except WiroError as exc:
            if exc.status is None or exc.status < 500:  # Wiro's answer, not a passing outage
                owner = self._parent or self
                owner._uploads_refused_until = (
                    asyncio.get_running_loop().time() + UPLOAD_REFUSED_SECONDS
                )
            raise
        items = body.get("list")
        first = items[0] if isinstance(items, list) and items else None
        url = loose_str(first.get("url")) if isinstance(first, dict) else ""
        if not url:
            raise WiroServerError("File/Upload answered without a file URL", status=200)
        log.info("uploaded %s (%d bytes) to Wiro's storage", filename, len(data))
        return url

    async def run(
        self,
        *,
        prompt: str,
        resolution: str,
        duration: int,
        prompt_optimizer: bool,
        image: bytes | None = None,
        image_filename: str = "first-frame.png",
        image_content_type: str = "image/png",
        image_url: str | None = None,
    ) -> RunAccepted:
        """Submit one run (billed; never retried) and return its task id and token.

        The first frame goes either as bytes (`image`, a multipart Run) or as the URL of a file
        already uploaded (`image_url`, from `upload`: a small JSON Run)."""
        if image is not None and image_url is not None:
            raise ValueError("run() takes the image as bytes or as a URL, not both")
        fields: dict[str, Any] = {
            "prompt": prompt,
            "resolution": resolution,
            "duration": str(duration),
            "promptOptimizer": "true" if prompt_optimizer else "false",
        }
        path = f"/Run/{self.owner}/{self.project}"
        has_image = image is not None or image_url is not None
        if has_image and self.tool.from_fallback:
            # Never spend on a guess: a wrong field name may be ignored by Wiro, which then
            # bills a text-only clip (docs/wiro-protocol.md "Inputs"). One quick try, then no.
            with contextlib.suppress(TimeoutError, WiroError):
                async with asyncio.timeout(SCHEMA_INLINE_TIMEOUT_SECONDS):
                    await self.tool_detail()
            if self.tool.from_fallback:
                self.refresh_schema_soon()
                raise WiroSchemaUnavailable(
                    "Wiro's model details could not be read, so image runs are paused"
                )
        if image_url is not None:
            field_id, field_type = self.tool.image_field_id, self.tool.image_field_type
            if field_type == "combinefileinput":
                fields[field_id] = [image_url]  # files and URLs share the one field
            else:
                fields[field_id], fields[field_id + "Url"] = "", image_url
            body = await self._request(path, fields, retry=False)
        elif image is None:
            body = await self._request(path, fields, retry=False)
        else:
            form: list[FormField] = [(k, v, None, None) for k, v in fields.items()]
            field_id, field_type = self.tool.image_field_id, self.tool.image_field_type
            form.append((field_id, image, image_filename, image_content_type))
            if field_type in ("fileinput", "multifileinput"):
                # Both want the URL twin present and empty when a file is sent; combinefileinput
                # takes files and URLs in the one field (docs/wiro-protocol.md "Inputs").
                form.append((field_id + "Url", "", None, None))
            body = await self._request(path, form=form, retry=False)
        accepted = RunAccepted.from_body(body)
        if accepted is None:
            raise WiroTransportError(
                "Run answered without a task id or token", status=200, maybe_submitted=True
            )
        log.info(
            "task %s: submitted to %s (%s, %ss)",
            accepted.task_id,
            self.project,
            resolution,
            duration,
        )
        if has_image:
            self._image_runs[accepted.task_id] = self.tool.image_field_id
        return accepted

    async def detail(
        self, *, task_token: str | None = None, task_id: str | None = None
    ) -> TaskDetail | None:
        """Read one task from Task/Detail; None when Wiro does not know it (yet)."""
        if task_token:
            payload = {"tasktoken": task_token}
        elif task_id:
            payload = {"taskid": str(task_id)}
        else:
            raise ValueError("detail() needs task_token or task_id")
        try:
            body = await self._request("/Task/Detail", payload, retry=True)
        except WiroNotFound:
            return None  # code 1 "There is no task yet."
        except (WiroValidationError, WiroServerError) as exc:
            # Some clients see a code 0 "task-not-founded"; any other code 0 (a permission
            # refusal above all) is not "not found", and polling it until the deadline would
            # waste the job (docs/wiro-protocol.md "Errors").
            lowered = exc.message.lower()
            if (exc.status is None or exc.status < 400) and any(
                hint in lowered for hint in _NOT_FOUND_HINTS
            ):
                return None
            raise
        return TaskDetail.from_body(body)

    async def cancel(self, task_id: str) -> bool:
        """Cancel a queued task; False when Wiro says it is not cancellable."""
        return await self._stop_call("/Task/Cancel", task_id, {"taskid": str(task_id)})

    async def kill(self, task_id: str, task_token: str | None = None) -> bool:
        """Kill a running task, trying each body form Wiro accepts; False if all are refused."""
        for key in KILL_KEYS:
            value = str(task_id) if key == "taskid" else task_token
            if not value:
                continue
            if await self._stop_call("/Task/Kill", task_id, {key: value}):
                return True
        return False

    async def _stop_call(self, path: str, task_id: str, payload: dict[str, str]) -> bool:
        try:
            await self._request(path, payload, retry=True)
        except (WiroNotFound, WiroValidationError, WiroServerError) as exc:
            # Code 1 "not in a cancellable state" / "could not be killed", or a code 0 saying
            # the body form is not understood: the caller tries the next form or retries.
            log.info("task %s: %s (%s) refused: %s", task_id, path, ",".join(payload), exc)
            return False
        log.info("task %s: %s accepted", task_id, path)
        return True

    async def stop(self, task_id: str, task_token: str) -> TaskDetail | None:
        """Stop a task and return the Task/Detail that shows it closed, or None if unconfirmed.

        Cancel, then Kill, retried until Task/Detail confirms (see `following.stop`)."""
        return await following.stop(self, task_id, task_token)

    # ------------------------------------------------------------ downloads

    def check_download_url(self, url: str) -> None:
        """Raise DownloadRefused unless `url` is on an allowed host with an allowed scheme."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise DownloadRefused("the URL has no host")
        if not any(host == s or host.endswith("." + s) for s in self.output_hosts):
            raise DownloadRefused(f"host {host} is not an allowed output host")
        if parts.scheme == "https":
            return
        if parts.scheme == "http" and _is_loopback(host):
            return
        raise DownloadRefused(f"scheme {parts.scheme or 'none'} is not allowed for {host}")

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Stream `url` into `dest` (at most `max_bytes`) and return the number of bytes."""
        dest = Path(dest)
        for attempt in range(MAX_TRIES):
            try:
                async with asyncio.timeout(self.download_timeout):
                    return await self._download_once(url, dest, max_bytes)
            except (WiroTransportError, WiroServerError, TimeoutError) as exc:
                await asyncio.to_thread(_unlink_quietly, dest)
                if attempt == MAX_TRIES - 1:
                    if isinstance(exc, TimeoutError):
                        raise WiroTransportError("download took too long") from None
                    raise
                delay = _backoff(attempt)
                log.info("download failed (%s); retry %d in %.1fs", exc, attempt + 1, delay)
                await asyncio.sleep(delay)
            except BaseException:
                await asyncio.to_thread(_unlink_quietly, dest)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download_once(self, url: str, dest: Path, max_bytes: int) -> int:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.request_timeout, sock_read=self.request_timeout
        )
        for _ in range(MAX_REDIRECTS + 1):
            self.check_download_url(url)
            try:
                async with self.session.get(url, allow_redirects=False, timeout=timeout) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                        # Follow by hand so every hop is checked against the allowed hosts.
                        url = urljoin(url, resp.headers["Location"])
                        continue
                    if resp.status >= 500:
                        raise WiroServerError(f"download: HTTP {resp.status}", status=resp.status)
                    if resp.status == 404 or resp.status == 410:
                        raise WiroNotFound("the output file is gone", status=resp.status)
                    if resp.status != 200:
                        raise WiroError(f"download: HTTP {resp.status}", status=resp.status)
                    if resp.content_length is not None and resp.content_length > max_bytes:
                        raise DownloadRefused(
                            f"file is {resp.content_length} bytes, over the {max_bytes} limit",
                            too_big=True,
                        )
                    return await self._stream_to(resp, dest, max_bytes)
            except aiohttp.ClientError as exc:
                raise WiroTransportError(f"download failed ({type(exc).__name__})") from None
        raise DownloadRefused("too many redirects")

    async def _stream_to(self, resp: aiohttp.ClientResponse, dest: Path, max_bytes: int) -> int:
        handle = await asyncio.to_thread(open, dest, "wb")
        total = 0
        try:
            async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise DownloadRefused(f"file is over the {max_bytes} byte limit", too_big=True)
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        return total

    # ------------------------------------------------------------ following a task

    def follow(
        self, task_id: str, task_token: str, *, deadline: float
    ) -> AsyncIterator[StageUpdate | TaskOutcome]:
        """Yield stage changes of a task, then its outcome; raise TaskDeadlineExceeded.

        The socket gives the stages; Task/Detail is the record of the outcome (the pacing of
        its reads is in `following.follow`)."""
        return following.follow(self, task_id, task_token, deadline=deadline)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
