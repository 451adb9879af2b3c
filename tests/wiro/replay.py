"""Serve a recorded `doctor --live` trace back to the client, over loopback.

REST answers are given back in the order they were recorded (per path); socket frames are sent
in order after `task_info`. Task/Detail answers follow the socket: each read gets the latest
Detail recorded before the next frame still to be sent, so a replay sees the task move as the
live run did. Request contents are not checked: the point is that the client reads what Wiro
really said the way it did live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from bot.wiro.live.record import PROBE_TOKEN

FRAME_GAP_SECONDS = 0.01


class TraceReplay:
    """An aiohttp server answering like the Wiro of one recorded run."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self._served: dict[str, int] = {}
        self._cursor = 0  # index (in records) of the next socket frame to send
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._senders: set[asyncio.Task[None]] = set()
        self.frames_sent = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/{path:.*}", self._rest)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for sender in list(self._senders):
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/socket"

    def _answers(self, path: str, *, probe: bool) -> list[tuple[int, dict[str, Any]]]:
        return [
            (index, r)
            for index, r in enumerate(self.records)
            if r.get("kind") == "rest"
            and r.get("path") == path
            and "status" in r
            and bool(r.get("probe")) == probe
        ]

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: dict[str, Any] = {}
        if request.content_type == "application/json":
            body = await request.json()
        probe = body.get("tasktoken") == PROBE_TOKEN
        # Cancel/Kill were only asked as probes in a live check: give those answers back.
        answers = self._answers(path, probe=probe) or self._answers(path, probe=True)
        if not answers:
            return web.json_response(
                {"result": False, "errors": [{"code": 1, "message": "not in the trace"}]}
            )
        if path == "/Task/Detail" and not probe:
            before = [a for a in answers if a[0] < self._cursor]
            chosen = (before or answers[:1])[-1][1]
        else:
            served = self._served.get(path, 0)
            chosen = answers[min(served, len(answers) - 1)][1]
            self._served[path] = served + 1
        return web.json_response(chosen["body"], status=chosen["status"])

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and json.loads(msg.data).get("type") == "task_info":
                sender = asyncio.get_running_loop().create_task(self._play(ws))
                self._senders.add(sender)
                sender.add_done_callback(self._senders.discard)
        return ws

    async def _play(self, ws: web.WebSocketResponse) -> None:
        for index, record in enumerate(self.records):
            if record.get("kind") != "socket_frame" or index < self._cursor:
                continue
            await asyncio.sleep(FRAME_GAP_SECONDS)
            self._cursor = index + 1
            frame = record.get("frame")
            await ws.send_str(json.dumps(frame) if frame is not None else record.get("raw", ""))
            self.frames_sent += 1
        self._cursor = len(self.records)
