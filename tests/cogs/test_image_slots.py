"""Bounded memory under a burst of images: a slot is taken before the download starts, one per
member and two for the whole bot (bot.media.ImageSlots), through /video's real code path."""

from __future__ import annotations

import asyncio
import io
import threading
import types
from unittest import mock

import discord
import pytest
from PIL import Image

import bot.media.images as media
from bot.app.video_bot import VideoBot
from bot.jobs.contracts import Refused, VideoRequest
from bot.jobs.service import JobService
from bot.media.image_slots import BOT_BUSY, MEMBER_BUSY, ImageBusy, ImageSlots
from bot.media.images import FirstFrame
from bot.wiro.client import WiroClient
from bot.wiro.schema import ToolInfo
from cogs.video import VideoCog
from storage.db import Database
from storage.models import Job
from tests.cogs.conftest import USER, make_member
from tests.cogs.test_commands import answer, interaction_for, run
from tests.factories import until


@pytest.fixture
def bot(
    db: Database, service: JobService, wiro: WiroClient, monkeypatch: pytest.MonkeyPatch
) -> VideoBot:
    wiro.tool = ToolInfo.from_body(
        {"tool": [{"parameters": [{"items": [{"id": "inputImage", "type": "fileinput"}]}]}]}
    )

    async def submit(request: VideoRequest, frame: FirstFrame | None, **kwargs: object) -> Job:
        # Only the reading is under test: stop once the image was read and checked.
        assert frame is not None and frame.width == 640
        raise Refused(READ)

    monkeypatch.setattr(service, "submit", submit)
    fake = mock.create_autospec(VideoBot, instance=True)
    fake.storage = db
    fake.jobs = service
    fake.user = types.SimpleNamespace(id=1)
    return fake


READ = "the image was read"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 360), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def _held_image(release: asyncio.Event, started: list[int], who: int) -> discord.Attachment:
    """An attachment whose download waits until `release` (and records that it began)."""
    image = mock.create_autospec(discord.Attachment, instance=True)
    image.size, image.url, image.id = 1000, f"https://cdn.example/{who}.png", who

    async def read() -> bytes:
        started.append(who)
        await release.wait()
        return _png()

    image.read.side_effect = read
    return image


def _video(bot: VideoBot, db: Database, user_id: int, image: discord.Attachment):
    member = interaction_for(make_member(user_id), db)
    member.channel_id = 55
    member.app_permissions = discord.Permissions.all()
    return member, run(VideoCog(bot), "video", member, prompt="a fox in the snow", image=image)


async def test_a_member_with_an_image_being_read_is_answered_at_once(
    db: Database, bot: VideoBot
) -> None:
    release, started = asyncio.Event(), []
    first, first_run = _video(bot, db, USER, _held_image(release, started, 1))
    second_image = _held_image(release, started, 2)
    second, second_run = _video(bot, db, USER, second_image)
    task = asyncio.create_task(first_run)
    await until(lambda: started == [1])

    await second_run  # not queued behind the first: answered now, nothing downloaded
    assert answer(second)[0] == MEMBER_BUSY
    second_image.read.assert_not_called()

    release.set()
    await task
    assert answer(first)[0] == READ  # the first was read and checked, then went on
    assert bot.jobs.images.busy(USER) == 0


async def test_a_burst_downloads_two_images_at_a_time(db: Database, bot: VideoBot) -> None:
    release, started = asyncio.Event(), []
    runs = [_video(bot, db, USER + n, _held_image(release, started, n))[1] for n in range(5)]
    tasks = [asyncio.create_task(r) for r in runs]
    await until(lambda: len(started) == 2)
    await asyncio.sleep(0.2)
    assert len(started) == 2  # the other three wait, holding nothing
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(started) == [0, 1, 2, 3, 4]  # all read in the end, two at a time


async def test_one_decode_at_a_time_and_its_wait_happens_before_any_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two images downloaded at once are decoded one after the other; the second waits on the
    event loop, not inside a worker thread."""
    slots = ImageSlots()
    in_thread: list[str] = []
    gate = threading.Event()
    real = media.check_image

    def held(data: bytes, **kwargs: object) -> FirstFrame:
        in_thread.append("in")
        gate.wait(5)
        return real(data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(media, "check_image", held)
    first = asyncio.create_task(slots.check(_png()))
    second = asyncio.create_task(slots.check(_png()))
    await until(lambda: in_thread == ["in"])
    await asyncio.sleep(0.1)
    assert in_thread == ["in"]  # the second has not entered a thread
    gate.set()
    frames = await asyncio.gather(first, second)
    assert [f.width for f in frames] == [640, 640] and in_thread == ["in", "in"]


async def test_a_wait_for_a_slot_is_bounded() -> None:
    slots = ImageSlots(downloads=1, wait_seconds=0.05)
    async with slots.slot(1):
        with pytest.raises(ImageBusy) as busy:
            async with slots.slot(2):
                pass
        assert busy.value.reason == BOT_BUSY
        assert slots.busy(2) == 0
    async with slots.slot(2):  # released, also after a failure inside
        pass
    with pytest.raises(ValueError):
        async with slots.slot(3):
            raise ValueError("the download failed")
    assert slots.busy(3) == 0
