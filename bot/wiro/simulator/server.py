"""A faithful simulator of Wiro (docs/wiro-protocol.md): REST under /v1, the task socket, files.

It speaks the protocol as Wiro documents it today: socket frames keyed by the task `id` only (no
`tasktoken`), the full event list, `"terminal": true` on the final frame, `task_error` as an
interim status that Wiro recovers from, Cancel only while queued and Kill only after assign.

Tests script it (delays, outcomes, socket faults, download faults, refusals, permission errors);
`contradict` makes it break chosen assumptions so that `doctor --live` can be seen saying ✗. The
bot runs it in-process when WIRO_SANDBOX=true, and then every task succeeds with a sample clip.

This module holds the aiohttp server: its knobs, the REST endpoints and auth. What each task
does, stage by stage, and the `TaskScript` switches that script it are in `tasks.py`; the shapes
of its answers (the error envelope, Task/Detail, Tool/Detail) in `answers.py`; request bodies and
injected request faults in `incoming.py`; the task socket in `sockets.py`; the output files in
`files.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.wiro.signing import wiro_signature
from bot.wiro.simulator.answers import envelope_error, task_record, tool_record
from bot.wiro.simulator.files import serve_clip
from bot.wiro.simulator.incoming import BODY, RequestFaults, json_of, read_body
from bot.wiro.simulator.sample_clip import make_sample_clip
from bot.wiro.simulator.sockets import TaskSockets
from bot.wiro.simulator.tasks import (
    CANCELLABLE,
    FAST_PROJECTS,
    KILLABLE,
    FrameKeys,
    RecordedRun,
    SimTask,
    TaskScript,
    Timings,
    Upload,
    drive,
    task_frame,
)

log = logging.getLogger(__name__)

_TOKEN_ALPHABET = string.ascii_letters + string.digits


class WiroSimulator:
    """An aiohttp server that behaves like Wiro for one video model."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        sandbox: bool = False,
        timings: Timings | None = None,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.sandbox = sandbox
        self.timings = timings or (Timings.realistic() if sandbox else Timings())
        self.default_script = TaskScript()
        self.busy_runs = 0
        self.insufficient_balance = False
        self.image_field_id = "inputImage"
        self.image_field_type = "combinefileinput"
        self.dynamicprice: list[dict[str, Any]] = [
            {
                "inputs": {"resolution": "768P", "duration": "6"},
                "price": 0.28,
                "priceMethod": "cpr",
            },
            {
                "inputs": {"resolution": "768P", "duration": "10"},
                "price": 0.56,
                "priceMethod": "cpr",
            },
            {
                "inputs": {"resolution": "1080P", "duration": "6"},
                "price": 0.49,
                "priceMethod": "cpr",
            },
        ]
        self.frame_keys: FrameKeys = "id"
        self.contradict: set[str] = set()
        self.tool_parameters_null = False  # Tool/Detail answers `"parameters": null`
        self.echo_image = True  # Task/Detail's parameters show the uploaded image field
        self.detail_permission_denied = False  # Task/Detail: code 0 "You don't have any permission"
        # Slugs Tool/Detail answers as unknown (a model this account does not offer).
        self.missing_projects: set[str] = set()
        # MiniMax's Fast prices (bot/catalogue.py), as Tool/Detail of hailuo-2-3-fast lists them.
        self.fast_dynamicprice: list[dict[str, Any]] = [
            {"inputs": {"resolution": r, "duration": d}, "price": p, "priceMethod": "cpr"}
            for r, d, p in (("768P", "6", 0.19), ("768P", "10", 0.32), ("1080P", "6", 0.33))
        ]
        self.runs: list[RecordedRun] = []
        # File/Upload: what was uploaded, by URL (a Run may name one instead of sending bytes).
        self.uploads: dict[str, Upload] = {}
        # File/Upload refuses with this message (code 0), as a July 2026 repro saw it under
        # signature auth ("invalid-parameters"); None: uploads work.
        self.upload_refusal: str | None = None
        # Seconds a Run takes to answer, after the task was created (a slow link, a large body):
        # a client that stops waiting still leaves a task that runs and bills.
        self.run_delay = 0.0
        self.requests: list[tuple[str, Any]] = []
        # (monotonic time, frame) of every task frame sent, for the benchmark.
        self.frames_sent: list[tuple[float, dict[str, Any]]] = []
        self.tasks: dict[str, SimTask] = {}
        self.sockets = TaskSockets()
        self._scripts: deque[TaskScript] = deque()
        # A Run whose prompt is one of these keys follows that script (and takes none from the
        # FIFO): tests with many jobs at once bind each job's fate to its prompt.
        self.prompt_scripts: dict[str, TaskScript] = {}
        self._faults = RequestFaults()
        self._nonces_seen: set[str] = set()
        self._next_id = 534574
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._host = "127.0.0.1"
        self._default_clip: bytes | None = None
        self._clip_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ lifecycle and knobs

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on host:port (port 0 picks a free one)."""
        app = web.Application(middlewares=[self._rest_middleware], client_max_size=64 * 2**20)
        app.router.add_post("/v1/Run/{owner}/{project}", self._run)
        app.router.add_post("/v1/Task/Detail", self._detail)
        app.router.add_post("/v1/Task/Cancel", self._cancel)
        app.router.add_post("/v1/Task/Kill", self._kill)
        app.router.add_post("/v1/Tool/Detail", self._tool_detail)
        app.router.add_post("/v1/File/Upload", self._upload)
        app.router.add_get("/v1/socket", self.sockets.handle)
        app.router.add_get("/files/{task_id}/{name}", self._file)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host = host
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1] if sockets else port
        log.info("Wiro simulator listening on %s:%d (sandbox=%s)", host, self._port, self.sandbox)

    async def stop(self) -> None:
        """Stop every simulated task, close sockets and the server."""
        pending = [t.runner for t in self.tasks.values() if t.runner and not t.runner.done()]
        pending += list(self._background)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.sockets.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        """Return the REST base URL, like https://api.wiro.ai/v1."""
        return f"http://{self._host}:{self._port}/v1"

    @property
    def socket_url(self) -> str:
        """Return the websocket URL, like wss://socket.wiro.ai/v1."""
        return f"ws://{self._host}:{self._port}/v1/socket"

    @property
    def output_host(self) -> str:
        """Return the host serving output files."""
        return self._host

    @property
    def files_url(self) -> str:
        """Return the base URL of output files (`<files_url>/<task id>/<name>`)."""
        return f"http://{self._host}:{self._port}/files"

    @property
    def ws_connections(self) -> int:
        """Return how many task sockets were ever opened."""
        return self.sockets.connections

    @property
    def ws_subscriptions(self) -> list[str]:
        """Return every task_info token received, in order."""
        return self.sockets.subscriptions

    def script_next(self, script: TaskScript) -> None:
        """Make the next Run follow `script` (FIFO; later Runs use `default_script`)."""
        self._scripts.append(script)

    def inject(self, path: str, action: int | str, count: int = 1) -> None:
        """Answer the next `count` calls to `path` (e.g. "/Run") with an HTTP status or fault."""
        self._faults.add(path, action, count)

    # ------------------------------------------------------------ REST plumbing

    @web.middleware
    async def _rest_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method != "POST" or not request.path.startswith("/v1/"):
            return await handler(request)
        path = request.path[len("/v1") :]
        body = await read_body(request)
        self.requests.append((path, body["fields"] if body["multipart"] else body["json"]))
        faulty = self._faults.answer(request, path)
        if faulty is not None:
            return faulty
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        request[BODY] = body
        return await handler(request)

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if not self.api_key:
            return None  # sandbox or a project that needs no credentials
        key = request.headers.get("x-api-key")
        if key != self.api_key:
            return envelope_error(0, "Project authorization is not founded.", 401)
        if not self.api_secret:
            return None
        nonce, signature = request.headers.get("x-nonce"), request.headers.get("x-signature")
        if not nonce or not signature:
            return envelope_error(
                0,
                "Project requires signature authentication. "
                "x-signature and x-nonce headers are required.",
                401,
            )
        if signature != wiro_signature(self.api_key, self.api_secret, nonce):
            return envelope_error(0, "Project authorization is not valid.", 401)
        # Wiro's replay rule is undocumented; refusing reused nonces is the strictest reading.
        if nonce in self._nonces_seen:
            return envelope_error(0, "Project authorization is not valid.", 401)
        self._nonces_seen.add(nonce)
        return None

    # ------------------------------------------------------------ endpoints

    async def _run(self, request: web.Request) -> web.Response:
        body = request[BODY]
        fields = {k: str(v) for k, v in json_of(request).items() if not isinstance(v, list)}
        record = RecordedRun(
            path=request.path,
            content_type="multipart" if body["multipart"] else "json",
            fields=fields,
        )
        for name, data, filename, ctype in body["files"]:
            record.image, record.image_field = data, name
            record.image_filename, record.image_content_type = filename, ctype
        self._take_uploaded_image(record, json_of(request))
        self.runs.append(record)
        if body["json"] is None and not body["multipart"]:
            return envelope_error(0, "Request parameters are invalid.")
        if record.image_field is not None and record.image_field != self.image_field_id:
            return envelope_error(0, f"Request files [{record.image_field}] not allowed")
        if not fields.get("prompt", "").strip() and record.image is None:
            return envelope_error(0, "Request parameter [prompt] required")
        if request.match_info["project"] in FAST_PROJECTS and record.image is None:
            # The Fast sibling is image-to-video only (bot/catalogue.py).
            return envelope_error(0, f"Request files [{self.image_field_id}] required")
        resolution, duration = fields.get("resolution", "768P"), fields.get("duration", "6")
        if resolution not in ("768P", "1080P") or duration not in ("6", "10"):
            return envelope_error(0, "Request parameters are invalid.")
        if resolution == "1080P" and duration == "10":
            return envelope_error(0, "Request parameters are invalid.")
        if self.insufficient_balance:
            return envelope_error(97, "Insufficient balance")
        if self.busy_runs > 0:
            self.busy_runs -= 1
            return envelope_error(
                96,
                "You have reached your concurrent task limit. With your current balance of $3, "
                "you can run up to 1 tasks at the same time. Add funds to increase your limit.",
            )
        script = self.prompt_scripts.get(fields.get("prompt", "")) or (
            self._scripts.popleft() if self._scripts else self.default_script
        )
        if self.sandbox:
            script = TaskScript(outcome="success", clip=script.clip, progress=True)
        task_id = str(self._next_id)
        self._next_id += 1
        token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(30))
        task = SimTask(task_id=task_id, token=token, script=script, params=fields)
        task.image_field = record.image_field
        record.task_id = task_id
        self.tasks[task_id] = task
        task.runner = asyncio.get_running_loop().create_task(
            drive(self, task, record), name=f"sim-task-{task_id}"
        )
        if self.run_delay > 0:
            await asyncio.sleep(self.run_delay)
        ids = {"taskid": task_id, "socketaccesstoken": token}
        if "nested_run" in self.contradict:
            return web.json_response({"result": True, "errors": [], "data": ids})
        return web.json_response({"result": True, "errors": [], **ids})

    def _take_uploaded_image(self, record: RecordedRun, data: dict[str, Any]) -> None:
        """A Run that names an uploaded file by URL: `{id: [url]}` (combinefileinput) or
        `{id}Url: url` (fileinput). Wiro fetches it; here it is looked up among the uploads."""
        for key, value in data.items():
            for candidate in value if isinstance(value, list) else [value]:
                upload = self.uploads.get(candidate) if isinstance(candidate, str) else None
                if upload is None:
                    continue
                field_name = key[: -len("Url")] if key.endswith("Url") else key
                record.image, record.image_field = upload.data, field_name
                record.image_filename = upload.filename
                record.image_content_type = upload.content_type
                record.image_url = upload.url

    async def _upload(self, request: web.Request) -> web.Response:
        body = request[BODY]
        files = [f for f in body["files"] if f[0] == "file"]
        if not body["multipart"] or not files:
            return envelope_error(0, "Request files [file] required")
        if self.upload_refusal is not None:
            return envelope_error(0, self.upload_refusal)
        _, data, filename, ctype = files[0]
        file_id = secrets.token_hex(16)
        url = f"http://{self._host}:{self._port}/uploads/{file_id}/{filename}"
        self.uploads[url] = Upload(data=data, filename=filename, content_type=ctype, url=url)
        entry = {
            "id": file_id,
            "name": filename,
            "contenttype": ctype,
            "size": str(len(data)),
            "parentid": "0",
            "url": url,
            "addedtime": str(int(time.time())),
            "accesskey": secrets.token_hex(8),
        }
        return web.json_response({"result": True, "errors": [], "list": [entry]})

    def _find(self, data: dict[str, Any]) -> SimTask | None:
        token = data.get("tasktoken") or data.get("socketaccesstoken")
        if token:
            return next((t for t in self.tasks.values() if t.token == token), None)
        return self.tasks.get(str(data.get("taskid", "")))

    def _task_json(self, task: SimTask) -> dict[str, Any]:
        return task_record(task, echo_image=self.echo_image, contradict=self.contradict)

    async def _detail(self, request: web.Request) -> web.Response:
        data = json_of(request)
        if not (data.get("tasktoken") or data.get("taskid") or data.get("socketaccesstoken")):
            return envelope_error(0, "taskid or socketaccesstoken is required")
        if self.detail_permission_denied:
            return envelope_error(0, "You don't have any permission for this action.")
        task = self._find(data)
        if task is None:
            if "detail_not_found_code0" in self.contradict:
                return envelope_error(0, "task-not-founded")
            return envelope_error(1, "There is no task yet.")
        return web.json_response(
            {"result": True, "errors": [], "total": "1", "tasklist": [self._task_json(task)]}
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        data = json_of(request)
        if not data.get("taskid"):
            return envelope_error(0, "Request parameter [taskid] required")
        task = self._find({"taskid": data["taskid"]})
        if task is None or task.status not in CANCELLABLE:
            return envelope_error(1, "Task is not in a cancellable state.")
        if task.script.cancel_refusals > 0:
            task.script.cancel_refusals -= 1
            return envelope_error(1, "Task is not in a cancellable state.")
        return await self._cancelled(task)

    async def _kill(self, request: web.Request) -> web.Response:
        data = json_of(request)
        keys = [k for k in ("taskid", "socketaccesstoken", "tasktoken") if data.get(k)]
        if not keys:
            return envelope_error(0, "taskid or socketaccesstoken is required")
        task = self._find({keys[0]: data[keys[0]]})
        if task is not None and keys[0] not in task.script.kill_keys:
            return envelope_error(0, "taskid or socketaccesstoken is required")
        if task is None:
            return envelope_error(1, "Task could not be killed: task-not-exist")
        if task.status not in KILLABLE:
            return envelope_error(1, f"Task could not be killed: status is {task.status}")
        if task.script.kill_refusals > 0:
            task.script.kill_refusals -= 1
            return envelope_error(1, "Task could not be killed: worker busy")
        return await self._cancelled(task)

    async def _cancelled(self, task: SimTask) -> web.Response:
        """End the task as cancelled and answer Cancel/Kill with its row."""
        await self.end_cancelled(task)
        return web.json_response(
            {"errors": [], "tasklist": [self._task_json(task)], "result": True}
        )

    async def end_cancelled(self, task: SimTask) -> None:
        """Close `task` as cancelled (Cancel, Kill, or Wiro's own cancel) and say so."""
        if task.runner is not None and task.runner is not asyncio.current_task():
            task.runner.cancel()
        task.status, task.pexit, task.totalcost = "task_cancel", "", task.script.cancel_cost
        task.canceltime = int(time.time())
        await self.emit(task, "task_cancel", None, result=False, terminal=True)

    async def _tool_detail(self, request: web.Request) -> web.Response:
        data = json_of(request)
        project = data.get("slugproject")
        known = (FAST_PROJECTS | {"hailuo-2-3"}) - self.missing_projects
        if data.get("slugowner") != "minimax" or project not in known:
            return envelope_error(1, "slug-owner-project-not-exist")
        fast = project in FAST_PROJECTS
        tool = tool_record(
            project,
            image_field_id=self.image_field_id,
            image_field_type=self.image_field_type,
            parameters_null=self.tool_parameters_null,
            dynamicprice=self.fast_dynamicprice if fast else self.dynamicprice,
        )
        return web.json_response({"result": True, "errors": [], "tool": [tool]})

    # ------------------------------------------------------------ files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.clip is None or not task.outputs:
            raise web.HTTPNotFound()
        if request.match_info["name"] != task.outputs[0]["name"]:
            raise web.HTTPNotFound()
        return await serve_clip(request, task, task.clip)

    # ------------------------------------------------------------ frames and the sample clip

    async def emit(
        self,
        task: SimTask,
        kind: str,
        message: Any,
        *,
        result: bool = True,
        terminal: bool = False,
    ) -> None:
        """Send one task frame to the task's subscribers (unless its script keeps the socket
        silent), keyed as `frame_keys` says."""
        if task.script.ws == "silent":
            return
        data = task_frame(
            task,
            kind,
            message,
            result=result,
            terminal=terminal,
            keys=self.frame_keys,
            contradict=self.contradict,
        )
        self.frames_sent.append((time.monotonic(), data))
        await self.sockets.send(task, json.dumps(data))

    async def default_clip(self) -> bytes:
        """Return the small clip every task of the tests' simulator delivers (made once)."""
        async with self._clip_lock:
            if self._default_clip is None:
                self._default_clip = await asyncio.to_thread(
                    make_sample_clip, width=320, height=180, seconds=2, caption="test"
                )
        return self._default_clip
