"""A faithful simulator of Wiro (docs/wiro-protocol.md): REST under /v1, the task socket, files.

It speaks the protocol as Wiro documents it today: socket frames keyed by the task `id` only (no
`tasktoken`), the full event list, `"terminal": true` on the final frame, `task_error` as an
interim status that Wiro recovers from, Cancel only while queued and Kill only after assign.

Tests script it (delays, outcomes, socket faults, download faults, refusals, permission errors);
`contradict` makes it break chosen assumptions so that `doctor --live` can be seen saying ✗. The
bot runs it in-process when WIRO_SANDBOX=true, and then every task succeeds with a sample clip.

This module holds the aiohttp server: the REST endpoints (auth, envelopes, injected request faults),
the task socket and the output files. What each task does, stage by stage, and the `TaskScript`
switches that script it are in `sandbox_tasks.py`; its public names are re-exported here, so `from
bot.wiro.simulator.server import TaskScript, WiroSimulator` keeps working.
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
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from bot.wiro.signing import wiro_signature
from bot.wiro.simulator.tasks import (
    CANCELLABLE,
    CONTRADICTIONS,
    FAST_PROJECTS,
    KILLABLE,
    RUNNING,
    SENSITIVE_OUTPUT,
    TERMINAL,
    DownloadMode,
    FrameKeys,
    Outcome,
    RecordedRun,
    SimTask,
    TaskScript,
    Timings,
    Upload,
    WsMode,
    drive,
    malformed_burst,
    task_frame,
)

__all__ = [
    "CANCELLABLE",
    "CONTRADICTIONS",
    "FAST_PROJECTS",
    "KILLABLE",
    "RUNNING",
    "SENSITIVE_OUTPUT",
    "TERMINAL",
    "DownloadMode",
    "FrameKeys",
    "Outcome",
    "RecordedRun",
    "SimTask",
    "TaskScript",
    "Timings",
    "Upload",
    "WiroSimulator",
    "WsMode",
]

log = logging.getLogger(__name__)

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_BODY = web.RequestKey("wiro_body", dict)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    tokens: set[str] = field(default_factory=set)


@dataclass
class _Fault:
    action: str  # an HTTP status as text, "disconnect" or "nonjson"


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
        self.ws_connections = 0
        self.ws_subscriptions: list[str] = []  # every task_info token received, in order
        self._scripts: deque[TaskScript] = deque()
        # A Run whose prompt is one of these keys follows that script (and takes none from the
        # FIFO): tests with many jobs at once bind each job's fate to its prompt.
        self.prompt_scripts: dict[str, TaskScript] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._conns: set[_Conn] = set()
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
        app.router.add_get("/v1/socket", self._socket)
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
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
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

    def script_next(self, script: TaskScript) -> None:
        """Make the next Run follow `script` (FIFO; later Runs use `default_script`)."""
        self._scripts.append(script)

    def inject(self, path: str, action: int | str, count: int = 1) -> None:
        """Answer the next `count` calls to `path` (e.g. "/Run") with an HTTP status or fault."""
        queue = self._faults.setdefault(path, deque())
        queue.extend(_Fault(str(action)) for _ in range(count))

    # ------------------------------------------------------------ REST plumbing

    def _envelope_error(self, code: int, message: str, status: int = 200) -> web.Response:
        return web.json_response(
            {"result": False, "errors": [{"code": code, "message": message}]}, status=status
        )

    @web.middleware
    async def _rest_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method != "POST" or not request.path.startswith("/v1/"):
            return await handler(request)
        path = request.path[len("/v1") :]
        body = await self._read_body(request)
        self.requests.append((path, body["fields"] if body["multipart"] else body["json"]))
        for prefix, queue in self._faults.items():
            if path.startswith(prefix) and queue:
                fault = queue.popleft()
                if fault.action == "disconnect":
                    assert request.transport is not None
                    request.transport.close()
                    raise web.HTTPInternalServerError()  # never delivered: the socket is gone
                if fault.action == "nonjson":
                    return web.Response(text="<html>Bad Gateway</html>", status=502)
                status = int(fault.action)
                headers = {"Retry-After": "0"} if status == 429 else None
                return web.json_response(
                    {"result": False, "errors": [{"code": 0, "message": "Server error"}]},
                    status=status,
                    headers=headers,
                )
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        request[_BODY] = body
        return await handler(request)

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        result: dict[str, Any] = {"multipart": False, "json": None, "fields": {}, "files": []}
        if request.content_type.startswith("multipart/"):
            result["multipart"] = True
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: Wiro's clients never send it
                data = await part.read()
                name = part.name or ""
                if part.filename:
                    ctype = part.headers.get("Content-Type", "application/octet-stream")
                    result["files"].append((name, bytes(data), part.filename, ctype))
                else:
                    result["fields"][name] = bytes(data).decode("utf-8", "replace")
            return result
        raw = await request.read()
        try:
            result["json"] = json.loads(raw) if raw else {}
        except ValueError:
            result["json"] = None
        return result

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if not self.api_key:
            return None  # sandbox or a project that needs no credentials
        key = request.headers.get("x-api-key")
        if key != self.api_key:
            return self._envelope_error(0, "Project authorization is not founded.", 401)
        if not self.api_secret:
            return None
        nonce, signature = request.headers.get("x-nonce"), request.headers.get("x-signature")
        if not nonce or not signature:
            return self._envelope_error(
                0,
                "Project requires signature authentication. "
                "x-signature and x-nonce headers are required.",
                401,
            )
        if signature != wiro_signature(self.api_key, self.api_secret, nonce):
            return self._envelope_error(0, "Project authorization is not valid.", 401)
        # Wiro's replay rule is undocumented; refusing reused nonces is the strictest reading.
        if nonce in self._nonces_seen:
            return self._envelope_error(0, "Project authorization is not valid.", 401)
        self._nonces_seen.add(nonce)
        return None

    @staticmethod
    def _json_of(request: web.Request) -> dict[str, Any]:
        body = request[_BODY]
        data = body["fields"] if body["multipart"] else body["json"]
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------ endpoints

    async def _run(self, request: web.Request) -> web.Response:
        body = request[_BODY]
        fields = {k: str(v) for k, v in self._json_of(request).items() if not isinstance(v, list)}
        record = RecordedRun(
            path=request.path,
            content_type="multipart" if body["multipart"] else "json",
            fields=fields,
        )
        for name, data, filename, ctype in body["files"]:
            record.image, record.image_field = data, name
            record.image_filename, record.image_content_type = filename, ctype
        self._take_uploaded_image(record, self._json_of(request))
        self.runs.append(record)
        if body["json"] is None and not body["multipart"]:
            return self._envelope_error(0, "Request parameters are invalid.")
        if record.image_field is not None and record.image_field != self.image_field_id:
            return self._envelope_error(0, f"Request files [{record.image_field}] not allowed")
        if not fields.get("prompt", "").strip() and record.image is None:
            return self._envelope_error(0, "Request parameter [prompt] required")
        if request.match_info["project"] in FAST_PROJECTS and record.image is None:
            # The Fast sibling is image-to-video only (bot/catalogue.py).
            return self._envelope_error(0, f"Request files [{self.image_field_id}] required")
        resolution, duration = fields.get("resolution", "768P"), fields.get("duration", "6")
        if resolution not in ("768P", "1080P") or duration not in ("6", "10"):
            return self._envelope_error(0, "Request parameters are invalid.")
        if resolution == "1080P" and duration == "10":
            return self._envelope_error(0, "Request parameters are invalid.")
        if self.insufficient_balance:
            return self._envelope_error(97, "Insufficient balance")
        if self.busy_runs > 0:
            self.busy_runs -= 1
            return self._envelope_error(
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
        body = request[_BODY]
        files = [f for f in body["files"] if f[0] == "file"]
        if not body["multipart"] or not files:
            return self._envelope_error(0, "Request files [file] required")
        if self.upload_refusal is not None:
            return self._envelope_error(0, self.upload_refusal)
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
        elapsed = max(0, (task.endtime or int(time.time())) - (task.starttime or task.createtime))
        params: dict[str, Any] = dict(task.params)
        if task.image_field and self.echo_image:
            # Uploaded inputs come back as File URLs under the field's name.
            params[task.image_field] = (
                f"https://api.wiro.ai/v1/File/{task.token[:12]}/{task.image_field}-1.png"
            )
        scale = 1000 if "ms_timestamps" in self.contradict else 1

        def when(value: int) -> str:
            return str(value * scale)

        record = {
            "id": task.task_id,
            "uuid": "00000000-0000-4000-8000-000000000000",
            "name": "",
            "socketaccesstoken": task.token,
            "parameters": params,
            "debugoutput": task.debugoutput,
            "debugerror": task.debugerror,
            "status": task.status,
            "pexit": task.pexit,
            "createtime": when(task.createtime),
            "starttime": when(task.starttime),
            "endtime": when(task.endtime),
            "canceltime": when(task.canceltime),
            "elapsedseconds": f"{elapsed:.4f}" if task.starttime else "0",
            "cps": "0.000585000000",
            "totalcost": task.totalcost,
            "projectid": "699",
            "modelid": "598",
            "runtype": "model",
            "callbackurl": "",
            "guestid": None,
            "marketplaceid": None,
            "categories": '["video","image-to-video"]',
            "modelslugowner": "minimax",
            "modelslugproject": "hailuo-2-3",
            "outputs": list(task.outputs),
            "size": str(sum(int(o["size"]) for o in task.outputs)),
        }
        if "cost_missing" in self.contradict:
            del record["totalcost"]
        return record

    async def _detail(self, request: web.Request) -> web.Response:
        data = self._json_of(request)
        if not (data.get("tasktoken") or data.get("taskid") or data.get("socketaccesstoken")):
            return self._envelope_error(0, "taskid or socketaccesstoken is required")
        if self.detail_permission_denied:
            return self._envelope_error(0, "You don't have any permission for this action.")
        task = self._find(data)
        if task is None:
            if "detail_not_found_code0" in self.contradict:
                return self._envelope_error(0, "task-not-founded")
            return self._envelope_error(1, "There is no task yet.")
        return web.json_response(
            {"result": True, "errors": [], "total": "1", "tasklist": [self._task_json(task)]}
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        data = self._json_of(request)
        if not data.get("taskid"):
            return self._envelope_error(0, "Request parameter [taskid] required")
        task = self._find({"taskid": data["taskid"]})
        if task is None or task.status not in CANCELLABLE:
            return self._envelope_error(1, "Task is not in a cancellable state.")
        if task.script.cancel_refusals > 0:
            task.script.cancel_refusals -= 1
            return self._envelope_error(1, "Task is not in a cancellable state.")
        await self._end_cancelled(task)
        return web.json_response(
            {"errors": [], "tasklist": [self._task_json(task)], "result": True}
        )

    async def _kill(self, request: web.Request) -> web.Response:
        data = self._json_of(request)
        keys = [k for k in ("taskid", "socketaccesstoken", "tasktoken") if data.get(k)]
        if not keys:
            return self._envelope_error(0, "taskid or socketaccesstoken is required")
        task = self._find({keys[0]: data[keys[0]]})
        if task is not None and keys[0] not in task.script.kill_keys:
            return self._envelope_error(0, "taskid or socketaccesstoken is required")
        if task is None:
            return self._envelope_error(1, "Task could not be killed: task-not-exist")
        if task.status not in KILLABLE:
            return self._envelope_error(1, f"Task could not be killed: status is {task.status}")
        if task.script.kill_refusals > 0:
            task.script.kill_refusals -= 1
            return self._envelope_error(1, "Task could not be killed: worker busy")
        await self._end_cancelled(task)
        return web.json_response(
            {"errors": [], "tasklist": [self._task_json(task)], "result": True}
        )

    async def _end_cancelled(self, task: SimTask) -> None:
        if task.runner is not None and task.runner is not asyncio.current_task():
            task.runner.cancel()
        task.status, task.pexit, task.totalcost = "task_cancel", "", task.script.cancel_cost
        task.canceltime = int(time.time())
        await self._emit(task, "task_cancel", None, result=False, terminal=True)

    async def _tool_detail(self, request: web.Request) -> web.Response:
        data = self._json_of(request)
        project = data.get("slugproject")
        known = (FAST_PROJECTS | {"hailuo-2-3"}) - self.missing_projects
        if data.get("slugowner") != "minimax" or project not in known:
            return self._envelope_error(1, "slug-owner-project-not-exist")
        fast = project in FAST_PROJECTS

        def select(item_id: str, values: list[str], default: str, note: str) -> dict[str, Any]:
            return {
                "id": item_id,
                "type": "select",
                "label": item_id,
                "required": True,
                "default": default,
                "note": note,
                "options": [{"value": v, "label": v} for v in values],
            }

        tool = {
            "id": "598",
            "title": "Hailuo 2.3 Fast" if fast else "Hailuo 2.3",
            "slugowner": "MiniMax",
            "slugproject": "hailuo-2.3-fast" if fast else "hailuo-2.3",
            "cleanslugowner": "minimax",
            "cleanslugproject": project,
            "description": "MiniMax Hailuo 2.3 Fast image to video"
            if fast
            else "MiniMax Hailuo 2.3 text/image to video",
            "computingtime": "120 seconds",
            "categories": ["video", "image-to-video", "text-to-video"],
            "parameters": None
            if self.tool_parameters_null
            else [
                {
                    "title": "Input",
                    "items": [
                        {
                            "id": self.image_field_id,
                            "type": self.image_field_type,
                            "label": "Image First",
                            "required": fast,
                            "note": "The output video will have the aspect ratio of this image.",
                        },
                        {
                            "id": "prompt",
                            "type": "textarea",
                            "label": "Prompt",
                            "required": True,
                            "note": "The prompt to generate the video.",
                        },
                    ],
                },
                {
                    "title": "Settings",
                    "items": [
                        select("promptOptimizer", ["true", "false"], "true", ""),
                        select(
                            "resolution",
                            ["768P", "1080P"],
                            "768P",
                            "1080P resolution can only produce 6s videos.",
                        ),
                        select(
                            "duration",
                            ["6", "10"],
                            "6",
                            "10 seconds videos only available for 768P.",
                        ),
                    ],
                },
            ],
            "dynamicprice": json.dumps(self.fast_dynamicprice if fast else self.dynamicprice),
            "cps": "0.000585000000",
            "taskstat": {"runcount": 1234, "successcount": "1200"},
        }
        return web.json_response({"result": True, "errors": [], "tool": [tool]})

    # ------------------------------------------------------------ files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.clip is None or not task.outputs:
            raise web.HTTPNotFound()
        if request.match_info["name"] != task.outputs[0]["name"]:
            raise web.HTTPNotFound()
        mode = task.script.download
        if mode == "normal":
            return web.Response(body=task.clip, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if mode == "oversized":
            response.content_length = task.script.oversized_bytes
            await response.prepare(request)
            chunk = bytes(64 * 1024)
            sent = 0
            while sent < task.script.oversized_bytes:
                piece = chunk[: task.script.oversized_bytes - sent]
                await response.write(piece)
                sent += len(piece)
            return response
        # slow: chunked (no Content-Length), trickled in small pieces.
        response.enable_chunked_encoding()
        await response.prepare(request)
        view = memoryview(task.clip)
        step = max(1024, len(view) // 20)
        for start in range(0, len(view), step):
            await response.write(bytes(view[start : start + step]))
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    # ------------------------------------------------------------ websocket

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        self.ws_connections += 1
        try:
            await ws.send_str(json.dumps({"type": "connected", "version": "1.0"}))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(frame, dict) and frame.get("type") == "task_info":
                    token = str(frame.get("tasktoken", ""))
                    conn.tokens.add(token)
                    self.ws_subscriptions.append(token)
        finally:
            self._conns.discard(conn)
        return ws

    async def _emit(
        self,
        task: SimTask,
        kind: str,
        message: Any,
        *,
        result: bool = True,
        terminal: bool = False,
    ) -> None:
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
        frame = json.dumps(data)
        for conn in [c for c in self._conns if task.token in c.tokens]:
            try:
                if task.script.ws == "malformed":
                    for junk in malformed_burst(task):
                        if isinstance(junk, bytes):
                            await conn.ws.send_bytes(junk)
                        else:
                            await conn.ws.send_str(junk)
                await conn.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                continue

    async def _drop_sockets(self, task: SimTask) -> None:
        for conn in [c for c in self._conns if task.token in c.tokens]:
            with contextlib.suppress(Exception):
                await conn.ws.close()
