"""The shared Wiro websocket: one connection, `task_info` subscriptions, frames routed by task.

`SocketHub` owns the socket of one `WiroClient` (and its `for_project` siblings): it connects
when the first task is followed, subscribes each task token, routes every frame to the
subscriptions of its task, reconnects with jittered exponential backoff (telling every
subscriber, since Wiro replays nothing), and closes when nobody listens. What the frames mean
is decided in `following.py`; the protocol is in docs/wiro-protocol.md "Socket".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.wiro.lenient import loose_str

if TYPE_CHECKING:
    from bot.wiro.client import WiroClient

log = logging.getLogger(__name__)

MAX_WS_MESSAGE = 16 * 1024 * 1024  # task_output_full can carry all stdout
WS_BACKOFF_BASE = 0.5
WS_BACKOFF_MAX = 30.0
WS_HEARTBEAT = 30.0
RECONNECTED: Any = object()  # queued to every subscriber after each (re)connect
QUEUE_LIMIT = 256


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` (if there is one) and wait until it has ended, whatever it raised."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@dataclass(eq=False)
class Subscription:
    task_id: str
    token: str
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, item: Any) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # drop the oldest: a newer frame supersedes it
        self.queue.put_nowait(item)


class SocketHub:
    """One websocket multiplexing `task_info` subscriptions, frames routed by task.

    Why one shared socket and not one per task (as Wiro's SDKs do): Wiro's server keeps a token
    list per connection, so one connection carries every task this process follows: 20 jobs
    in flight cost one connection, one keep-alive and one reconnect loop instead of 20. The
    price is routing: frames are matched by `tasktoken` when they carry one (older servers),
    else by the top-level `id`, the task id Run returned (what Wiro's documentation says to
    use; its current frames carry no `tasktoken`). See docs/wiro-protocol.md "Socket".
    """

    def __init__(self, client: WiroClient) -> None:
        self._client = client
        self._by_token: dict[str, list[Subscription]] = {}
        self._by_id: dict[str, list[Subscription]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._senders: set[asyncio.Task[None]] = set()
        self.backoff_base = WS_BACKOFF_BASE
        self.connections = 0  # successful connects, for diagnostics and tests
        self.unrouted = 0  # task frames that matched no subscription

    def subscribe(self, task_id: str, token: str) -> Subscription:
        sub = Subscription(str(task_id), token)
        self._by_token.setdefault(token, []).append(sub)
        self._by_id.setdefault(sub.task_id, []).append(sub)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="wiro-socket")
        elif self._ws is not None and not self._ws.closed:
            sender = asyncio.get_running_loop().create_task(self._send_info(self._ws, token))
            self._senders.add(sender)  # keep a reference until it is done
            sender.add_done_callback(self._senders.discard)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for index, key in ((self._by_token, sub.token), (self._by_id, sub.task_id)):
            subs = index.get(key, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                index.pop(key, None)
        # Wiro has no unsubscribe frame; the socket closes when nobody listens.
        if not self._by_token and self._runner is not None:
            self._runner.cancel()
            self._runner = None

    def route(self, frame: dict[str, Any]) -> list[Subscription]:
        """Return the subscriptions a frame belongs to: by `tasktoken` if present, else `id`."""
        token = frame.get("tasktoken")
        if isinstance(token, str) and token:
            return self._by_token.get(token, [])
        task_id = loose_str(frame.get("id"))
        return self._by_id.get(task_id, []) if task_id else []

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        await cancel_and_wait(runner)

    async def _send_info(self, ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
        frame = {"type": "task_info", "tasktoken": token}
        self._client.trace_event({"kind": "socket_send", "frame": frame})
        with contextlib.suppress(Exception):
            await ws.send_str(json.dumps(frame))

    async def _run(self) -> None:
        failures = 0
        while self._by_token:
            try:
                session = self._client.session
                async with asyncio.timeout(self._client.request_timeout):
                    ws = await session.ws_connect(
                        self._client.socket_url,
                        max_msg_size=MAX_WS_MESSAGE,
                        heartbeat=WS_HEARTBEAT,
                        autoping=True,
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure to connect is retried with backoff
                failures += 1
                level = logging.WARNING if failures in (1, 5) else logging.DEBUG
                log.log(level, "Wiro socket connect failed (%s), attempt %d", exc, failures)
                await asyncio.sleep(self._delay(failures))
                continue
            self._ws = ws
            self.connections += 1
            self._client.trace_event({"kind": "socket_open", "url": self._client.socket_url})
            try:
                for token in list(self._by_token):
                    await self._send_info(ws, token)
                for subs in list(self._by_token.values()):
                    for sub in subs:
                        sub.offer(RECONNECTED)
                if failures:
                    log.info("Wiro socket reconnected after %d failed attempts", failures)
                failures = 0
                await self._read(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Wiro socket error: %s", type(exc).__name__)
            finally:
                self._ws = None
                self._client.trace_event({"kind": "socket_close"})
                with contextlib.suppress(Exception):
                    await asyncio.shield(ws.close())
            if self._by_token:
                failures += 1
                log.info("Wiro socket closed; reconnecting")
                await asyncio.sleep(self._delay(failures))

    def _delay(self, failures: int) -> float:
        base = min(WS_BACKOFF_MAX, self.backoff_base * 2 ** max(0, failures - 1))
        return base * random.uniform(0.5, 1.5)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue  # binary frames are for realtime models only
            try:
                frame = json.loads(msg.data)
            except ValueError:
                self._client.trace_event({"kind": "socket_frame", "raw": str(msg.data)[:2000]})
                log.debug("ignored a malformed socket frame")
                continue
            self._client.trace_event({"kind": "socket_frame", "frame": frame})
            if not isinstance(frame, dict):
                continue
            subs = self.route(frame)
            if not subs:
                if loose_str(frame.get("type")).startswith("task_"):
                    self.unrouted += 1  # a task nobody here follows (or an unroutable frame)
                continue  # `connected` welcome
            for sub in subs:
                sub.offer(frame)
