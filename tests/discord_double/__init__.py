"""A local, faithful double of Discord for end-to-end tests of a discord.py 2.7 bot."""

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
