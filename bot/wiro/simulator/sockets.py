"""The simulator's task socket: connections, `task_info` subscriptions, frames to subscribers.

Frames are routed by the task token a connection subscribed with, as Wiro does; a task whose
script says `malformed` has junk sent before each frame.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from bot.wiro.simulator.tasks import SimTask, malformed_burst


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    tokens: set[str] = field(default_factory=set)


class TaskSockets:
    """Every open task socket of the simulator, and who subscribed to which task."""

    def __init__(self) -> None:
        self._conns: set[_Conn] = set()
        self.connections = 0  # sockets ever opened
        self.subscriptions: list[str] = []  # every task_info token received, in order

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one socket: greet it, then record its `task_info` subscriptions."""
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        self.connections += 1
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
                    self.subscriptions.append(token)
        finally:
            self._conns.discard(conn)
        return ws

    async def send(self, task: SimTask, frame: str) -> None:
        """Send one frame to every socket subscribed to `task`."""
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

    async def drop(self, task: SimTask) -> None:
        """Close every socket subscribed to `task` (a dropped connection mid-task)."""
        for conn in [c for c in self._conns if task.token in c.tokens]:
            with contextlib.suppress(Exception):
                await conn.ws.close()

    async def close(self) -> None:
        """Close every socket."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
