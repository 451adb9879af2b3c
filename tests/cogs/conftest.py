"""Fixtures for the governance and admin cogs: a real SQLite file, a settable clock, jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import discord
import pytest

from bot.jobs.contracts import JobConfig
from bot.jobs.service import JobService
from bot.wiro.client import WiroClient
from storage.db import Database
from storage.models import Job, JobState, Limit, NewJob
from tests.factories import TEST_TIMING, Clock, reserve_and_walk
from tests.jobs.doubles import RecordingPresenter

T0 = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)  # a Wednesday
GUILD = 111_000_000_000_000_001
OTHER_GUILD = 111_000_000_000_000_002
CHANNEL = 222_000_000_000_000_001
AUDIT_CHANNEL = 222_000_000_000_000_002
USER = 333_000_000_000_000_001
OTHER = 333_000_000_000_000_002
MOD = 333_000_000_000_000_003
ROLE_A = 444_000_000_000_000_001
ROLE_B = 444_000_000_000_000_002
MOD_ROLE = 444_000_000_000_000_003
DEFAULT = Limit(credits=10, period="day")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewJobData(NewJob):
    """A NewJob with this suite's defaults."""

    guild_id: int = GUILD
    channel_id: int = CHANNEL
    user_id: int = USER
    prompt: str = "a red panda surfing at dawn"


async def make_job(
    db: Database, state: JobState = JobState.PENDING, *, now: datetime = T0, **fields: object
) -> Job:
    """Reserve a job (generous policy) and walk it to `state` through legal transitions."""
    return await reserve_and_walk(db, NewJobData(**fields), state, now=now)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    """The suite's clock starts on a Wednesday (the root conftest's `db` runs on it)."""
    return Clock(T0)


@pytest.fixture
def wiro() -> WiroClient:
    """A spec'd Wiro client: cancelling a running job calls `stop`, nothing else is needed.

    Every model's slug is served by this one mock (`for_project` returns it)."""
    client = mock.create_autospec(WiroClient, instance=True)
    client.for_project.return_value = client
    return client


@pytest.fixture
def presenter() -> RecordingPresenter:
    return RecordingPresenter()


@pytest.fixture
async def service(
    db: Database, wiro: WiroClient, presenter: RecordingPresenter, clock: Clock, tmp_path: Path
) -> AsyncIterator[JobService]:
    svc = JobService(
        storage=db,
        wiro=wiro,
        config=JobConfig(
            default_limit=DEFAULT, timeout=timedelta(minutes=20), work_dir=tmp_path / "work"
        ),
        presenter=presenter,
        clock=clock,
        timing=TEST_TIMING,
    )
    yield svc
    await svc.shutdown(timeout=1)


def make_role(role_id: int, guild_id: int = GUILD, *, default: bool = False) -> discord.Role:
    """A spec'd discord.Role (isinstance works) of a server."""
    role = mock.create_autospec(discord.Role, instance=True)
    role.id = role_id
    role.guild = mock.create_autospec(discord.Guild, instance=True)
    role.guild.id = guild_id
    role.is_default.return_value = default
    return role


def make_member(
    user_id: int,
    guild_id: int = GUILD,
    *,
    manage_guild: bool = False,
    roles: tuple[int, ...] = (),
) -> discord.Member:
    """A spec'd discord.Member with guild permissions and roles."""
    member = mock.create_autospec(discord.Member, instance=True)
    member.id = user_id
    member.guild = mock.create_autospec(discord.Guild, instance=True)
    member.guild.id = guild_id
    member.guild_permissions = discord.Permissions(manage_guild=manage_guild)
    member.roles = [make_role(r, guild_id) for r in roles]
    return member


def make_interaction(user: discord.abc.User, db: Database, guild_id: int | None = GUILD):
    """A spec'd discord.Interaction whose client has `storage` (what is_moderator reads)."""
    interaction = mock.create_autospec(discord.Interaction, instance=True)
    interaction.user = user
    interaction.guild_id = guild_id
    interaction.locale = discord.Locale.american_english  # the member's client
    interaction.guild_locale = None  # a server that is not a Community server
    interaction.client = mock.create_autospec(discord.Client, instance=True)
    interaction.client.storage = db
    return interaction
