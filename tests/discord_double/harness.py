"""`DiscordDouble`: the pytest-facing handle on a local Discord (REST, gateway, CDN, control)."""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import inspect
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import DiscordError
from .faults import Fault, Faults, RateLimitScope
from .gateway import Gateway
from .interactions import AttachmentSpec, base_payload, command_data, component_data
from .menus import image_dimensions, message_command_data, modal_submit_data
from .rest import RestApi, json_response
from .world import (
    DISCORD_EPOCH_MS,
    OVERWRITE_MEMBER,
    OVERWRITE_ROLE,
    Call,
    Channel,
    Config,
    Guild,
    Interaction,
    Member,
    Message,
    Overwrite,
    Role,
    User,
    World,
    mint_snowflake,
)

UserRef = int | User | Member | None
# The fields of a guild that only GUILD_CREATE carries ("Guild Create": extra fields).
_GUILD_CREATE_ONLY = (
    "joined_at",
    "large",
    "unavailable",
    "member_count",
    "voice_states",
    "members",
    "channels",
    "threads",
    "presences",
    "stage_instances",
    "guild_scheduled_events",
    "soundboard_sounds",
)


def mint_on_shard(shard_id: int, count: int) -> int:
    """Mint a snowflake (now or a few ms earlier) whose server lands on shard `shard_id`."""
    probe = mint_snowflake()
    ms = probe >> 22
    back = (ms - shard_id) % count
    return ((ms - back) << 22) | (probe & 0x3FFFFF)


# View Channel, Send Messages, Embed Links, Attach Files, Read Message History: what the README's
# invite link asks for.
BOT_INVITE_PERMISSIONS = 1024 | 2048 | 16384 | 32768 | 65536
# @everyone in a new server: invite, react, stream, view, send (and TTS), mention @everyone,
# external emojis. Not Manage Messages nor View Audit Log: those are moderators' permissions.
EVERYONE_PERMISSIONS = 0x0000_0000_0006_1E41


class DiscordDouble:
    """A fake Discord on 127.0.0.1:<ephemeral port>; use as `async with DiscordDouble() as dd`."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        config: Config | None = None,
        seed: bool = True,
        premium_tier: int = 0,
    ) -> None:
        self.world = World(token=token, config=config)
        self.gateway = Gateway(self.world)
        self.rest = RestApi(self.world, self.gateway)
        self.app = web.Application(
            middlewares=[self.rest.middleware], client_max_size=256 * 1024**2
        )
        self.app.router.add_get("/gateway", self.gateway.handle)
        self.rest.add_routes(self.app)
        self._add_control_routes()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.guild: Guild | None = None
        self.channel: Channel | None = None
        self.user: User | None = None
        if seed:
            self.guild = self.add_guild("Double Guild", premium_tier=premium_tier)
            self.channel = self.add_channel("general")
            self.user = self.add_member(name="tester").user

    # ----- lifecycle -----
    async def start(self) -> None:
        """Bind 127.0.0.1 on an ephemeral port and serve."""
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.gateway.ws_url = self.gateway_url
        self.rest.base_url = self.base_url

    async def close(self) -> None:
        """Close gateway connections and stop the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Return the value for discord.http.Route.BASE."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Return the value for DiscordWebSocket.DEFAULT_GATEWAY."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def token(self) -> str:
        """Return the bot token the double accepts."""
        return self.world.token

    def env(self) -> dict[str, str]:
        """Return env vars that point tests/e2e/launch_bot.py at this double."""
        return {
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "DISCORD_TOKEN": self.token,
        }

    # ----- world building (before the bot connects: GUILD_CREATE is sent at IDENTIFY) -----
    def _ch(self, channel: Channel | int | None) -> Channel:
        """The channel given, by object or id; the default channel when None."""
        if isinstance(channel, Channel):
            return channel
        if channel is None:
            if self.channel is None:
                raise ValueError("no default channel; pass channel=")
            return self.channel
        return self.world.channels[int(channel)]

    def _g(self, guild: Guild | int | None) -> Guild:
        if guild is None:
            if self.guild is None:
                raise ValueError("no default guild; pass guild=")
            return self.guild
        return guild if isinstance(guild, Guild) else self.world.guilds[int(guild)]

    def add_guild(
        self,
        name: str = "Guild",
        *,
        premium_tier: int = 0,
        owner_id: int | None = None,
        shard: tuple[int, int] | None = None,
        preferred_locale: str = "en-US",
    ) -> Guild:
        """Add a guild with its @everyone role and the bot as a member; with `shard`
        (shard_id, num_shards) its id is minted so that it lands on that shard.
        `preferred_locale` is the server's language in Discord (`guild_locale`)."""
        w = self.world
        gid = mint_snowflake() if shard is None else mint_on_shard(*shard)
        guild = Guild(gid, name, owner_id or w.owner.id, premium_tier)
        guild.preferred_locale = preferred_locale
        guild.roles[guild.id] = Role(guild.id, "@everyone", permissions=EVERYONE_PERMISSIONS)
        w.guilds[guild.id] = guild
        guild.members[w.owner.id] = Member(w.owner)
        # Like a real invite with permissions: the bot gets its own managed role carrying them.
        bot_role = Role(mint_snowflake(), w.bot_user.username, permissions=BOT_INVITE_PERMISSIONS)
        guild.roles[bot_role.id] = bot_role
        guild.members[w.bot_user.id] = Member(w.bot_user, roles=[bot_role.id])
        if self.guild is None:
            self.guild = guild
        return guild

    def add_guilds(self, count: int, *, seed: int = 25) -> list[Guild]:
        """Add `count` servers of realistic size, spread evenly over any shard count.

        Channel and role counts follow a log-normal spread (seeded): a median server has 12
        channels (text, voice and categories; channel 1 is a text #general) and 8 roles besides
        @everyone and the bot's, one in a hundred more than about 85 and 55, capped at Discord's
        500 channels and 250 roles; member counts are a median 60 (only the bot is in
        GUILD_CREATE without the presences intent, as on Discord)."""
        rng = random.Random(seed)
        w = self.world
        base_ms = int(time.time() * 1000) - 1
        made: list[Guild] = []
        for i in range(count):
            # One millisecond apart: (id >> 22) % n runs through every shard in turn.
            gid = ((base_ms - i - DISCORD_EPOCH_MS) << 22) | (i & 0x3FFFFF)
            guild = Guild(gid, f"Server {i}", w.owner.id)
            guild.member_count = 2 + int(rng.lognormvariate(math.log(60), 1.5))
            guild.roles[gid] = Role(gid, "@everyone", permissions=EVERYONE_PERMISSIONS)
            for r in range(min(250, int(rng.lognormvariate(math.log(8), 0.85)))):
                role = Role(gid + 1 + r, f"role-{r}", permissions=0, position=r + 1)
                guild.roles[role.id] = role
            bot_role = Role(gid + 300, w.bot_user.username, BOT_INVITE_PERMISSIONS, managed=True)
            guild.roles[bot_role.id] = bot_role
            guild.members[w.owner.id] = Member(w.owner)
            guild.members[w.bot_user.id] = Member(w.bot_user, roles=[bot_role.id])
            n_channels = max(2, min(500, int(rng.lognormvariate(math.log(12), 0.85))))
            category: int | None = None
            for c in range(n_channels):
                # A category, then #general; then one category per five, a quarter voice.
                ctype = 4 if c % 5 == 0 else (0 if c == 1 or rng.random() >= 0.25 else 2)
                name = "general" if c == 1 else f"channel-{c}"
                ch = Channel(gid + 400 + c, gid, name, ctype, position=c, parent_id=category)
                if ctype == 4:
                    category, ch.parent_id = ch.id, None
                guild.channels[ch.id] = ch
                w.channels[ch.id] = ch
            w.guilds[gid] = guild
            made.append(guild)
        return made

    def add_channel(self, name: str, *, guild: Guild | int | None = None, type: int = 0) -> Channel:
        """Add a channel (type 0 text by default)."""
        g = self._g(guild)
        ch = Channel(mint_snowflake(), g.id, name, type, position=len(g.channels))
        g.channels[ch.id] = ch
        self.world.channels[ch.id] = ch
        if self.channel is None:
            self.channel = ch
        return ch

    def add_role(
        self,
        name: str,
        *,
        guild: Guild | int | None = None,
        permissions: int = 0,
        position: int | None = None,
    ) -> Role:
        """Add a role with a permission bit set."""
        g = self._g(guild)
        role = Role(
            mint_snowflake(), name, permissions, len(g.roles) if position is None else position
        )
        g.roles[role.id] = role
        return role

    def add_member(
        self,
        user_id: int | None = None,
        name: str = "member",
        *,
        guild: Guild | int | None = None,
        roles: list[Role | int] = (),  # type: ignore[assignment]
        permissions: int | None = None,
        upload_limit: int | None = None,
        locale: str | None = None,
    ) -> Member:
        """Add a member; `permissions` overrides the role computation for this member;
        `locale` is their Discord client's language (default en-US; a user has one in every
        server)."""
        g = self._g(guild)
        uid = user_id or mint_snowflake()
        user = self.world.users.get(uid) or User(uid, name, name.title())
        if locale is not None:
            user.locale = locale
        self.world.users[uid] = user
        role_ids = [r.id if isinstance(r, Role) else int(r) for r in roles]
        member = Member(user, role_ids, permissions, upload_limit=upload_limit)
        g.members[uid] = member
        return member

    # ----- languages -----
    def set_locale(self, user: UserRef, locale: str) -> None:
        """A user switches their Discord client's language: their next interactions carry it.

        Discord sends no event for this; the bot learns it from `locale` in interactions."""
        self.world.users[self._user_id(user)].locale = locale

    async def set_preferred_locale(self, guild: Guild | int | None, locale: str) -> None:
        """A server's owner changes its language in Server Settings: GUILD_UPDATE goes out
        (the guild object without the GUILD_CREATE-only fields) and later interactions from
        it carry the new `guild_locale`."""
        g = self._g(guild)
        g.preferred_locale = locale
        data = g.payload(member_ids=set())
        for key in _GUILD_CREATE_ONLY:
            data.pop(key, None)
        await self.gateway.dispatch("GUILD_UPDATE", data, guild_id=g.id)

    # ----- readiness -----
    @property
    def ready_count(self) -> int:
        """Return how many IDENTIFYs completed (READY + GUILD_CREATEs sent)."""
        return self.gateway.ready_count

    async def wait_for_ready(self, timeout: float = 10.0, *, count: int | None = None) -> None:
        """Wait until a client identified and got its GUILD_CREATEs (the `count`-th, if given)."""
        await self.gateway.wait_ready(timeout, count)

    async def drop_gateway(self, code: int = 4000, *, shard: int | None = None) -> None:
        """Close live gateway connections (or shard `shard`'s) with `code` (4000: the client
        resumes)."""
        await self.gateway.drop(code, shard=shard)

    async def invalidate_session(self, shard: int | None = None) -> None:
        """Send op 9 INVALID_SESSION (not resumable): the client must IDENTIFY again."""
        await self.gateway.send_op(9, False, shard=shard)

    async def wait_for_shard(self, shard_id: int, timeout: float = 10.0) -> None:
        """Wait until shard `shard_id` has a live, READY connection."""
        await self.wait_for(lambda: self.gateway.shard_ready(shard_id), timeout)

    def shard_of(self, guild: Guild | int | None = None) -> int:
        """The shard a server's events go to under the recommended (or given) shard count."""
        return self._g(guild).shard(self.world.recommended_shards())

    # ----- actors -----
    def _user_id(self, user: UserRef) -> int:
        """The id of a user given by object or id; the default user's when None."""
        if user is None:
            if self.user is None:
                raise ValueError("no default user; pass user=")
            return self.user.id
        if isinstance(user, Member):
            return user.user.id
        if isinstance(user, User):
            return user.id
        return int(user)

    def _member(self, guild: Guild, user: UserRef) -> Member:
        return guild.members[self._user_id(user)]

    async def _send_interaction(self, inter: Interaction, dispatch: bool) -> Interaction:
        self.world.interactions[inter.id] = inter
        self.world.tokens[inter.token] = inter.id
        if dispatch:
            inter.dispatched_at = time.monotonic()
            if not await self.gateway.dispatch("INTERACTION_CREATE", inter.payload):
                raise RuntimeError("no gateway client is connected to receive INTERACTION_CREATE")
        return inter

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: UserRef = None,
        channel: Channel | int | None = None,
        guild: Guild | int | None = None,
        attachments: dict[str, AttachmentSpec] | None = None,
        backdate_seconds: float = 0.0,
        dispatch: bool = True,
    ) -> Interaction:
        """Invoke a synced slash command (`name` may be "group sub" or "cmd group sub"); in
        `channel`'s server unless `guild` says otherwise."""
        ch = self._ch(channel)
        g = self._g(guild if guild is not None or channel is None else ch.guild_id)
        inter = base_payload(
            self.world,
            itype=2,
            guild=g,
            channel_id=ch.id,
            member=self._member(g, user),
            backdate_seconds=backdate_seconds,
        )
        inter.payload["data"] = command_data(
            self.world,
            self.base_url,
            g,
            name,
            options or {},
            attachments or {},
            channel=ch,
            invoker_id=inter.user_id,
        )
        return await self._send_interaction(inter, dispatch)

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        *,
        focused: str,
        user: UserRef = None,
        channel: Channel | int | None = None,
        guild: Guild | int | None = None,
    ) -> Interaction:
        """Send an APPLICATION_COMMAND_AUTOCOMPLETE for option `focused`."""
        g = self._g(guild)
        ch = self._ch(channel)
        inter = base_payload(
            self.world, itype=4, guild=g, channel_id=ch.id, member=self._member(g, user)
        )
        inter.payload["data"] = command_data(
            self.world,
            self.base_url,
            g,
            name,
            options,
            {},
            focused=focused,
            channel=ch,
            invoker_id=inter.user_id,
        )
        return await self._send_interaction(inter, True)

    async def click(
        self,
        message_id: int | Message,
        custom_id: str,
        *,
        user: UserRef = None,
        values: list[str] | None = None,
        backdate_seconds: float = 0.0,
    ) -> Interaction:
        """Click a button (or pick `values` in a select) on a stored message."""
        msg = (
            message_id if isinstance(message_id, Message) else self.world.messages[int(message_id)]
        )
        if msg.deleted:
            raise LookupError(f"message {msg.id} is deleted")
        g = self.world.guilds[msg.guild_id]  # type: ignore[index]
        inter = base_payload(
            self.world,
            itype=3,
            guild=g,
            channel_id=msg.channel_id,
            member=self._member(g, user),
            backdate_seconds=backdate_seconds,
        )
        inter.payload["data"] = component_data(msg, custom_id, values)
        inter.payload["message"] = msg.payload(self.world)
        return await self._send_interaction(inter, True)

    async def post_message(
        self,
        content: str = "",
        *,
        user: UserRef = None,
        channel: Channel | int | None = None,
        attachments: list[tuple[str, bytes, str]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
    ) -> Message:
        """A member posts a message in a channel (MESSAGE_CREATE goes out as usual).

        `attachments` are (filename, bytes, content type); image files get `width`/`height` as
        Discord adds them. `embeds` are stored as given (e.g. a link preview's image)."""
        ch = self._ch(channel)
        member = self._member(self.world.guilds[ch.guild_id], user)
        specs = attachments or []
        files = [
            {"index": i, "filename": name, "data": data, "content_type": ctype, "size": len(data)}
            for i, (name, data, ctype) in enumerate(specs)
        ]
        msg = await self.rest.create_message(
            channel_id=ch.id,
            payload={"content": content, "embeds": list(embeds or [])},
            files=files,
            limit=self.world.upload_limit_for_channel(ch.id),
            author=member.user,
        )
        for att, (_, data, _) in zip(msg.attachments, specs, strict=True):
            att.update(image_dimensions(data))
        return msg

    # ----- members' messages, message context menus and modals (see menus.py) -----
    def cdn_url(self, filename: str, data: bytes, content_type: str) -> str:
        """Store bytes on the double's CDN (e.g. an embed's image) and return their URL."""
        path = f"/cdn/external/{mint_snowflake()}/{filename}"
        self.world.blobs[path] = (data, content_type)
        return self.base_url + path

    async def message_command(
        self,
        name: str,
        message: Message | int,
        *,
        user: UserRef = None,
        backdate_seconds: float = 0.0,
    ) -> Interaction:
        """Use a synced message context menu (Apps → `name`) on a stored message."""
        target = message if isinstance(message, Message) else self.world.messages[int(message)]
        if target.deleted:
            raise LookupError(f"message {target.id} is deleted")
        g = self.world.guilds[target.guild_id]  # type: ignore[index]
        command = self.world.commands_for(g.id).get(f"3:{name}")
        if command is None:
            raise LookupError(f"no message command {name!r} is synced for guild {g.id}")
        inter = base_payload(
            self.world,
            itype=2,
            guild=g,
            channel_id=target.channel_id,
            member=self._member(g, user),
            backdate_seconds=backdate_seconds,
        )
        inter.payload["data"] = message_command_data(self.world, command.payload, target)
        return await self._send_interaction(inter, True)

    async def submit_modal(
        self,
        opened: Interaction,
        values: dict[str, str | list[str]] | None = None,
        *,
        user: UserRef = None,
    ) -> Interaction:
        """Submit the modal `opened` answered with (type 9), filled in with `values`."""
        if opened.ack_type != 9 or opened.response_data is None:
            raise LookupError(f"interaction {opened.id} did not answer with a modal")
        g = self.world.guilds[opened.guild_id]
        inter = base_payload(
            self.world,
            itype=5,
            guild=g,
            channel_id=opened.channel_id,
            member=self._member(g, user if user is not None else opened.user_id),
        )
        inter.payload["data"] = modal_submit_data(opened.response_data, values or {})
        if "message" in opened.payload:
            inter.payload["message"] = opened.payload["message"]
        return await self._send_interaction(inter, True)

    async def delete_message(self, message: Message | int) -> None:
        """Someone (a moderator) deletes a message; clients get MESSAGE_DELETE."""
        msg = message if isinstance(message, Message) else self.world.messages[int(message)]
        await self.rest._delete(msg)

    # ----- waiting and reading -----
    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02
    ) -> Any:
        """Poll `predicate()` (sync or async) until it returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(interval)

    async def wait_for_call(
        self, method: str, path_glob: str, timeout: float = 5.0, *, status: int | None = None
    ) -> Call:
        """Wait for a call matching method and path glob (and status); return the latest."""

        def found() -> Call | None:
            hits = [
                c for c in self.calls(method, path_glob) if status is None or c.status == status
            ]
            hits = [c for c in hits if c.status is not None]
            return hits[-1] if hits else None

        return await self.wait_for(found, timeout)

    async def wait_for_ack(self, interaction: Interaction, timeout: float = 5.0) -> Interaction:
        """Wait until the interaction got its initial response."""
        await self.wait_for(lambda: interaction.ack_type is not None, timeout)
        return interaction

    def calls(
        self, method: str | None = None, path_glob: str | None = None, *, route: str | None = None
    ) -> list[Call]:
        """Return logged calls filtered by method, fnmatch glob on the path, or route template."""
        return [
            c
            for c in self.world.calls
            if (method is None or c.method == method.upper())
            and (path_glob is None or fnmatch.fnmatchcase(c.path, path_glob))
            and (route is None or c.route == route)
        ]

    def unknown_calls(self) -> list[Call]:
        """Return calls to routes the double does not implement."""
        return [c for c in self.world.calls if c.unknown_route]

    def messages_in(self, channel_id: Channel | int | None = None) -> list[Message]:
        """Return visible (non-ephemeral, non-deleted) messages in a channel, oldest first."""
        ch = channel_id.id if isinstance(channel_id, Channel) else channel_id
        return self.world.visible_messages(int(ch or self.channel.id))  # type: ignore[union-attr]

    def ephemeral_replies(self, interaction: Interaction) -> list[Message]:
        """Return the interaction's ephemeral messages (original first, then followups)."""
        ids = [interaction.original_message_id, *interaction.followup_ids]
        msgs = [self.world.messages[i] for i in ids if i in self.world.messages]
        return [m for m in msgs if m.ephemeral and not m.deleted]

    def replies(self, interaction: Interaction) -> list[Message]:
        """Return every message the interaction produced (original first, then followups)."""
        ids = [interaction.original_message_id, *interaction.followup_ids]
        return [self.world.messages[i] for i in ids if i in self.world.messages]

    def blob(self, url: str) -> bytes:
        """Return the bytes stored for an attachment URL."""
        path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        return self.world.blobs["/" + path][0]

    def age_message(self, message_id: int, seconds: float) -> None:
        """Pretend a message was created `seconds` earlier (for the 30046 old-edit limit)."""
        self.world.messages[message_id].created_at -= seconds

    # ----- permissions (per-channel overwrites; topics/permissions) -----
    async def set_overwrite(
        self,
        channel: Channel | int | None,
        target: Role | Member | User | int | None = None,
        *,
        allow: int = 0,
        deny: int = 0,
    ) -> Overwrite | None:
        """Set a channel overwrite for a role, a member, or @everyone (`target` None).

        `allow=deny=0` removes it. Connected clients get CHANNEL_UPDATE, as from Discord."""
        ch = self._ch(channel)
        guild = self.world.guilds[ch.guild_id]
        if target is None:
            tid, ttype = guild.id, OVERWRITE_ROLE
        elif isinstance(target, Role):
            tid, ttype = target.id, OVERWRITE_ROLE
        elif isinstance(target, Member):
            tid, ttype = target.user.id, OVERWRITE_MEMBER
        elif isinstance(target, User):
            tid, ttype = target.id, OVERWRITE_MEMBER
        else:
            tid = int(target)
            ttype = OVERWRITE_ROLE if tid in guild.roles else OVERWRITE_MEMBER
        overwrite: Overwrite | None = None
        if allow or deny:
            overwrite = ch.overwrites[tid] = Overwrite(tid, ttype, allow, deny)
        else:
            ch.overwrites.pop(tid, None)
        await self.gateway.dispatch("CHANNEL_UPDATE", dict(ch.payload(), guild_id=str(guild.id)))
        return overwrite

    async def set_role_permissions(self, role: Role, permissions: int) -> None:
        """Change a role's server-wide permissions; clients get GUILD_ROLE_UPDATE."""
        role.permissions = permissions
        guild = next(g for g in self.world.guilds.values() if role.id in g.roles)
        await self.gateway.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()}
        )

    def bot_role(self, guild: Guild | int | None = None) -> Role:
        """The bot's own managed role (what its invite link granted)."""
        g = self._g(guild)
        member = g.members[self.world.bot_user.id]
        return g.roles[member.roles[0]]

    def bot_permissions(self, channel: Channel | int | None = None) -> int:
        """The bot's permissions in a channel, overwrites included."""
        return self.rest.bot_permissions(self._ch(channel).id)

    # ----- scripted faults (opt-in, per test; see faults.py) -----
    @property
    def faults(self) -> Faults:
        """The scripted faults; `dd.faults.clear()` removes them."""
        return self.rest.faults

    def fail(self, method: str | None, path: str, *, status: int = 503, times: int = 1) -> Fault:
        """Answer the next `times` matching calls with HTTP `status` (500, 502, 503, ...)."""
        return self.faults.add(Fault("status", method, path, times=times, status=status))

    def drop_connection(
        self, method: str | None, path: str, *, after: bool = True, times: int = 1
    ) -> Fault:
        """Close the connection of the next matching calls without an answer; with `after`
        the call was processed first (a message was stored), else it never was."""
        return self.faults.add(Fault("drop", method, path, times=times, after=after))

    def rate_limit(
        self,
        method: str | None,
        path: str,
        *,
        scope: RateLimitScope = "user",
        code: int | None = None,
        retry_after: float = 0.05,
        times: int = 1,
    ) -> Fault:
        """Answer 429 in Discord's shape (with Via) for the next matching calls."""
        return self.faults.add(
            Fault(
                "rate_limit",
                method,
                path,
                times=times,
                scope=scope,
                code=code,
                retry_after=retry_after,
            )
        )

    def cloudflare_ban(
        self, method: str | None, path: str, *, times: int = 1, retry_after: float = 1.0
    ) -> Fault:
        """Answer 429 as Cloudflare does: plain text, no Via, no JSON retry_after."""
        return self.faults.add(
            Fault("cloudflare", method, path, times=times, retry_after=retry_after)
        )

    # ----- control API (/_test/...) for debugging and out-of-process drivers -----
    def _add_control_routes(self) -> None:
        r = self.app.router
        r.add_get("/_test/state", self._c_state)
        r.add_get("/_test/calls", self._c_calls)
        r.add_get("/_test/gateway", self._c_gateway)
        r.add_post("/_test/slash", self._c_slash)
        r.add_post("/_test/click", self._c_click)
        r.add_post("/_test/gateway/drop", self._c_drop)
        r.add_post("/_test/faults", self._c_fault)
        r.add_delete("/_test/faults", self._c_clear_faults)

    async def _c_state(self, request: web.Request) -> web.Response:
        return json_response(self.world.summary())

    async def _c_calls(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {
                    "seq": c.seq,
                    "method": c.method,
                    "path": c.path,
                    "query": c.query,
                    "route": c.route,
                    "at": c.at,
                    "json": c.json,
                    "files": c.files,
                    "status": c.status,
                    "error_code": c.error_code,
                    "unknown_route": c.unknown_route,
                }
                for c in self.world.calls
            ]
        )

    async def _c_gateway(self, request: web.Request) -> web.Response:
        return json_response(self.world.gateway_log)

    @staticmethod
    def _interaction_json(inter: Interaction) -> dict[str, Any]:
        return {
            "id": str(inter.id),
            "token": inter.token,
            "type": inter.type,
            "payload": inter.payload,
        }

    async def _c_slash(self, request: web.Request) -> web.Response:
        body = await request.json()
        attachments = {
            k: (
                v["filename"],
                base64.b64decode(v["content_base64"]),
                v.get("content_type", "application/octet-stream"),
            )
            for k, v in (body.get("attachments") or {}).items()
        }
        try:
            inter = await self.slash(
                body["name"],
                body.get("options") or {},
                user=body.get("user_id"),
                channel=body.get("channel_id"),
                guild=body.get("guild_id"),
                attachments=attachments,
                backdate_seconds=float(body.get("backdate_seconds", 0)),
            )
        except (LookupError, ValueError, RuntimeError) as exc:
            raise DiscordError(50035, str(exc)) from exc
        return json_response(self._interaction_json(inter))

    async def _c_click(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            inter = await self.click(
                int(body["message_id"]), body["custom_id"], user=body.get("user_id")
            )
        except (LookupError, ValueError, RuntimeError) as exc:
            raise DiscordError(50035, str(exc)) from exc
        return json_response(self._interaction_json(inter))

    async def _c_fault(self, request: web.Request) -> web.Response:
        """Script a fault: {"kind", "method", "path", and Fault's other fields}."""
        body = await request.json()
        try:
            fault = self.faults.add(Fault(**body))
        except TypeError as exc:
            raise DiscordError(50035, str(exc)) from exc
        return json_response({"kind": fault.kind, "path": fault.path, "times": fault.times})

    async def _c_clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.Response(status=204)

    async def _c_drop(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        await self.drop_gateway(int(body.get("code", 4000)))
        return web.Response(status=204)


__all__ = ["DiscordDouble", "Path"]
