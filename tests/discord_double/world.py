"""State of the Discord double: guilds, members, messages, interactions, call and gateway logs."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
MIB = 1024 * 1024
DEFAULT_UPLOAD_LIMIT = 10 * MIB
# Guild upload limit by boost tier, as discord.py's Guild._PREMIUM_GUILD_LIMITS has it.
PREMIUM_UPLOAD_LIMITS = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
ALL_PERMISSIONS = (1 << 53) - 1  # "9007199254740991", what Discord sends for administrators
# Permission bits (https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags)
ADMINISTRATOR = 1 << 3
MANAGE_MESSAGES = 1 << 13
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
SEND_TTS_MESSAGES = 1 << 12
# Denying SEND_MESSAGES implicitly denies these ("Implicit Permissions", topics/permissions).
_NEEDS_SEND = MENTION_EVERYONE | SEND_TTS_MESSAGES | ATTACH_FILES | EMBED_LINKS
OVERWRITE_ROLE, OVERWRITE_MEMBER = 0, 1

MESSAGE_FLAG_EPHEMERAL = 64
MESSAGE_FLAG_LOADING = 128

_increment = itertools.count()


def mint_snowflake(at: float | None = None) -> int:
    """Return a new snowflake whose timestamp is `at` (Unix seconds, default now)."""
    ms = int((time.time() if at is None else at) * 1000)
    return ((ms - DISCORD_EPOCH_MS) << 22) | (1 << 17) | (next(_increment) & 0xFFF)


def snowflake_time(snowflake: int) -> float:
    """Return the Unix time (seconds) encoded in a snowflake."""
    return ((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000


def iso(ts: float) -> str:
    """Format Unix seconds as Discord's ISO 8601 timestamp."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


@dataclass
class Config:
    """Knobs a test may turn; defaults are real Discord's values."""

    ack_deadline: float | None = 3.0  # seconds from the interaction id's timestamp
    token_ttl: float = 15 * 60  # interaction token life
    nonce_window: float = 5 * 60  # how long enforce_nonce deduplicates
    default_upload_limit: int = DEFAULT_UPLOAD_LIMIT
    emit_message_events: bool = True  # MESSAGE_CREATE/UPDATE/DELETE for visible bot messages
    gateway_compression: bool = True  # honour compress=zlib-stream
    privileged_intents: int = (1 << 1) | (1 << 8) | (1 << 15)  # enabled in the "portal"
    rate_limits: bool = False  # opt-in simulator
    # (method, route template) -> (limit, per seconds); major parameter taken from the template.
    buckets: dict[tuple[str, str], tuple[int, float]] = field(
        default_factory=lambda: {
            ("PATCH", "/channels/{channel_id}/messages/{message_id}"): (5, 5.0),
            ("POST", "/channels/{channel_id}/messages"): (5, 5.0),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}"): (5, 5.0),
            ("POST", "/webhooks/{app_id}/{token}"): (5, 2.0),
            ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}"): (5, 2.0),
        }
    )
    # Opt-in with rate_limits: the global limit per bot token ("All bots can make up to 50
    # requests per second to our API", topics/rate-limits "Global Rate Limit"), for requests
    # with the bot's token; interaction callbacks and webhooks are not subject to it.
    global_limit: tuple[int, float] | None = None  # e.g. (50, 1.0)
    # Opt-in 30046 ("Maximum number of edits to messages older than 1 hour reached"): edits of
    # messages older than `old_edit_age` seconds are counted per channel in a rolling window of
    # `old_edit_window` seconds; past `old_edit_allowance` of them Discord answers 429 + 30046.
    # Discord does not publish the numbers (discord-api-docs#4413): they are parameters.
    old_edit_age: float | None = None
    old_edit_allowance: int = 0
    old_edit_window: float = 3600.0
    # Sharding (topics/gateway "Sharding", "Session Start Limit Object"). GET /gateway/bot
    # recommends ceil(servers / guilds_per_shard) shards; a session that would hold more than
    # `max_guilds_per_session` servers is closed with 4011. IDENTIFY is limited to one per
    # `identify_interval` seconds per bucket (shard_id % max_concurrency); the tests' time scale
    # shortens the interval alike. `session_starts` is the daily allowance (`total`).
    guilds_per_shard: int = 1000
    recommended_shards: int | None = None  # None: computed; set to simulate a stale answer
    max_guilds_per_session: int = 2500
    max_concurrency: int = 1
    identify_interval: float = 5.0
    session_starts: int = 1000
    session_reset_after: float = 86_400.0  # seconds from the first start of the window


@dataclass
class Role:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        """Return the role object."""
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class Overwrite:
    """A channel permission overwrite: `type` 0 is a role (or @everyone), 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        """Return the overwrite object as Discord sends it (bit sets as strings)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    type: int = 0
    position: int = 0
    topic: str | None = None
    nsfw: bool = False
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    parent_id: int | None = None  # its category

    def payload(self) -> dict[str, Any]:
        """Return the channel object (voice channels with their bitrate and user limit)."""
        data = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites.values()],
            "topic": self.topic,
            "nsfw": self.nsfw,
            "parent_id": None if self.parent_id is None else str(self.parent_id),
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.type in (2, 13):  # GUILD_VOICE, GUILD_STAGE_VOICE
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        return data


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    # The language of this user's Discord client: every interaction they send carries it as
    # `locale` ("available on all interaction types except PING", Interaction Object).
    locale: str = "en-US"

    def payload(self) -> dict[str, Any]:
        """Return the user object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Member:
    user: User
    roles: list[int] = field(default_factory=list)
    permissions: int | None = None  # explicit per-member override of the role computation
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)
    upload_limit: int | None = None  # Nitro; feeds attachment_size_limit

    def payload(self) -> dict[str, Any]:
        """Return the guild member object (without permissions)."""
        return {
            "user": self.user.payload(),
            "nick": self.nick,
            "avatar": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    channels: dict[int, Channel] = field(default_factory=dict)
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    member_count: int | None = None  # a big server's count; its members need not all exist here
    # "preferred_locale: the preferred locale of a Community guild; used in server discovery
    # and notices from Discord, and sent in interactions; defaults to en-US" (Guild Object);
    # interactions from the server carry it as `guild_locale`.
    preferred_locale: str = "en-US"

    @property
    def upload_limit(self) -> int:
        """Return the per-file upload limit for channel messages in this guild."""
        return PREMIUM_UPLOAD_LIMITS.get(self.premium_tier, DEFAULT_UPLOAD_LIMIT)

    def permissions_of(self, user_id: int) -> int:
        """Return a member's guild-level permissions (roles, owner, administrator)."""
        member = self.members[user_id]
        if member.permissions is not None:
            return member.permissions
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.roles[self.id].permissions if self.id in self.roles else 0
        for role_id in member.roles:
            if role_id in self.roles:
                perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_in(self, channel: Channel, user_id: int) -> int:
        """Return a member's permissions in a channel, overwrites included.

        Follows "Permission Overwrites" (topics/permissions): @everyone's overwrite, then the
        member's roles' overwrites (all denies, then all allows), then the member's own; then
        "Implicit Permissions": without VIEW_CHANNEL nothing else applies, and without
        SEND_MESSAGES neither do mentions, TTS, files or embeds."""
        base = self.permissions_of(user_id)
        if base & ADMINISTRATOR or user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members[user_id]
        perms = base
        everyone = channel.overwrites.get(self.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.roles:
            ow = channel.overwrites.get(role_id)
            if ow is not None and ow.type == OVERWRITE_ROLE:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        own = channel.overwrites.get(user_id)
        if own is not None and own.type == OVERWRITE_MEMBER:
            perms = (perms & ~own.deny) | own.allow
        if not perms & VIEW_CHANNEL:
            return 0
        if not perms & SEND_MESSAGES:
            perms &= ~_NEEDS_SEND
        return perms

    def shard(self, count: int) -> int:
        """Return the shard that carries this server's events: (guild_id >> 22) % count."""
        return (self.id >> 22) % count

    def payload(self, *, member_ids: set[int] | None = None) -> dict[str, Any]:
        """Return the GUILD_CREATE payload (only `member_ids`' members, when given)."""
        members = [
            m.payload()
            for uid, m in self.members.items()
            if member_ids is None or uid in member_ids
        ]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "en-US",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "features": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "unavailable": False,
            "large": False,
            "joined_at": iso(time.time()),
            "member_count": self.member_count or len(self.members),
            "roles": [r.payload() for r in self.roles.values()],
            "channels": [c.payload() for c in self.channels.values()],
            "members": members,
            "threads": [],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    nonce: str | int | None = None
    allowed_mentions: dict[str, Any] | None = None
    type: int = 0
    webhook_id: int | None = None
    interaction_id: int | None = None
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # payloads before each edit
    message_reference: dict[str, Any] | None = None  # echoed as Discord stores it

    @property
    def ephemeral(self) -> bool:
        """Return whether only the invoking user can see the message."""
        return bool(self.flags & MESSAGE_FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Return whether this is a deferred "thinking" message not yet filled in."""
        return bool(self.flags & MESSAGE_FLAG_LOADING)

    def custom_ids(self) -> list[str]:
        """Return every custom_id in the message's components."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(item["custom_id"])
                walk(item.get("components") or [])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    def payload(self, world: World) -> dict[str, Any]:
        """Return the message object as REST and the gateway send it."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "content": self.content,
            "author": self.author.payload(),
            "attachments": [dict(a) for a in self.attachments],
            "embeds": [dict(e, type=e.get("type", "rich")) for e in self.embeds],
            "components": self.components,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None,
            "flags": self.flags,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.message_reference is not None:
            data["message_reference"] = dict(self.message_reference)
            ref = world.messages.get(int(self.message_reference["message_id"]))
            # "referenced_message": the message object, or null once it was deleted.
            nested = ref.payload(world) if ref is not None and not ref.deleted else None
            if nested is not None:
                nested.pop("referenced_message", None)  # one level, as Discord sends it
            data["referenced_message"] = nested
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(world.app_id)
        if self.interaction_id is not None and self.interaction_id in world.interactions:
            inter = world.interactions[self.interaction_id]
            data["interaction_metadata"] = {
                "id": str(inter.id),
                "type": inter.type,
                "user": world.users[inter.user_id].payload(),
                "authorizing_integration_owners": {"0": str(inter.guild_id)},
            }
        return data


@dataclass
class Interaction:
    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int
    payload: dict[str, Any]
    attachment_size_limit: int
    dispatched_at: float | None = None  # monotonic
    ack_type: int | None = None
    ack_at: float | None = None  # monotonic
    ack_wall: float | None = None  # Unix seconds
    original_message_id: int | None = None
    ephemeral: bool = False
    deferred_pending: bool = False  # type 5 sent, loading message not yet filled in
    followup_ids: list[int] = field(default_factory=list)
    response_data: dict[str, Any] | None = None  # type 8/9 payloads

    @property
    def created_at(self) -> float:
        """Return the Unix time encoded in the interaction id."""
        return snowflake_time(self.id)

    @property
    def ack_latency(self) -> float | None:
        """Return seconds from the interaction's creation to its acknowledgement."""
        return None if self.ack_wall is None else self.ack_wall - self.created_at


@dataclass
class Call:
    """One HTTP request the double received."""

    seq: int
    method: str
    path: str  # REST paths without the /api/v10 prefix; /cdn/... and /_test/... as they are
    query: dict[str, str]
    route: str | None  # route template such as /channels/{channel_id}/messages
    at: float  # monotonic
    json: Any = None  # JSON body or parsed payload_json
    files: list[dict[str, Any]] = field(default_factory=list)  # field, filename, size, type
    status: int | None = None
    error_code: int | None = None
    unknown_route: bool = False
    fault: str | None = None  # the scripted fault that answered (status 0: no answer at all)


@dataclass
class Command:
    id: int
    guild_id: int | None
    payload: dict[str, Any]

    @property
    def name(self) -> str:
        """Return the command name."""
        return self.payload["name"]


class World:
    """Everything the double knows; tests read it and assert on it."""

    def __init__(self, *, token: str = "test-token", config: Config | None = None) -> None:
        self.config = config or Config()
        self.token = token
        self.app_id = mint_snowflake()
        self.app_name = "Double App"
        self.app_flags = 0
        self.owner = User(mint_snowflake(), "owner", "Owner")
        self.bot_user = User(self.app_id, "double-bot", None, bot=True)
        self.users: dict[int, User] = {self.owner.id: self.owner, self.bot_user.id: self.bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.interactions: dict[int, Interaction] = {}
        self.tokens: dict[str, int] = {}  # interaction token -> interaction id
        self.global_commands: dict[str, Command] = {}
        self.guild_commands: dict[int, dict[str, Command]] = {}
        self.blobs: dict[str, tuple[bytes, str]] = {}  # /cdn path -> (bytes, content type)
        self.calls: list[Call] = []
        self.gateway_log: list[dict[str, Any]] = []
        self.rate_limit_hits = 0
        self.global_limit_hits = 0
        self.sync_count = 0
        self.session_starts_used = 0
        self.session_window_start: float | None = None  # monotonic

    def session_starts_left(self) -> tuple[int, float]:
        """(starts left, seconds until the window resets), starting a new window when due."""
        now = time.monotonic()
        start = self.session_window_start
        if start is not None and now - start >= self.config.session_reset_after:
            self.session_starts_used, self.session_window_start = 0, None
            start = None
        left = max(0, self.config.session_starts - self.session_starts_used)
        reset = self.config.session_reset_after - (0.0 if start is None else now - start)
        return left, reset

    def use_session_start(self) -> None:
        """Count one IDENTIFY against the day's session starts."""
        self.session_starts_left()
        if self.session_window_start is None:
            self.session_window_start = time.monotonic()
        self.session_starts_used += 1

    def recommended_shards(self) -> int:
        """The shard count GET /gateway/bot recommends for this many servers."""
        if self.config.recommended_shards is not None:
            return self.config.recommended_shards
        return max(1, -(-len(self.guilds) // self.config.guilds_per_shard))

    # ----- lookups -----
    def channel(self, channel_id: int) -> Channel | None:
        """Return a channel by id."""
        return self.channels.get(int(channel_id))

    def commands_for(self, guild_id: int | None) -> dict[str, Command]:
        """Return the synced commands visible in a guild (guild-scoped first, then global)."""
        merged = dict(self.global_commands)
        if guild_id is not None:
            merged.update(self.guild_commands.get(guild_id, {}))
        return merged

    def interaction_by_token(self, token: str) -> Interaction | None:
        """Return the interaction a webhook token belongs to."""
        iid = self.tokens.get(token)
        return None if iid is None else self.interactions[iid]

    def visible_messages(self, channel_id: int) -> list[Message]:
        """Return the channel's non-deleted, non-ephemeral messages, oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel_id == int(channel_id) and not m.deleted and not m.ephemeral
            ),
            key=lambda m: m.id,
        )

    def upload_limit_for_channel(self, channel_id: int) -> int:
        """Return the per-file limit for a channel message."""
        ch = self.channels[int(channel_id)]
        guild = self.guilds.get(ch.guild_id)
        limit = guild.upload_limit if guild else self.config.default_upload_limit
        return max(limit, self.config.default_upload_limit)

    def summary(self) -> dict[str, Any]:
        """Return a JSON-able snapshot for the control API."""
        return {
            "app_id": str(self.app_id),
            "bot_user": self.bot_user.payload(),
            "guilds": [g.payload() for g in self.guilds.values()],
            "messages": [
                dict(m.payload(self), deleted=m.deleted, allowed_mentions=m.allowed_mentions)
                for m in self.messages.values()
            ],
            "interactions": [
                {
                    "id": str(i.id),
                    "type": i.type,
                    "ack_type": i.ack_type,
                    "ack_latency": i.ack_latency,
                    "original_message_id": str(i.original_message_id)
                    if i.original_message_id
                    else None,
                    "ephemeral": i.ephemeral,
                    "followup_ids": [str(f) for f in i.followup_ids],
                }
                for i in self.interactions.values()
            ],
            "commands": {
                "global": [c.payload for c in self.global_commands.values()],
                "guild": {
                    str(g): [c.payload for c in cmds.values()]
                    for g, cmds in self.guild_commands.items()
                },
            },
            "rate_limit_hits": self.rate_limit_hits,
        }
