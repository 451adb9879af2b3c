"""A local, faithful double of Discord for end-to-end tests of a discord.py 2.7 bot.

`DiscordDouble` serves REST (`/api/v10`), the gateway, a CDN and a control API on 127.0.0.1.
Beyond the happy path it tells the truth where a bot's recovery depends on it:

- faults, opt-in per test (`faults.py`): `dd.fail(method, path_glob, status=503)`,
  `dd.drop_connection(..., after=True)` (the message is stored, no answer is sent),
  `dd.rate_limit(..., scope="global" | "shared" | "user", code=...)` and `dd.cloudflare_ban(...)`;
- permissions: per-channel overwrites (`dd.set_overwrite(channel, role | member | None, allow=,
  deny=)`), computed the way Discord documents them; `app_permissions` and members' permissions
  in interactions come from them; sends answer 403 50001 / 50013, replies 403 160002, and the
  history reads empty without Read Message History;
- replies echo `message_reference`; a reference to a deleted message is 400 50035
  MESSAGE_REFERENCE_UNKNOWN_MESSAGE unless `fail_if_not_exists` is false; an `enforce_nonce`
  nonce of a since-deleted message is 404 10008;
- history pages with exclusive `before` / `after` / `around` cursors (after: the oldest page);
- 30046 (opt-in, `Config.old_edit_*`) is a 429 with that code in a rolling window per channel;
- sharding: GET /gateway/bot recommends a shard per `Config.guilds_per_shard` servers with the
  session start limit; IDENTIFY carries `shard` [id, count], one per `Config.identify_interval`
  per bucket (shard_id % max_concurrency, else op 9), 4010 for a shard outside its count, 4011
  for a connection holding more than 2,500 servers; each session gets only its servers
  ((guild_id >> 22) % count) and their events, DMs on shard 0; without the presences intent a
  GUILD_CREATE lists only the bot; `dd.add_guilds(n)` builds thousands of realistic servers,
  `dd.drop_gateway(shard=)` / `dd.invalidate_session(shard=)` hit one shard.
- languages: a user's client language (`add_member(locale=)`, `dd.set_locale(user, "tr")`) and a
  server's `preferred_locale` (`add_guild(preferred_locale=)`, `dd.set_preferred_locale(guild,
  "es-ES")`, which sends GUILD_UPDATE) reach interactions as `locale` and `guild_locale`; the
  words of messages and forms are held to Discord's lengths (button labels 80, select
  placeholders 150, options 100, modal titles and labels 45, text input placeholders 100),
  which `tests.limits.assert_fits_discord` applies to a rendered message in any language.

Every rule cites the Discord documentation it follows in its docstring, and has its own test in
tests/test_discord_double.py (languages: tests/test_discord_double_locales.py; the lengths of
words: tests/test_discord_limits.py).
"""

from .errors import DiscordError
from .faults import Fault
from .harness import DiscordDouble
from .world import (
    ATTACH_FILES,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
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
    snowflake_time,
)

__all__ = [
    "ATTACH_FILES",
    "EMBED_LINKS",
    "MANAGE_MESSAGES",
    "READ_MESSAGE_HISTORY",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "Call",
    "Channel",
    "Config",
    "DiscordDouble",
    "DiscordError",
    "Fault",
    "Guild",
    "Interaction",
    "Member",
    "Message",
    "Overwrite",
    "Role",
    "User",
    "World",
    "mint_snowflake",
    "snowflake_time",
]
