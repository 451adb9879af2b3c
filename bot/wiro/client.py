"""The Wiro client: the endpoints of one model, its schema, and the hand-overs to its helpers.

Never imports discord. One `WiroClient` per process; it owns at most one websocket, shared by
every task it follows. This module holds the client's life (session, Tool/Detail schema, the
clients of sibling models) and the endpoints (Tool/Detail, File/Upload, Run, Task/Detail, Cancel,
Kill). Every call goes through the REST core in `rest.py` (signing, the envelope, typed errors,
bounded retries); downloads are `downloads.py`; following a task and the stop loop live in
`following.py`, the shared websocket in `socket_hub.py`; `download`, `follow` and `stop` here
hand over to them. The protocol it speaks is
written down in docs/wiro-protocol.md; the guesses it still makes are listed in
docs/wiro-assumptions.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bot.wiro import downloads, following
from bot.wiro.errors import (
    WiroError,
    WiroNotFound,
    WiroRateLimited,
    WiroSchemaUnavailable,
    WiroServerError,
    WiroTransportError,
    WiroValidationError,
)
from bot.wiro.lenient import loose_str
from bot.wiro.models import (
    RunAccepted,
    StageUpdate,
    TaskDetail,
    TaskOutcome,
)
from bot.wiro.rest import FormField, WiroRest
from bot.wiro.schema import ToolInfo
from bot.wiro.socket_hub import SocketHub, cancel_and_wait

log = logging.getLogger(__name__)

POLL_SECONDS = (
    10.0  # Task/Detail pace while the socket is silent (a client's poll_interval default)
)
SCHEMA_TIMEOUT_SECONDS = 10.0  # Tool/Detail at start-up, and again before an image run if needed
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

Trace = Callable[[dict[str, Any]], None]


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
        self._rest = WiroRest(
            api_key=self._api_key,
            api_secret=self._api_secret,
            api_base=self.api_base,
            request_timeout=request_timeout,
            session=lambda: self.session,
            record=self.trace_event,
        )
        self._hub = SocketHub(self)
        self._schema_refresh: asyncio.Task[None] | None = None
        # Image runs whose Task/Detail `parameters` are still to be checked for the image field.
        self._image_runs: dict[str, str] = {}
        # Called with every REST exchange and socket frame (doctor --live records them).
        self.trace: Trace | None = None
        # Clients for the other models of the same account (for_project), and this one's owner.
        self._siblings: dict[str, WiroClient] = {}
        self._parent: WiroClient | None = None
        self._uploads_refused_until = 0.0  # loop time; see UPLOAD_REFUSED_SECONDS

    @property
    def hub(self) -> SocketHub:
        """The one shared task socket (following.py subscribes each followed task to it)."""
        return self._hub

    def image_field_to_check(self, task_id: str) -> str | None:
        """The image field of an image run whose Task/Detail echo is still to be checked."""
        return self._image_runs.get(task_id)

    def image_field_checked(self, task_id: str) -> None:
        """Forget an image run once its echo was checked (or the task is no longer followed)."""
        self._image_runs.pop(task_id, None)

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
        await cancel_and_wait(refresh)
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
            sibling._rest.nonces = self._rest.nonces
            sibling._hub = self._hub
            sibling.download_timeout = self.download_timeout
            self._siblings[project] = sibling
        return sibling

    def trace_event(self, record: dict[str, Any]) -> None:
        """Hand one REST exchange, socket or download event to the recorder, if any."""
        if self.trace is not None:
            with contextlib.suppress(Exception):
                self.trace(record)

    # ------------------------------------------------------------ endpoints

    async def tool_detail(self) -> ToolInfo:
        """Read the model schema and prices from Tool/Detail and cache them on `tool`."""
        body = await self._rest.call(
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
            body = await self._rest.call(
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
            body = await self._rest.call(path, fields, retry=False)
        elif image is None:
            body = await self._rest.call(path, fields, retry=False)
        else:
            form: list[FormField] = [(k, v, None, None) for k, v in fields.items()]
            field_id, field_type = self.tool.image_field_id, self.tool.image_field_type
            form.append((field_id, image, image_filename, image_content_type))
            if field_type in ("fileinput", "multifileinput"):
                # Both want the URL twin present and empty when a file is sent; combinefileinput
                # takes files and URLs in the one field (docs/wiro-protocol.md "Inputs").
                form.append((field_id + "Url", "", None, None))
            body = await self._rest.call(path, form=form, retry=False)
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
            body = await self._rest.call("/Task/Detail", payload, retry=True)
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
            await self._rest.call(path, payload, retry=True)
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
        downloads.check_url(url, self.output_hosts)

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Stream `url` into `dest` (at most `max_bytes`) and return the number of bytes."""
        return await downloads.download(
            self.session,
            url,
            Path(dest),
            max_bytes=max_bytes,
            output_hosts=self.output_hosts,
            read_timeout=self.request_timeout,
            total_timeout=self.download_timeout,
        )

    # ------------------------------------------------------------ following a task

    def follow(
        self, task_id: str, task_token: str, *, deadline: float
    ) -> AsyncIterator[StageUpdate | TaskOutcome]:
        """Yield stage changes of a task, then its outcome; raise TaskDeadlineExceeded.

        The socket gives the stages; Task/Detail is the record of the outcome (the pacing of
        its reads is in `following.follow`)."""
        return following.follow(self, task_id, task_token, deadline=deadline)
