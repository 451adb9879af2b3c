"""REST routes of the double (`/api/v10/...`) and the `/cdn/...` blob server."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import mimetypes
import re
import time
from collections import deque
from typing import Any

from aiohttp import web

from . import validate
from .errors import DiscordError, form_error
from .faults import Faults
from .gateway import Gateway
from .menus import check_modal
from .ratelimit import RateLimiter
from .world import (
    ALL_PERMISSIONS,
    ATTACH_FILES,
    MANAGE_MESSAGES,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Call,
    Command,
    Interaction,
    Message,
    User,
    World,
    mint_snowflake,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
CALL_KEY = web.RequestKey("call", Call)
FILE_FIELD = re.compile(r"files\[(\d+)\]")
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
# Which callback types each interaction type accepts.
CALLBACK_TYPES = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return JSON typed exactly `application/json`: discord.py compares the string verbatim."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


class RestApi:
    """Handlers for every REST route; one instance per double."""

    def __init__(self, world: World, gateway: Gateway) -> None:
        self.world = world
        self.gateway = gateway
        self.limiter = RateLimiter()
        self.faults = Faults()
        self._old_edits: dict[int, deque[float]] = {}  # channel -> times of edits of old messages
        self.base_url = ""  # http://127.0.0.1:PORT, set once the port is known
        self._seq = 0
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}

    # ----- wiring -----
    def add_routes(self, app: web.Application) -> None:
        """Register every route on `app`."""
        p = API_PREFIX
        r = app.router
        r.add_get(p + "/users/@me", self.get_me)
        r.add_get(p + "/users/@me/guilds", self.get_my_guilds)
        r.add_get(p + "/users/{user_id}", self.get_user)
        r.add_get(p + "/oauth2/applications/@me", self.get_application)
        r.add_get(p + "/gateway", self.get_gateway)
        r.add_get(p + "/gateway/bot", self.get_gateway_bot)
        for suffix in (
            "/applications/{app_id}/commands",
            "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            r.add_put(p + suffix, self.put_commands)
            r.add_get(p + suffix, self.get_commands)
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self.interaction_callback)
        r.add_post(p + "/webhooks/{app_id}/{token}", self.execute_webhook)
        wm = p + "/webhooks/{app_id}/{token}/messages/{message_id}"
        r.add_get(wm, self.get_webhook_message)
        r.add_patch(wm, self.edit_webhook_message)
        r.add_delete(wm, self.delete_webhook_message)
        r.add_get(p + "/channels/{channel_id}", self.get_channel)
        r.add_get(p + "/channels/{channel_id}/messages", self.get_channel_messages)
        r.add_post(p + "/channels/{channel_id}/messages", self.create_channel_message)
        cm = p + "/channels/{channel_id}/messages/{message_id}"
        r.add_get(cm, self.get_channel_message)
        r.add_patch(cm, self.edit_channel_message)
        r.add_delete(cm, self.delete_channel_message)
        r.add_post(p + "/channels/{channel_id}/typing", self.typing)
        r.add_get(p + "/guilds/{guild_id}", self.get_guild)
        r.add_get(p + "/guilds/{guild_id}/channels", self.get_guild_channels)
        r.add_get(p + "/guilds/{guild_id}/roles", self.get_guild_roles)
        r.add_get(p + "/guilds/{guild_id}/members/{user_id}", self.get_guild_member)
        r.add_route("*", p + "/{tail:.*}", self.unknown_route)
        r.add_get("/cdn/{path:.*}", self.cdn)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Log every REST/CDN call, check auth, apply rate limits, render DiscordErrors."""
        path = request.path
        if not (path.startswith(API_PREFIX) or path.startswith("/cdn/")):
            return await handler(request)
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else None
        if template and template.startswith(API_PREFIX):
            template = template[len(API_PREFIX) :]
        if template == "/{tail}":
            template = None
        self._seq += 1
        call = Call(
            seq=self._seq,
            method=request.method,
            path=path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path,
            query=dict(request.query),
            route=template,
            at=time.monotonic(),
        )
        self.world.calls.append(call)
        request[CALL_KEY] = call
        rl_headers: dict[str, str] = {}
        try:
            needs_auth = path.startswith(API_PREFIX) and template and self._needs_auth(template)
            if needs_auth and request.headers.get("Authorization") != f"Bot {self.world.token}":
                raise DiscordError(0, "401: Unauthorized", status=401)
            fault = self.faults.take(request.method, call.path)
            if fault is not None:
                call.fault = fault.kind
                if fault.kind != "drop":
                    if request.can_read_body:
                        # Recorded all the same: tests compare what each try carried (nonces).
                        with contextlib.suppress(DiscordError, ValueError):
                            await self.read_body(request)
                    response = fault.response()
                    call.status = response.status
                    return response
                if fault.after:
                    try:
                        await handler(request)
                    except DiscordError as exc:
                        call.error_code = exc.code
                call.status = 0
                return self._hang_up(request)
            cfg = self.world.config
            if cfg.rate_limits and cfg.global_limit and template and self._needs_auth(template):
                allowed, retry_after = self.limiter.check_global(cfg.global_limit)
                if not allowed:
                    self.world.rate_limit_hits += 1
                    self.world.global_limit_hits += 1
                    call.status = 429
                    body = {
                        "message": "You are being rate limited.",
                        "retry_after": round(retry_after, 3),
                        "global": True,
                    }
                    headers = {
                        "Retry-After": str(max(1, math.ceil(retry_after))),
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Via": "1.1 google",
                    }
                    return json_response(body, 429, headers)
            if self.world.config.rate_limits and template:
                allowed, rl_headers, retry_after = self.limiter.check(
                    request.method,
                    template,
                    dict(request.match_info),
                    self.world.config.buckets,
                )
                if not allowed:
                    self.world.rate_limit_hits += 1
                    body = {
                        "message": "You are being rate limited.",
                        "retry_after": round(retry_after, 3),
                        "global": False,
                    }
                    call.status = 429
                    return json_response(body, 429, rl_headers)
            response = await handler(request)
        except DiscordError as exc:
            call.error_code = exc.code
            response = json_response(exc.body(), exc.status, exc.headers or None)
        if not response.prepared:
            response.headers.update(rl_headers)
        call.status = response.status
        return response

    @staticmethod
    def _hang_up(request: web.Request) -> web.StreamResponse:
        """Close the client's connection without an answer (a dropped connection)."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never reaches the client: the socket is gone

    @staticmethod
    def _needs_auth(template: str) -> bool:
        return not (template.startswith("/webhooks/") or template.startswith("/interactions/"))

    async def read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        """Parse JSON or multipart (payload_json in any part type, files[n]); record both."""
        call: Call = request[CALL_KEY]
        payload: Any = None
        files: list[dict[str, Any]] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]
                name = part.name or ""  # type: ignore[union-attr]
                if name == "payload_json":
                    payload = json.loads(data.decode())
                    continue
                m = FILE_FIELD.fullmatch(name)
                files.append(
                    {
                        "field": name,
                        "index": int(m.group(1)) if m else None,
                        "filename": part.filename,  # type: ignore[union-attr]
                        "content_type": part.headers.get("Content-Type"),
                        "size": len(data),
                        "data": bytes(data),
                    }
                )
            if payload is None:
                payload = {}
        elif request.can_read_body:
            raw = await request.read()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError as exc:
                raise DiscordError(
                    50109, "The request body contains invalid JSON.", status=400
                ) from exc
        call.json = payload
        call.files = [{k: v for k, v in f.items() if k != "data"} for f in files]
        return payload, files

    # ----- identity -----
    async def get_me(self, request: web.Request) -> web.Response:
        """GET /users/@me."""
        user = self.world.bot_user.payload()
        user.update(verified=True, mfa_enabled=False, flags=0, email=None, locale="en-US")
        return json_response(user)

    async def get_user(self, request: web.Request) -> web.Response:
        """GET /users/{id}."""
        user = self.world.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise DiscordError(10013, "Unknown User", status=404)
        return json_response(user.payload())

    async def get_application(self, request: web.Request) -> web.Response:
        """GET /oauth2/applications/@me with every field AppInfo requires."""
        w = self.world
        return json_response(
            {
                "id": str(w.app_id),
                "name": w.app_name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": w.owner.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": w.app_flags,
                "bot": w.bot_user.payload(),
                "rpc_origins": [],
                "tags": [],
                "approximate_guild_count": len(w.guilds),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "integration_types_config": {"0": {}},
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        """GET /gateway."""
        return json_response({"url": self.gateway.ws_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """GET /gateway/bot (only AutoShardedClient asks): the recommended shard count and the
        session start limit (topics/gateway "Get Gateway Bot", "Session Start Limit Object")."""
        w = self.world
        left, reset = w.session_starts_left()
        return json_response(
            {
                "url": self.gateway.ws_url,
                "shards": w.recommended_shards(),
                "session_start_limit": {
                    "total": w.config.session_starts,
                    "remaining": left,
                    "reset_after": int(reset * 1000),
                    "max_concurrency": w.config.max_concurrency,
                },
            }
        )

    # ----- application commands -----
    def _check_app(self, request: web.Request) -> int | None:
        if request.match_info["app_id"] != str(self.world.app_id):
            raise DiscordError(10002, "Unknown Application", status=404)
        gid = request.match_info.get("guild_id")
        if gid is None:
            return None
        if int(gid) not in self.world.guilds:
            raise DiscordError(10004)
        return int(gid)

    def _scope(self, guild_id: int | None) -> dict[str, Command]:
        if guild_id is None:
            return self.world.global_commands
        return self.world.guild_commands.setdefault(guild_id, {})

    async def put_commands(self, request: web.Request) -> web.Response:
        """PUT (bulk overwrite) global or guild commands: validate, keep ids by name, store."""
        guild_id = self._check_app(request)
        body, _ = await self.read_body(request)
        validate.check_commands(body)
        body = body or []  # `null` overwrites with nothing, like []
        old = self._scope(guild_id)
        new: dict[str, Command] = {}
        for cmd in body:
            ctype = cmd.get("type", 1)
            key = cmd["name"] if ctype == 1 else f"{ctype}:{cmd['name']}"
            previous = old.get(key)
            cid = previous.id if previous else mint_snowflake()
            stored = {
                "id": str(cid),
                "application_id": str(self.world.app_id),
                "version": str(mint_snowflake()),
                "type": ctype,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description", ""),
                "description_localizations": cmd.get("description_localizations"),
                "options": cmd.get("options") or [],
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types", [0]),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            new[key] = Command(cid, guild_id, stored)
        old.clear()
        old.update(new)
        self.world.sync_count += 1
        return json_response([c.payload for c in new.values()])

    async def get_commands(self, request: web.Request) -> web.Response:
        """GET global or guild commands."""
        guild_id = self._check_app(request)
        return json_response([c.payload for c in self._scope(guild_id).values()])

    # ----- messages: shared machinery -----
    def _store_attachments(
        self,
        msg: Message,
        payload: dict[str, Any],
        files: list[dict[str, Any]],
        keep: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Return the message's attachments: retained ones plus one per uploaded file."""
        declared = {str(a.get("id")): a for a in payload.get("attachments") or []}
        result = list(keep)
        for f in files:
            meta = declared.get(str(f["index"]), {})
            filename = meta.get("filename") or f["filename"] or "file"
            att_id = mint_snowflake()
            path = f"/cdn/attachments/{msg.channel_id}/{att_id}/{filename}"
            # Discord types an upload by its file name (discord.py sends every file as
            # application/octet-stream): a bot's "first-frame.jpg" is an image/jpeg attachment.
            content_type = f["content_type"] or "application/octet-stream"
            if content_type == "application/octet-stream":
                content_type = mimetypes.guess_type(filename)[0] or content_type
            self.world.blobs[path] = (f["data"], content_type)
            att = {
                "id": str(att_id),
                "filename": filename,
                "size": f["size"],
                "url": self.base_url + path,
                "proxy_url": self.base_url + path,
                "content_type": content_type,
            }
            if meta.get("description"):
                att["description"] = meta["description"]
            if msg.ephemeral:
                att["ephemeral"] = True
            result.append(att)
        return result

    async def _announce(self, event: str, msg: Message) -> None:
        if not self.world.config.emit_message_events or msg.ephemeral:
            return
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        else:
            data = msg.payload(self.world)
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            if event == "MESSAGE_CREATE":
                # The author's real roles, as Discord sends them (discord.py copies them onto
                # its cached member, so an empty list would strip the bot of its role).
                guild = self.world.guilds.get(msg.guild_id)
                author = guild.members.get(msg.author.id) if guild else None
                data["member"] = {
                    "roles": [str(r) for r in author.roles] if author else [],
                    "joined_at": data["timestamp"],
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
        await self.gateway.dispatch(event, data)

    async def create_message(
        self,
        *,
        channel_id: int,
        payload: dict[str, Any],
        files: list[dict[str, Any]],
        limit: int,
        author: User | None = None,
        interaction: Interaction | None = None,
        extra_flags: int = 0,
        allow_ephemeral: bool = False,
        msg_type: int = 0,
        reference: dict[str, Any] | None = None,
    ) -> Message:
        """Validate and store a new message, then emit MESSAGE_CREATE when it is visible."""
        loading = bool(extra_flags & MESSAGE_FLAG_LOADING)
        validate.check_message(payload, files, limit)
        if not loading and validate.is_empty_message(payload, files):
            raise DiscordError(50006, "Cannot send an empty message", status=400)
        ch = self.world.channels[channel_id]
        flags = int(payload.get("flags") or 0) & (
            CREATE_FLAGS | (MESSAGE_FLAG_EPHEMERAL if allow_ephemeral else 0)
        )
        msg = Message(
            id=mint_snowflake(),
            channel_id=channel_id,
            guild_id=ch.guild_id,
            author=author or self.world.bot_user,
            content=str(payload.get("content") or ""),
            embeds=list(payload.get("embeds") or []),
            components=list(payload.get("components") or []),
            flags=flags | extra_flags,
            nonce=payload.get("nonce"),
            allowed_mentions=payload.get("allowed_mentions"),
            type=msg_type,
            webhook_id=self.world.app_id if interaction else None,
            interaction_id=interaction.id if interaction else None,
            message_reference=reference,
        )
        msg.attachments = self._store_attachments(msg, payload, files, [])
        self.world.messages[msg.id] = msg
        await self._announce("MESSAGE_CREATE", msg)
        return msg

    async def edit_message(
        self, msg: Message, payload: dict[str, Any], files: list[dict[str, Any]], limit: int
    ) -> Message:
        """Apply an edit body (v10 semantics: `attachments` lists what remains)."""
        existing = {a["id"] for a in msg.attachments}
        validate.check_message(payload, files, limit, existing_ids=existing)
        self._count_old_edit(msg)
        before = msg.payload(self.world)
        if "content" in payload:
            msg.content = str(payload["content"] or "")
        if "embeds" in payload:
            msg.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            msg.components = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            msg.allowed_mentions = payload["allowed_mentions"]
        if payload.get("flags") is not None:
            keep = msg.flags & (MESSAGE_FLAG_EPHEMERAL | FLAG_COMPONENTS_V2)
            msg.flags = keep | (int(payload["flags"]) & (FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
        if "attachments" in payload:
            keep_ids = {str(a.get("id")) for a in payload["attachments"] or []}
            kept = [a for a in msg.attachments if a["id"] in keep_ids]
            msg.attachments = self._store_attachments(msg, payload, files, kept)
        elif files:
            msg.attachments = self._store_attachments(msg, payload, files, msg.attachments)
        msg.flags &= ~MESSAGE_FLAG_LOADING
        if validate.is_empty_message(
            {"content": msg.content, "embeds": msg.embeds, "components": msg.components},
            msg.attachments,
        ):
            msg.content, msg.embeds, msg.components = (
                before["content"],
                before["embeds"],
                before["components"],
            )
            raise DiscordError(50006, "Cannot send an empty message", status=400)
        msg.history.append(before)
        msg.edited_at = time.time()
        await self._announce("MESSAGE_UPDATE", msg)
        return msg

    def _count_old_edit(self, msg: Message) -> None:
        """Apply the opt-in 30046 limit: a rolling window per channel over edits of old messages.

        Discord reports it as a 429 whose body carries code 30046 (seen in the wild as
        "429 Too Many Requests (error code: 30046)"); the numbers are unpublished
        (discord-api-docs#4413), so they are Config parameters."""
        cfg = self.world.config
        now = time.time()
        if cfg.old_edit_age is None or now - msg.created_at <= cfg.old_edit_age:
            return
        window = self._old_edits.setdefault(msg.channel_id, deque())
        while window and now - window[0] >= cfg.old_edit_window:
            window.popleft()
        if len(window) >= cfg.old_edit_allowance:
            retry_after = (window[0] + cfg.old_edit_window - now) if window else cfg.old_edit_window
            raise DiscordError(
                30046,
                extra={"retry_after": round(retry_after, 3), "global": False},
                headers={"Via": "1.1 google", "Retry-After": str(max(1, round(retry_after)))},
            )
        window.append(now)

    async def _delete(self, msg: Message) -> web.Response:
        msg.deleted = True
        await self._announce("MESSAGE_DELETE", msg)
        return web.Response(status=204)

    # ----- channels -----
    def _channel(self, request: web.Request) -> int:
        try:
            cid = int(request.match_info["channel_id"])
        except ValueError as exc:
            raise DiscordError(10003) from exc
        if cid not in self.world.channels:
            raise DiscordError(10003)
        return cid

    def bot_permissions(self, channel_id: int) -> int:
        """The bot's permissions in a channel (roles and overwrites; topics/permissions)."""
        ch = self.world.channels[channel_id]
        guild = self.world.guilds.get(ch.guild_id)
        bot_id = self.world.bot_user.id
        if guild is None or bot_id not in guild.members:
            return ALL_PERMISSIONS
        return guild.permissions_in(ch, bot_id)

    def _require(self, channel_id: int, needed: int = 0) -> int:
        """Raise 50001 without View Channel and 50013 without `needed`; return the permissions.

        opcodes-and-status-codes: 50001 "Missing Access", 50013 "You lack permissions to
        perform that action"."""
        perms = self.bot_permissions(channel_id)
        if not perms & VIEW_CHANNEL:
            raise DiscordError(50001)
        if needed & ~perms:
            raise DiscordError(50013)
        return perms

    def _channel_message(self, request: web.Request, needed: int = 0) -> Message:
        cid = self._channel(request)
        self._require(cid, needed)
        try:
            msg = self.world.messages.get(int(request.match_info["message_id"]))
        except ValueError as exc:
            raise DiscordError(10008) from exc
        if msg is None or msg.channel_id != cid or msg.deleted or msg.ephemeral:
            raise DiscordError(10008)
        return msg

    async def get_channel(self, request: web.Request) -> web.Response:
        """GET /channels/{c}."""
        cid = self._channel(request)
        self._require(cid)
        return json_response(self.world.channels[cid].payload())

    async def get_channel_messages(self, request: web.Request) -> web.Response:
        """GET /channels/{c}/messages ("Get Channel Messages", resources/message).

        Newest first. `before`, `after` and `around` are exclusive cursors: `after` returns the
        oldest `limit` messages after the id (still newest first), `before` the newest ones
        before it. Without Read Message History the answer is an empty list, not an error."""
        cid = self._channel(request)
        perms = self._require(cid)
        q = request.query
        try:
            limit = int(q.get("limit", 50))
        except ValueError as exc:
            raise form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.") from exc
        if not 1 <= limit <= 100:
            raise form_error(
                "limit", "NUMBER_TYPE_MAX", "int value should be less than or equal to 100."
            )
        if not perms & READ_MESSAGE_HISTORY:
            return json_response([])
        msgs = self.world.visible_messages(cid)  # oldest first
        if "around" in q:
            pivot = int(q["around"])
            index = next((i for i, m in enumerate(msgs) if m.id >= pivot), len(msgs))
            start = max(0, index - limit // 2)
            msgs = msgs[start : start + limit]
        elif "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])][-limit:]
        elif "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
        else:
            msgs = msgs[-limit:]
        return json_response([m.payload(self.world) for m in reversed(msgs)])

    def _reference(
        self, cid: int, perms: int, ref: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, int]:
        """Resolve a create body's `message_reference`; return (stored reference, message type).

        Replying needs Read Message History (160002). A reference to a message that does not
        exist (or was deleted) is 400 50035 MESSAGE_REFERENCE_UNKNOWN_MESSAGE, unless
        `fail_if_not_exists` is false: then the message is sent as a plain one ("Message
        Reference Structure", resources/message)."""
        if not perms & READ_MESSAGE_HISTORY:
            raise DiscordError(160002)
        try:
            target = self.world.messages.get(int(ref.get("message_id") or 0))
            ref_channel = int(ref.get("channel_id") or cid)
        except (TypeError, ValueError):
            target, ref_channel = None, cid
        if (
            target is None
            or target.deleted
            or target.ephemeral
            or target.channel_id != ref_channel
            or ref_channel != cid
        ):
            if ref.get("fail_if_not_exists", True) is False:
                return None, 0
            raise form_error(
                "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
            )
        stored = {
            "type": 0,
            "channel_id": str(target.channel_id),
            "message_id": str(target.id),
        }
        if target.guild_id is not None:
            stored["guild_id"] = str(target.guild_id)
        return stored, 19

    async def create_channel_message(self, request: web.Request) -> web.Response:
        """POST /channels/{c}/messages (JSON or multipart), honouring nonce + enforce_nonce.

        "Create Message" (resources/message): needs View Channel (else 50001) and Send Messages
        (else 50013), Attach Files for files, Read Message History for a reply. With
        `enforce_nonce`, a nonce seen in the last few minutes returns the message it created;
        if that message was deleted since, the answer is 404 10008 Unknown Message."""
        cid = self._channel(request)
        perms = self._require(cid, SEND_MESSAGES)
        payload, files = await self.read_body(request)
        if not isinstance(payload, dict):
            raise form_error(
                "_", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
        if files and not perms & ATTACH_FILES:
            raise DiscordError(50013)
        author = self.world.bot_user
        nonce = payload.get("nonce")
        now = time.time()
        if nonce is not None and payload.get("enforce_nonce"):
            seen = self._nonces.get((cid, author.id, str(nonce)))
            if seen and now - seen[1] < self.world.config.nonce_window:
                request[CALL_KEY].json = dict(payload, _deduplicated_to=str(seen[0]))
                earlier = self.world.messages.get(seen[0])
                if earlier is None or earlier.deleted:
                    raise DiscordError(10008)
                return json_response(earlier.payload(self.world))
        reference, msg_type = None, 0
        if payload.get("message_reference"):
            reference, msg_type = self._reference(cid, perms, payload["message_reference"])
        msg = await self.create_message(
            channel_id=cid,
            payload=payload,
            files=files,
            limit=self.world.upload_limit_for_channel(cid),
            author=author,
            msg_type=msg_type,
            reference=reference,
        )
        if nonce is not None and payload.get("enforce_nonce"):
            self._nonces[(cid, author.id, str(nonce))] = (msg.id, now)
        return json_response(msg.payload(self.world))

    async def get_channel_message(self, request: web.Request) -> web.Response:
        """GET /channels/{c}/messages/{m} (needs Read Message History, else 50013)."""
        msg = self._channel_message(request, READ_MESSAGE_HISTORY)
        return json_response(msg.payload(self.world))

    async def edit_channel_message(self, request: web.Request) -> web.Response:
        """PATCH /channels/{c}/messages/{m}.

        "Edit Message" (resources/message): the author may edit content, embeds and flags;
        others may edit only `flags`, and only with Manage Messages in the channel."""
        msg = self._channel_message(request)
        payload, files = await self.read_body(request)
        payload = payload or {}
        if msg.author.id != self.world.bot_user.id:
            others = {k for k, v in payload.items() if k != "flags" and v is not None}
            if others or files:
                raise DiscordError(50005)
            self._require(msg.channel_id, MANAGE_MESSAGES)
        msg = await self.edit_message(
            msg, payload, files, self.world.upload_limit_for_channel(msg.channel_id)
        )
        return json_response(msg.payload(self.world))

    async def delete_channel_message(self, request: web.Request) -> web.Response:
        """DELETE /channels/{c}/messages/{m} (someone else's needs Manage Messages)."""
        msg = self._channel_message(request)
        if msg.author.id != self.world.bot_user.id:
            self._require(msg.channel_id, MANAGE_MESSAGES)
        return await self._delete(msg)

    async def typing(self, request: web.Request) -> web.Response:
        """POST /channels/{c}/typing."""
        self._require(self._channel(request), SEND_MESSAGES)
        return web.Response(status=204)

    # ----- guilds -----
    def _guild(self, request: web.Request):  # type: ignore[no-untyped-def]
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise DiscordError(10004)
        return guild

    async def get_my_guilds(self, request: web.Request) -> web.Response:
        """GET /users/@me/guilds: partial guilds the bot is in (ids after `after`, `limit`)."""
        after = int(request.query.get("after", "0"))
        limit = min(200, int(request.query.get("limit", "200")))
        bot_id = self.world.bot_user.id
        guilds = sorted(
            (g for g in self.world.guilds.values() if bot_id in g.members and g.id > after),
            key=lambda g: g.id,
        )[:limit]
        return json_response(
            [
                {
                    "id": str(g.id),
                    "name": g.name,
                    "icon": None,
                    "owner": g.owner_id == bot_id,
                    "permissions": str(g.permissions_of(bot_id)),
                    "features": [],
                    "approximate_member_count": len(g.members),
                    "approximate_presence_count": 0,
                }
                for g in guilds
            ]
        )

    async def get_guild(self, request: web.Request) -> web.Response:
        """GET /guilds/{g}."""
        data = self._guild(request).payload()
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return json_response(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        """GET /guilds/{g}/channels."""
        return json_response([c.payload() for c in self._guild(request).channels.values()])

    async def get_guild_roles(self, request: web.Request) -> web.Response:
        """GET /guilds/{g}/roles."""
        return json_response([r.payload() for r in self._guild(request).roles.values()])

    async def get_guild_member(self, request: web.Request) -> web.Response:
        """GET /guilds/{g}/members/{u}."""
        member = self._guild(request).members.get(int(request.match_info["user_id"]))
        if member is None:
            raise DiscordError(10007)
        return json_response(member.payload())

    # ----- interactions and their webhooks -----
    async def interaction_callback(self, request: web.Request) -> web.Response:
        """POST /interactions/{id}/{token}/callback: the initial response, types 4-9."""
        try:
            inter = self.world.interactions.get(int(request.match_info["interaction_id"]))
        except ValueError:
            inter = None
        if inter is None or inter.token != request.match_info["token"]:
            raise DiscordError(10062)
        payload, files = await self.read_body(request)
        if inter.ack_type is not None:
            raise DiscordError(40060)
        deadline = self.world.config.ack_deadline
        now = time.time()
        if deadline is not None and now - inter.created_at > deadline:
            raise DiscordError(10062)
        payload = payload or {}
        rtype = payload.get("type")
        data = payload.get("data") or {}
        if rtype not in CALLBACK_TYPES.get(inter.type, set()):
            raise form_error(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Invalid response type {rtype} for interaction type {inter.type}",
            )
        msg: Message | None = None
        loading = False
        limit = inter.attachment_size_limit
        if rtype == 4:
            msg = await self.create_message(
                channel_id=inter.channel_id,
                payload=data,
                files=files,
                limit=limit,
                interaction=inter,
                allow_ephemeral=True,
                msg_type=20 if inter.type == 2 else 0,
            )
            inter.original_message_id = msg.id
        elif rtype == 5:
            eph = int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL
            msg = await self.create_message(
                channel_id=inter.channel_id,
                payload={},
                files=[],
                limit=limit,
                interaction=inter,
                extra_flags=MESSAGE_FLAG_LOADING | eph,
                msg_type=20 if inter.type == 2 else 0,
            )
            inter.original_message_id = msg.id
            inter.deferred_pending = loading = True
        elif rtype in (6, 7):
            target = self._interacted_message(inter)
            inter.original_message_id = target.id if target else None
            if rtype == 7:
                if target is None:
                    raise DiscordError(10008)
                msg = await self.edit_message(target, data, files, limit)
        elif rtype == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise form_error(
                    "data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            inter.response_data = data
        elif rtype == 9:
            check_modal(data)
            inter.response_data = data
        inter.ack_type = rtype
        inter.ack_at = time.monotonic()
        inter.ack_wall = now
        inter.ephemeral = bool(msg and msg.ephemeral)
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        resource: dict[str, Any] = {"type": rtype}
        if msg is not None:
            resource["message"] = msg.payload(self.world)
        body: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": str(msg.id) if msg else None,
                "response_message_loading": loading,
                "response_message_ephemeral": bool(msg and msg.ephemeral),
            },
        }
        if rtype in (4, 5, 7, 8, 9):
            body["resource"] = resource
        return json_response(body)

    def _interacted_message(self, inter: Interaction) -> Message | None:
        raw = inter.payload.get("message")
        return self.world.messages.get(int(raw["id"])) if raw else None

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        inter = self.world.interaction_by_token(request.match_info["token"])
        if inter is None or request.match_info["app_id"] != str(self.world.app_id):
            raise DiscordError(10015)
        if time.time() - inter.created_at > self.world.config.token_ttl:
            raise DiscordError(50027)
        return inter

    def _webhook_message(self, request: web.Request, inter: Interaction) -> Message:
        ref = request.match_info["message_id"]
        if ref == "@original":
            mid = inter.original_message_id
        else:
            try:
                mid = int(ref)
            except ValueError as exc:
                raise DiscordError(10008) from exc
            if mid != inter.original_message_id and mid not in inter.followup_ids:
                mid = None
        msg = self.world.messages.get(mid) if mid is not None else None
        if msg is None or msg.deleted:
            raise DiscordError(10008)
        return msg

    async def execute_webhook(self, request: web.Request) -> web.Response:
        """POST /webhooks/{app}/{token}: followup; the first after type 5 fills the loading one."""
        inter = self._webhook_interaction(request)
        payload, files = await self.read_body(request)
        if inter.ack_type is None:
            raise DiscordError(10015)
        payload = payload or {}
        limit = inter.attachment_size_limit
        if inter.deferred_pending and inter.original_message_id in self.world.messages:
            msg = await self.edit_message(
                self.world.messages[inter.original_message_id], payload, files, limit
            )
            inter.deferred_pending = False
        else:
            msg = await self.create_message(
                channel_id=inter.channel_id,
                payload=payload,
                files=files,
                limit=limit,
                interaction=inter,
                allow_ephemeral=True,
            )
            inter.followup_ids.append(msg.id)
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return json_response(msg.payload(self.world))

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        """GET /webhooks/{app}/{token}/messages/{@original|id}."""
        inter = self._webhook_interaction(request)
        return json_response(self._webhook_message(request, inter).payload(self.world))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        """PATCH /webhooks/{app}/{token}/messages/{@original|id}."""
        inter = self._webhook_interaction(request)
        msg = self._webhook_message(request, inter)
        payload, files = await self.read_body(request)
        msg = await self.edit_message(msg, payload or {}, files, inter.attachment_size_limit)
        if msg.id == inter.original_message_id:
            inter.deferred_pending = False
        return json_response(msg.payload(self.world))

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        """DELETE /webhooks/{app}/{token}/messages/{@original|id}."""
        inter = self._webhook_interaction(request)
        return await self._delete(self._webhook_message(request, inter))

    # ----- fallbacks -----
    async def unknown_route(self, request: web.Request) -> web.Response:
        """Answer 404 in Discord's shape and flag the call, so gaps in the double show up."""
        call: Call = request[CALL_KEY]
        call.unknown_route = True
        if request.can_read_body:
            await self.read_body(request)
        log.warning("discord double: unknown route %s %s", request.method, request.path)
        raise DiscordError(0, "404: Not Found")

    async def cdn(self, request: web.Request) -> web.StreamResponse:
        """Stream a stored attachment."""
        blob = self.world.blobs.get(request.path)
        if blob is None:
            return web.Response(status=404, text="Not Found")
        data, content_type = blob
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        resp.content_length = len(data)
        await resp.prepare(request)
        view = memoryview(data)
        for start in range(0, len(data), 64 * 1024):
            await resp.write(view[start : start + 64 * 1024])
        await resp.write_eof()
        return resp
