"""The /gateway websocket: HELLO, heartbeats, IDENTIFY/READY/GUILD_CREATE, RESUME, dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .world import World

log = logging.getLogger(__name__)

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_ACK = 7, 8, 9, 10, 11
HEARTBEAT_INTERVAL_MS = 41250
REPLAY_BUFFER = 1000
INTENT_GUILD_PRESENCES = 1 << 8
CLOSE_INVALID_SHARD, CLOSE_SHARDING_REQUIRED = 4010, 4011


@dataclass(eq=False)
class Session:
    id: str
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)  # dispatched frames for RESUME
    conn: Connection | None = None
    shard: tuple[int, int] | None = None  # [shard_id, num_shards] from IDENTIFY

    def covers(self, guild_id: int | None) -> bool:
        """Whether this session receives the events of a server (DMs go to shard 0)."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


@dataclass
class Identify:
    """One IDENTIFY the double received, and what it answered."""

    at: float  # monotonic
    shard: tuple[int, int] | None
    outcome: str  # "ready", "rate_limited" (op 9), "4004", "4010", "4011", "4014"
    guilds: int = 0


class Connection:
    """One websocket; frames are serialised under a lock so zlib-stream stays in order."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool, number: int) -> None:
        self.ws = ws
        self.number = number
        self.compressor = zlib.compressobj() if compress else None
        self.lock = asyncio.Lock()
        self.session: Session | None = None
        self.ready = False  # READY and every GUILD_CREATE sent

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one gateway frame (TEXT JSON, or a zlib-stream BINARY chunk)."""
        data = json.dumps(frame, separators=(",", ":"))
        async with self.lock:
            if self.ws.closed:
                return
            if self.compressor is None:
                await self.ws.send_str(data)
            else:
                chunk = self.compressor.compress(data.encode()) + self.compressor.flush(
                    zlib.Z_SYNC_FLUSH
                )
                await self.ws.send_bytes(chunk)


class Gateway:
    """Gateway server state: sessions, live connections, fault hooks."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ws_url = ""  # set by the harness once the port is known
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.ready_count = 0
        self.ack_heartbeats = True  # fault hook: stop answering heartbeats
        self.identifies: list[Identify] = []
        self._bucket_last: dict[int, float] = {}  # identify bucket -> time of its last IDENTIFY
        self._changed = asyncio.Event()
        self._numbers = 0

    def _log(self, direction: str, frame: dict[str, Any], conn: Connection, **extra: Any) -> None:
        self.world.gateway_log.append(
            {
                "dir": direction,
                "conn": conn.number,
                "op": frame.get("op"),
                "t": frame.get("t"),
                "s": frame.get("s"),
                "at": time.monotonic(),
                **extra,
            }
        )

    async def _send(self, conn: Connection, frame: dict[str, Any]) -> None:
        self._log("send", frame, conn)
        await conn.send(frame)

    def live_ready(self) -> list[Connection]:
        """Return the open connections that have completed READY (or RESUMED)."""
        return [c for c in self.connections if c.ready and not c.ws.closed]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway connection until it closes."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._numbers += 1
        compress = (
            request.query.get("compress") == "zlib-stream" and self.world.config.gateway_compression
        )
        conn = Connection(ws, compress, self._numbers)
        self.connections.append(conn)
        self._log("open", {}, conn, query=dict(request.query))
        try:
            await self._send(
                conn,
                {
                    "op": OP_HELLO,
                    "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS},
                    "s": None,
                    "t": None,
                },
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self._log("recv", frame, conn)
                await self._on_frame(conn, frame)
        finally:
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            conn.ready = False
            self._log("close", {}, conn, code=ws.close_code)
        return ws

    async def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            if self.ack_heartbeats:
                await self._send(conn, {"op": OP_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif op == OP_REQUEST_MEMBERS:
            await self._members_chunk(conn, data or {})

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        """IDENTIFY with Discord's rules (topics/gateway "Identifying", "Sharding").

        A bad token closes 4004, a disallowed privileged intent 4014, a shard outside its count
        4010, a session that would hold more than `max_guilds_per_session` servers 4011 ("you
        are required to shard your connection"). Within `identify_interval` of the previous
        IDENTIFY of the same bucket (shard_id % max_concurrency) the answer is op 9, not READY.
        Each accepted IDENTIFY uses one session start."""
        now = time.monotonic()
        w = self.world
        cfg = w.config
        shard = _shard_of(data.get("shard"))
        token = str(data.get("token", ""))
        if token.removeprefix("Bot ") != w.token:
            await self._refuse(conn, now, shard, 4004, "Authentication failed.")
            return
        privileged = (1 << 1) | INTENT_GUILD_PRESENCES | (1 << 15)
        asked = int(data.get("intents", 0))
        if asked & privileged & ~cfg.privileged_intents:
            await self._refuse(conn, now, shard, 4014, "Disallowed intent(s).")
            return
        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            await self._refuse(conn, now, shard, CLOSE_INVALID_SHARD, "Invalid shard.")
            return
        bucket = shard[0] % cfg.max_concurrency if shard else 0
        last = self._bucket_last.get(bucket)
        if last is not None and now - last < cfg.identify_interval:
            self.identifies.append(Identify(now, shard, "rate_limited"))
            await self._send(conn, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        self._bucket_last[bucket] = now
        w.use_session_start()
        session = Session(secrets.token_hex(16), shard=shard)
        guilds = [g for g in w.guilds.values() if session.covers(g.id)]
        if len(guilds) > cfg.max_guilds_per_session:
            await self._refuse(conn, now, shard, CLOSE_SHARDING_REQUIRED, "Sharding required.")
            return
        self.identifies.append(Identify(now, shard, "ready", len(guilds)))
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        user = dict(w.bot_user.payload(), verified=True, mfa_enabled=False, flags=0, email=None)
        ready: dict[str, Any] = {
            "v": 10,
            "user": user,
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.ws_url,
            "application": {"id": str(w.app_id), "flags": w.app_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "_trace": ["discord-double"],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await self._dispatch_to(session, "READY", ready)
        # "If your bot does not have the GUILD_PRESENCES Gateway Intent ... members and presences
        # returned in this event will only contain your bot and users in voice channels"
        # (events/gateway-events "Guild Create").
        only = None if asked & INTENT_GUILD_PRESENCES else {w.bot_user.id}
        for guild in guilds:
            await self._dispatch_to(session, "GUILD_CREATE", guild.payload(member_ids=only))
        conn.ready = True
        self.ready_count += 1
        self._changed.set()

    async def _refuse(
        self, conn: Connection, now: float, shard: tuple[int, int] | None, code: int, why: str
    ) -> None:
        self.identifies.append(Identify(now, shard, str(code)))
        await conn.ws.close(code=code, message=why.encode())

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or str(data.get("token", "")).removeprefix("Bot ") != self.world.token:
            await self._send(conn, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        session.conn = conn
        conn.session = session
        last = int(data.get("seq") or 0)
        for frame in session.buffer:
            if frame["s"] > last:
                await self._send(conn, frame)
        await self._dispatch_to(session, "RESUMED", {"_trace": ["discord-double"]})
        conn.ready = True
        self._changed.set()

    async def _members_chunk(self, conn: Connection, data: dict[str, Any]) -> None:
        guild = self.world.guilds.get(int(data.get("guild_id", 0)))
        if guild is None or conn.session is None:
            return
        members = [m.payload() for m in guild.members.values()]
        wanted = {str(u) for u in data.get("user_ids") or []}
        if wanted:
            members = [m for m in members if m["user"]["id"] in wanted]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        session.buffer.append(frame)
        del session.buffer[:-REPLAY_BUFFER]
        if session.conn is not None:
            await self._send(session.conn, frame)

    async def dispatch(
        self, event: str, data: dict[str, Any], *, guild_id: int | None = None
    ) -> int:
        """Send an event to the identified sessions that carry its server (its shard), or to
        shard 0 when it has none; buffered while a session is disconnected. The server is
        `data["guild_id"]`, or `guild_id` for an event that is a guild object itself."""
        if guild_id is None and data.get("guild_id"):
            guild_id = int(data["guild_id"])
        targets = [
            c.session
            for c in self.connections
            if c.ready and not c.ws.closed and c.session and c.session.covers(guild_id)
        ]
        for session in dict.fromkeys(targets):
            await self._dispatch_to(session, event, data)
        return len(targets)

    def shard_ready(self, shard_id: int) -> bool:
        """Whether a live, READY connection carries shard `shard_id`."""
        return any(
            c.session.shard is not None and c.session.shard[0] == shard_id
            for c in self.live_ready()
            if c.session is not None
        )

    # ----- fault hooks -----
    async def drop(self, code: int = 4000, *, shard: int | None = None) -> None:
        """Close every live connection (or only shard `shard`'s) with `code` (4000 resumes)."""
        for conn in list(self.connections):
            if conn.ws.closed:
                continue
            ids = conn.session.shard if conn.session is not None else None
            if shard is not None and (ids is None or ids[0] != shard):
                continue
            conn.ready = False
            await conn.ws.close(code=code, message=b"double: dropped")

    async def send_op(self, op: int, d: Any = None, *, shard: int | None = None) -> None:
        """Send a raw opcode (7 RECONNECT, 9 INVALID_SESSION) to every live connection (or
        only to shard `shard`'s)."""
        for conn in self.live_ready():
            ids = conn.session.shard if conn.session is not None else None
            if shard is None or (ids is not None and ids[0] == shard):
                await self._send(conn, {"op": op, "d": d, "s": None, "t": None})

    async def close_all(self) -> None:
        """Close every connection (server shutdown)."""
        await self.drop(code=1001)

    async def wait_ready(self, timeout: float, count: int | None = None) -> None:
        """Wait until a live connection is READY (and ready_count reached `count`, if given)."""
        deadline = time.monotonic() + timeout

        def done() -> bool:
            if count is not None and self.ready_count < count:
                return False
            return bool(self.live_ready())

        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no gateway client became ready within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))


def _shard_of(value: Any) -> tuple[int, int] | None:
    """The `shard` field of IDENTIFY as (shard_id, num_shards); malformed is (-1, 0)."""
    if value is None:
        return None
    try:
        shard_id, count = (int(v) for v in value)
    except (TypeError, ValueError):
        return (-1, 0)
    return (shard_id, count)
