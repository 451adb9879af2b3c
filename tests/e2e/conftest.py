"""End-to-end stack: the real bot process (`python -m bot`) against the Discord double and Wiro.

`Stack` owns one Wiro simulator, one Discord double and one bot subprocess sharing a database in
a temporary directory. Tests drive members through the double (`video`, `admin`, `click`) and
read outcomes from the double's world and the simulator's records.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from PIL import Image

from bot.wiro.simulator.server import WiroSimulator
from tests.discord_double import DiscordDouble
from tests.discord_double.world import Channel, Interaction, Member, Message
from tests.e2e.harness import BotProcess
from tests.factories import wiro_env

API_KEY = "e2e-key-0123456789"
API_SECRET = "e2e-secret-0123456789"
MANAGE_GUILD = 1 << 5
FINAL_TITLES = ("✅ Video ready", "❌ Video failed", "⌛ Video timed out", "🚫 Video cancelled")
CARD_LINK = re.compile(r"https://discord\.com/channels/\d+/\d+/(\d+)")
SPARE_CHANNELS = ("videos-only", "queue", "flood", "expiry", "cancel")
JOB_ID = re.compile(r"\bjob (\d+)")
# Limits that a module's tests never reach together (its STACK_ENV): no member waits on credits
# or on the number of jobs in flight.
ROOMY_LIMITS = {
    "DEFAULT_QUOTA_CREDITS": "1000",
    "MAX_JOBS_PER_USER": "25",
    "MAX_JOBS_PER_GUILD": "40",
}
# The bot's per-channel pacing windows run at this fraction of Discord's (E2E_TIME_SCALE, read by
# launch_bot.py); tests that turn the double's rate limits on scale its buckets alike (`window`).
TIME_SCALE = 0.2


def window(seconds: float) -> float:
    """Return one of Discord's rate-limit windows as the e2e stack runs it."""
    return seconds * TIME_SCALE


def png(width: int = 640, height: int = 360, colour: str = "teal") -> bytes:
    """Return a PNG of the given size."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def gif(width: int = 640, height: int = 360) -> bytes:
    """Return a two-frame animated GIF."""
    frames = [Image.new("RGB", (width, height), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def fake_clip(size: int = 200_000) -> bytes:
    """Return bytes that start like an MP4 (the bot does not decode clips)."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return head + os.urandom(size - len(head))


@dataclass
class VideoRun:
    """One `/video` a member sent, with what the bot answered."""

    interaction: Interaction
    reply: str
    job_id: int | None
    card: Message | None


class Stack:
    """Simulator + double + bot process, with member actions and waiters."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None, premium_tier: int = 0):
        self.tmp = tmp
        self.extra_env = env or {}
        self.sim = WiroSimulator(api_key=API_KEY, api_secret=API_SECRET)
        self.dd = DiscordDouble(premium_tier=premium_tier)
        self.dd.world.config.identify_interval = window(5.0)  # as the bot's IdentifySchedule
        self.bot: BotProcess | None = None
        self.processes: list[BotProcess] = []
        # A role with Manage Server, created before the bot connects so it is in its cache.
        self.mod_role = self.dd.add_role("mods", permissions=MANAGE_GUILD)
        self.moderator: Member = self.dd.add_member(name="moderator", roles=[self.mod_role])
        # Channels the bot must know from GUILD_CREATE (channel options resolve from its cache).
        self.channels = {n: self.dd.add_channel(n) for n in SPARE_CHANNELS}

    # ----- lifecycle -----
    async def start(self) -> Stack:
        """Start the simulator, the double and the bot; wait until it is ready."""
        await self.sim.start()
        await self.dd.start()
        await self.start_bot()
        return self

    def env(self) -> dict[str, str]:
        """Return the bot's environment (no .env is read: cwd is the temporary directory)."""
        return {
            **self.dd.env(),
            **wiro_env(self.sim, self.tmp / "bot.sqlite3"),
            "DEV_GUILD_ID": str(self.dd.guild.id),  # type: ignore[union-attr]
            "LOG_LEVEL": "INFO",
            "E2E_TIME_SCALE": str(TIME_SCALE),
            "E2E_VIDEO_NICENESS": "0",
            **self.extra_env,
        }

    async def start_bot(self) -> BotProcess:
        """Start a (new) bot process on the same database and wait for its Ready line."""
        count = self.dd.ready_count
        bot = BotProcess("bot", env=self.env(), cwd=self.tmp)
        self.processes.append(bot)
        self.bot = bot
        await bot.start()
        await bot.wait_for_line("Ready:", 30)
        await self.dd.wait_for_ready(10, count=count + 1)
        return bot

    async def stop(self) -> None:
        """Stop the bot (SIGTERM), the double and the simulator."""
        try:
            for bot in self.processes:
                if bot.returncode is None:
                    await bot.terminate()
        finally:
            await self.dd.close()
            await self.sim.stop()

    def assert_clean(self) -> None:
        """No bot process printed a traceback, and the bot called no unknown Discord route."""
        for bot in self.processes:
            bot.assert_clean()
        assert self.dd.unknown_calls() == []

    # ----- people and places -----
    def member(self, name: str = "member", **kw: Any) -> Member:
        """Add a fresh member (so a test has its own credits and concurrency)."""
        return self.dd.add_member(name=name, **kw)

    def channel(self, name: str) -> Channel:
        """Return a channel created before the bot connected, else add one."""
        if name not in self.channels:
            self.channels[name] = self.dd.add_channel(name)
        return self.channels[name]

    # ----- actions -----
    async def video(
        self,
        prompt: str,
        *,
        user: Member | None = None,
        channel: Channel | None = None,
        image: bytes | tuple[str, bytes, str] | None = None,
        timeout: float = 15.0,
        **options: Any,
    ) -> VideoRun:
        """Send `/video` and wait for the bot's ephemeral answer; return it with the card."""
        attachments = {}
        if image is not None:
            attachments["image"] = (
                image if isinstance(image, tuple) else ("frame.png", image, "image/png")
            )
        inter = await self.dd.slash(
            "video",
            {"prompt": prompt, **options},
            user=user,
            channel=channel,
            attachments=attachments,
        )
        text = await self.answer(inter, timeout)
        card_id = CARD_LINK.search(text)
        job = JOB_ID.search(text)
        card = self.dd.world.messages[int(card_id.group(1))] if card_id else None
        return VideoRun(inter, text, int(job.group(1)) if job and card else None, card)

    async def answer(self, inter: Interaction, timeout: float = 15.0) -> str:
        """Wait for the interaction's first ephemeral answer with content; return its text."""

        def found() -> str | None:
            for msg in self.dd.ephemeral_replies(inter):
                if msg.content and not msg.loading:
                    return msg.content
            return None

        return await self.dd.wait_for(found, timeout)

    async def used_credits(self, member: Member) -> int:
        """Return the credits /quota says the member has used in the current window."""
        inter = await self.dd.slash("quota", user=member)
        text = await self.answer(inter)
        assert self.dd.ephemeral_replies(inter), "/quota must answer ephemerally"
        match = re.search(r"Used [^:]*: \*\*(\d+)\*\*", text)
        assert match, text
        return int(match.group(1))

    async def admin(
        self, command: str, options: dict[str, Any] | None = None, *, user: Member | None = None
    ) -> str:
        """Run `/videoadmin <command>` (as the moderator by default); return the answer."""
        inter = await self.dd.slash(
            f"videoadmin {command}", options or {}, user=user or self.moderator
        )
        return await self.answer(inter)

    async def click(self, card: Message, custom_id: str, *, user: Member | None = None) -> str:
        """Click a button on a card; return the ephemeral answer."""
        inter = await self.dd.click(card, custom_id, user=user)
        return await self.answer(inter)

    # ----- reading -----
    @staticmethod
    def title(card: Message) -> str:
        """Return the card's embed title."""
        return card.embeds[0].get("title", "") if card.embeds else ""

    @staticmethod
    def field(card: Message, name: str) -> str | None:
        """Return the value of a card field by name."""
        for f in card.embeds[0].get("fields", []) if card.embeds else []:
            if f["name"] == name:
                return f["value"]
        return None

    async def wait_final(self, card: Message, timeout: float = 20.0) -> str:
        """Wait until the card shows a final state; return its title."""
        return await self.dd.wait_for(
            lambda: self.title(card) if self.title(card) in FINAL_TITLES else None, timeout
        )

    def clip_messages(self, job_id: int, channel: Channel | None = None) -> list[Message]:
        """Return the messages that delivered job `job_id`'s clip."""
        return [
            m
            for m in self.dd.messages_in(channel)
            if f"your video is ready (job {job_id})" in m.content
        ]

    async def wait_clip(
        self, job_id: int, channel: Channel | None = None, timeout: float = 20.0
    ) -> Message:
        """Wait for the clip message of a job."""
        msgs = await self.dd.wait_for(lambda: self.clip_messages(job_id, channel), timeout)
        return msgs[0]

    async def wait_linked_clip(self, run: VideoRun) -> Message:
        """Wait for a run's clip message and check that it links Wiro's file, attaching nothing."""
        assert run.card is not None and run.job_id is not None, run.reply
        message = await self.wait_clip(run.job_id, timeout=30)
        assert message.attachments == []
        assert f"/files/{self.sim.runs[-1].task_id}/" in message.content
        return message

    def accepted_runs(self) -> int:
        """Return how many Runs Wiro accepted (a task was created)."""
        return sum(1 for r in self.sim.runs if r.task_id is not None)

    def jobs_in_flight(self) -> int:
        """Return how many jobs the bot's database holds that have not ended (read-only)."""
        uri = f"{(self.tmp / 'bot.sqlite3').resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM jobs WHERE state NOT IN"
                " ('succeeded', 'failed', 'cancelled', 'timed_out')"
            ).fetchone()
        return int(count)

    async def wait_no_jobs_in_flight(self, timeout: float = 30.0) -> None:
        """Wait until every job of earlier tests (on a module-wide stack) has ended."""
        await self.dd.wait_for(lambda: self.jobs_in_flight() == 0 or None, timeout)

    async def wait_log(self, substring: str, timeout: float = 15.0) -> str:
        """Wait for a line in the current bot process's output."""
        assert self.bot is not None
        return await self.bot.wait_for_line(substring, timeout)


AnyStack = TypeVar("AnyStack", bound=Stack)


def running_stack(
    path: Path, env: dict[str, str], tier: int = 0
) -> contextlib.AbstractAsyncContextManager[Stack]:
    """Start a stack; on failure print the bot's output; at the end stop it and check it."""
    return running(Stack(path, env, tier))


@contextlib.asynccontextmanager
async def running(s: AnyStack) -> AsyncIterator[AnyStack]:
    """Start a stack already built (and set up); on failure print the bot's output; at the end
    stop it and check it."""
    try:
        await s.start()
        yield s
    except BaseException:
        for bot in s.processes:
            bot.dump()
        raise
    finally:
        await s.stop()
    s.assert_clean()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One stack per test module; its env comes from the module's STACK_ENV."""
    env = getattr(request.module, "STACK_ENV", {})
    tier = getattr(request.module, "PREMIUM_TIER", 0)
    async with running_stack(tmp_path_factory.mktemp("e2e"), env, tier) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean_after_each(request: pytest.FixtureRequest) -> Any:
    """Fail the test that made the bot print a traceback, not only the module's teardown."""
    yield
    s = request.node.funcargs.get("stack")
    if isinstance(s, Stack):
        for bot in s.processes:
            if any(m in bot.output for m in ("Traceback", "Ignoring exception")):
                bot.dump()
            bot.assert_clean()
