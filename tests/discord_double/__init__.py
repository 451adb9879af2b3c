"""A local, faithful double of Discord for end-to-end tests of a discord.py 2.7 bot."""

from .errors import DiscordError
from .harness import DiscordDouble
from .world import (
    Call,
    Channel,
    Config,
    Guild,
    Interaction,
    Member,
    Message,
    Role,
    User,
    World,
    mint_snowflake,
    snowflake_time,
)

__all__ = [
    "Call",
    "Channel",
    "Config",
    "DiscordDouble",
    "DiscordError",
    "Guild",
    "Interaction",
    "Member",
    "Message",
    "Role",
    "User",
    "World",
    "mint_snowflake",
    "snowflake_time",
]
