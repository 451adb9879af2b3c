"""The job card: rendering from job rows, paced and coalesced edits, and clip delivery rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.jobs.contracts import CardExtras, ClipToPost, PresenterError, UploadTooLarge
from cogs.cards.pacing import CardEditor
from cogs.cards.presenter import DiscordPresenter
from cogs.cards.render import progress_bar, render_card
from cogs.cards.text import prompt_as_text
from storage.models import Job, JobState, Stage
from tests.factories import VirtualTimer

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def job(**overrides: Any) -> Job:
    values: dict[str, Any] = {
        "id": 7,
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 3,
        "prompt": "A lighthouse in a storm",
        "resolution": "768P",
        "duration": 6,
        "prompt_optimizer": True,
        "credits": 1,
        "card_message_id": 99,
        "card_posted_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Job(**values)


def finished_job(**overrides: Any) -> Job:
    """A job that succeeded 90 s after it was asked for."""
    return job(
        state=JobState.SUCCEEDED,
        stage=Stage.DONE,
        finished_at=NOW + timedelta(seconds=90),
        **overrides,
    )


def fields(embed: discord.Embed) -> dict[str, str]:
    return {f.name or "": f.value or "" for f in embed.fields}


# ------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------
def test_card_in_progress_shows_stage_bar_times_and_cancel() -> None:
    eta = NOW + timedelta(minutes=3)
    embed, view = render_card(
        job(state=JobState.RUNNING, stage=Stage.GENERATING, progress=40),
        CardExtras(eta=eta),
    )
    f = fields(embed)
    assert "Generating" in (embed.title or "")
    assert "40%" in f["Stage"] and "▰" in f["Stage"]
    assert f["Started"] == f"<t:{int(NOW.timestamp())}:R>"
    assert f["ETA"] == f"<t:{int(eta.timestamp())}:R>"
    assert f["Requested by"] == "<@3>"
    assert f["Settings"].startswith("Hailuo 2.3 · 768P · 6 s")
    assert view is not None
    assert [item.custom_id for item in view.children] == ["video:cancel:7"]  # type: ignore[attr-defined]


def test_card_posting_the_clip_offers_no_cancel() -> None:
    """Once Wiro has made the clip it can no longer be cancelled (JobService.cancel says "Too
    late"): the card, which may say so for minutes during a Discord outage, offers no Cancel."""
    for extras in (CardExtras(), CardExtras(delivery_delayed=True)):
        embed, view = render_card(
            job(state=JobState.DELIVERING, stage=Stage.DELIVERING, progress=100), extras
        )
        assert "Stage" in fields(embed)
        assert view is None or "video:cancel:7" not in [
            item.custom_id  # type: ignore[attr-defined]
            for item in view.children
        ]


def test_card_waiting_in_local_queue_shows_position() -> None:
    embed, _ = render_card(
        job(state=JobState.WAITING, stage=Stage.WAITING), CardExtras(queue_position=3)
    )
    assert "#3 in line" in fields(embed)["Queue"]


@pytest.mark.parametrize(
    ("state", "title", "buttons"),
    [
        (
            JobState.SUCCEEDED,
            "Video ready",
            [
                "video:reroll:7",
                "video:extend:7",
                "video:remix:7",
                "video:remake:7",
                "video:delete:7",
            ],
        ),
        (JobState.FAILED, "Video failed", ["video:reroll:7"]),
        (JobState.TIMED_OUT, "timed out", ["video:reroll:7"]),
        (JobState.CANCELLED, "cancelled", []),
    ],
)
def test_final_cards(state: JobState, title: str, buttons: list[str]) -> None:
    done = job(
        state=state,
        stage=Stage.DONE,
        finished_at=NOW + timedelta(seconds=135),
        outcome_reason="Cancelled by <@5>." if state is JobState.CANCELLED else "Upstream error",
        result_message_id=123 if state is JobState.SUCCEEDED else None,
    )
    embed, view = render_card(done, CardExtras())
    f = fields(embed)
    assert title in (embed.title or "")
    if state is JobState.SUCCEEDED:
        assert f["Time taken"] == "2m 15s"
        assert f["Charged"] == "1 credit"
        assert "/1/2/123" in f["Clip"]
    else:
        assert f["Credits"] == "1 refunded"
        assert f["What happened"]
    ids = [item.custom_id for item in view.children] if view else []  # type: ignore[attr-defined]
    assert ids == buttons


def test_a_deleted_clip_card_says_who_deleted_it_and_offers_no_follow_up() -> None:
    done = finished_job(
        result_message_id=123,
        deleted_at=NOW + timedelta(minutes=5),
        deleted_by=42,
    )
    embed, view = render_card(done, CardExtras())
    f = fields(embed)
    assert "deleted" in (embed.title or "").lower()
    assert "<@42>" in f["Deleted"] and "not refunded" in f["Deleted"]
    assert "Clip" not in f  # no link to a message that is gone
    assert f["Charged"] == "1 credit"
    assert view is None


def test_a_remix_card_links_its_origin_and_shows_the_style_apart() -> None:
    remix = job(
        remix_of=5, style="Noir <@123456789012345678> **x**", style_prompt="in black and white"
    )
    embed, _ = render_card(remix, CardExtras(remix_of_message_id=555))
    f = fields(embed)
    assert f["Remix"] == "remix of [job 5](https://discord.com/channels/1/2/555)"
    assert "<@123456789012345678>" not in f["Style"] and "Noir" in f["Style"]
    assert "black and white" not in (embed.description or "")  # the member's words only
    embed, _ = render_card(remix, CardExtras())
    assert fields(embed)["Remix"] == "remix of job 5"


def test_a_stitched_clip_offers_extend_and_reroll_and_says_when_the_chain_is_full() -> None:
    part = finished_job(
        extends_job_id=5,
        chain_seconds=54,
    )
    embed, view = render_card(part, CardExtras(max_clip_seconds=60))
    assert "job 5" in fields(embed)["Extends"] and "54 s" in fields(embed)["Extends"]
    assert view is not None
    # The dynamic items wrap the buttons Discord sees.
    buttons = {i.custom_id: i.item for i in view.children}  # type: ignore[attr-defined]
    # No remake of a chain.
    assert list(buttons) == ["video:reroll:7", "video:extend:7", "video:remix:7", "video:delete:7"]
    assert not buttons["video:extend:7"].disabled  # 6 more seconds still fit
    _, view = render_card(part, CardExtras(max_clip_seconds=58))
    assert view is not None
    buttons = {i.custom_id: i.item for i in view.children}  # type: ignore[attr-defined]
    extend = buttons["video:extend:7"]
    assert extend.disabled and extend.label == "Extend: 58 s reached"


def test_a_clip_too_big_to_download_has_its_extend_button_disabled() -> None:
    linked = finished_job(
        output_size=80 * 2**20,
    )
    _, view = render_card(linked, CardExtras(max_clip_bytes=50 * 2**20))
    assert view is not None
    buttons = {i.custom_id: i.item for i in view.children}  # type: ignore[attr-defined]
    extend = buttons["video:extend:7"]
    assert extend.disabled and extend.label == "Extend: clip too big"
    _, view = render_card(linked, CardExtras(max_clip_bytes=100 * 2**20))
    assert view is not None
    buttons = {i.custom_id: i.item for i in view.children}  # type: ignore[attr-defined]
    assert not buttons["video:extend:7"].disabled  # within the limit: it was kept


def test_a_studio_card_shows_model_camera_fixes_and_source() -> None:
    from bot.catalogue import DEFAULT_ANIMATE_PROMPT

    source = "https://discord.com/channels/1/2/55"
    embed, _ = render_card(
        job(
            state=JobState.RUNNING,
            stage=Stage.QUEUED,
            prompt=DEFAULT_ANIMATE_PROMPT,
            model="hailuo-2.3-fast",
            camera="Pan left,Zoom in",
            has_image=True,
            image_note="Animated GIF: its first frame is used.",
            source_url=source,
        ),
        CardExtras(),
        has_thumbnail=True,
    )
    f = fields(embed)
    assert f["Settings"] == "Hailuo 2.3 Fast · 768P · 6 s · optimizer on · first frame"
    assert f["Camera"] == "Pan left + Zoom in"
    assert f["First frame"] == "Animated GIF: its first frame is used."
    assert source in f["Source"]
    assert embed.description is not None
    assert embed.description.startswith("**Prompt** (default)\n")
    assert "Pan left" not in embed.description  # the moves are not part of the prompt shown


def test_a_plain_card_has_no_studio_fields() -> None:
    from bot.catalogue import DEFAULT_ANIMATE_PROMPT

    # Typing the default prompt into /video is not "the default": only Animate has one.
    embed, _ = render_card(job(prompt=DEFAULT_ANIMATE_PROMPT), CardExtras())
    assert not {"Camera", "First frame", "Source"} & set(fields(embed))
    assert embed.description is not None and "(default)" not in embed.description


def test_sandbox_cards_say_so() -> None:
    embed, _ = render_card(job(), CardExtras(sandbox=True))
    assert "Sandbox" in (embed.footer.text or "")


@pytest.mark.parametrize(
    "prompt",
    ["hi @everyone", "hey @here", "ping <@123456789012345678>", "role <@&123456789012345678>"],
)
def test_prompt_is_inert_text(prompt: str) -> None:
    text = prompt_as_text(prompt)
    assert "@everyone" not in text and "@here" not in text
    assert "<@1" not in text and "<@&1" not in text


def test_prompt_markdown_is_escaped_and_long_prompts_fit() -> None:
    assert prompt_as_text("**bold**") == "\\*\\*bold\\*\\*"
    long = prompt_as_text("x" * 5000)
    assert len(long) <= 1800 and long.endswith("…")


def test_progress_bar_only_moves_forward_through_stages() -> None:
    order = [Stage.SUBMITTING, Stage.QUEUED, Stage.STARTING, Stage.GENERATING, Stage.FINISHING]
    filled = [progress_bar(job(stage=s)).count("▰") for s in order]
    assert filled == sorted(filled) and filled[0] < filled[-1]
    assert progress_bar(job(state=JobState.SUCCEEDED, stage=Stage.DONE)) == "▰" * 12


def test_every_card_fits_discords_embed_limits() -> None:
    big = job(
        prompt="w" * 2000,
        outcome_reason="r" * 3000,
        state=JobState.FAILED,
        stage=Stage.DONE,
        finished_at=NOW,
    )
    embed, _ = render_card(big, CardExtras())
    assert len(embed) <= 6000
    assert len(embed.description or "") <= 4096
    assert all(len(f.value or "") <= 1024 for f in embed.fields)


# ------------------------------------------------------------------------------------------
# Pacing and coalescing
# ------------------------------------------------------------------------------------------
@dataclass
class EditRecorder:
    timer: VirtualTimer = field(default_factory=VirtualTimer)
    edits: list[tuple[float, int, str]] = field(default_factory=list)

    async def edit_card(self, job: Job, extras: CardExtras) -> None:
        self.edits.append((self.timer.now, job.id, job.stage.value))


def editor_for(recorder: EditRecorder, interval: float) -> CardEditor:
    return CardEditor(recorder, interval=interval, timer=recorder.timer)  # type: ignore[arg-type]


async def test_editor_coalesces_and_paces_per_channel() -> None:
    recorder = EditRecorder()
    editor = editor_for(recorder, 0.2)
    editor.submit(job(stage=Stage.QUEUED), CardExtras())
    await asyncio.sleep(0)  # the worker sends the first state at once
    assert [stage for _, _, stage in recorder.edits] == ["queued"]
    # Four more states before the next edit is due: only the newest is sent, one interval on.
    for stage in (Stage.STARTING, Stage.GENERATING, Stage.FINISHING, Stage.DELIVERING):
        editor.submit(job(stage=stage), CardExtras())
    await editor.flush()
    assert recorder.edits == [(0.0, 7, "queued"), (pytest.approx(0.2), 7, "delivering")]


async def test_editor_sends_final_states_before_progress() -> None:
    recorder = EditRecorder()
    editor = editor_for(recorder, 0.1)
    editor.submit(job(id=1, stage=Stage.QUEUED), CardExtras())
    await asyncio.sleep(0)  # goes out at once; the rest queue behind the pacing
    editor.submit(job(id=2, stage=Stage.GENERATING), CardExtras())
    editor.submit(job(id=3, stage=Stage.STARTING), CardExtras())
    editor.submit(job(id=4, state=JobState.SUCCEEDED, stage=Stage.DONE), CardExtras())
    editor.submit(job(id=5, state=JobState.FAILED, stage=Stage.DONE), CardExtras())
    await editor.flush()
    order = [job_id for _, job_id, _ in recorder.edits]
    assert order == [1, 4, 5, 2, 3]  # finals first, then progress oldest first
    times = [at for at, _, _ in recorder.edits]
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


async def test_editors_of_different_channels_do_not_wait_for_each_other() -> None:
    recorder = EditRecorder()
    editor = editor_for(recorder, 1.0)
    for channel in range(5):
        editor.submit(job(id=channel, channel_id=100 + channel), CardExtras())
    await editor.flush()
    assert sorted(job_id for _, job_id, _ in recorder.edits) == [0, 1, 2, 3, 4]
    assert recorder.timer.sleeps == []  # nobody waited


# ------------------------------------------------------------------------------------------
# Delivery and old cards (a presenter over a fake channel)
# ------------------------------------------------------------------------------------------
class _Response:
    def __init__(self, status: int, reason: str = "") -> None:
        self.status = status
        self.reason = reason


def http_error(
    status: int, code: int, cls: type[discord.HTTPException] = discord.HTTPException
) -> discord.HTTPException:
    return cls(_Response(status), {"code": code, "message": "nope"})  # type: ignore[arg-type]


@dataclass
class FakeMessage:
    id: int


@dataclass
class FakeChannel:
    send_errors: list[Exception] = field(default_factory=list)
    edit_errors: list[Exception] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    edited: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    next_id: int = 500

    async def send(self, content: str | None = None, **kwargs: Any) -> FakeMessage:
        if self.send_errors:
            raise self.send_errors.pop(0)
        self.sent.append({"content": content, **kwargs})
        self.next_id += 1
        return FakeMessage(self.next_id)

    def get_partial_message(self, message_id: int) -> Any:
        channel = self

        class Partial:
            async def edit(self, **kwargs: Any) -> None:
                if channel.edit_errors:
                    raise channel.edit_errors.pop(0)
                channel.edited.append(message_id)

            async def delete(self) -> None:
                channel.deleted.append(message_id)

        return Partial()


class FakeStorage:
    def __init__(self, stored: Job) -> None:
        self.job = stored
        self.shown = []

    async def get_job(self, job_id: int) -> Job:
        return self.job

    async def update_job(self, job_id: int, **fields: Any) -> Job:
        self.job = self.job.model_copy(update=fields)
        return self.job

    async def load_frame(self, job_id: int) -> Any:
        return self.frame

    async def card_shown(self, job_id: int, pending: int) -> bool:
        self.shown.append(pending)
        return True

    async def server_language(self, guild_id: int) -> str | None:
        return self.language

    shown: list[int]
    language: str | None = None  # the language set with /videoadmin language set

    frame: Any = None


class FakeJobs:
    def clock(self) -> datetime:
        return NOW + timedelta(minutes=10)


class FakeGuild:
    filesize_limit = 10 * 1024 * 1024
    preferred_locale: discord.Locale | None = None


class FakeBot:
    def __init__(self, channel: FakeChannel, stored: Job) -> None:
        self.channel = channel
        self.storage = FakeStorage(stored)
        self.jobs = FakeJobs()

    def get_partial_messageable(self, channel_id: int, *, guild_id: int | None = None) -> Any:
        return self.channel

    def get_guild(self, guild_id: int) -> FakeGuild:
        return FakeGuild()


def presenter_for(stored: Job, channel: FakeChannel) -> tuple[DiscordPresenter, FakeBot]:
    bot = FakeBot(channel, stored)
    return DiscordPresenter(bot, edit_interval=0.01), bot  # type: ignore[arg-type]


def clip_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"v" * size)
    return path


async def test_clip_within_the_limit_is_attached_with_a_stable_nonce(tmp_path: Path) -> None:
    channel = FakeChannel()
    done = job(
        state=JobState.DELIVERING,
        delivery_nonce="00ff00ff00ff00ff",
        output_url="https://cdn1.wiro.ai/x/0.mp4",
    )
    presenter, _ = presenter_for(done, channel)
    delivery = await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 1000), 1000))
    assert delivery.attached and delivery.message_id == 501
    sent = channel.sent[0]
    assert sent["nonce"] == int("00ff00ff00ff00ff", 16)
    assert sent["file"].filename == "hailuo-7.mp4"
    assert [u.id for u in sent["allowed_mentions"].users] == [3]  # the requester, nobody else
    assert sent["allowed_mentions"].everyone is False and sent["allowed_mentions"].roles is False


async def test_clip_over_the_guild_limit_is_linked_with_the_reason(tmp_path: Path) -> None:
    channel = FakeChannel()
    done = job(state=JobState.DELIVERING, output_url="https://cdn1.wiro.ai/x/0.mp4")
    presenter, _ = presenter_for(done, channel)
    size = 11 * 1024 * 1024
    delivery = await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 10), size))
    assert not delivery.attached
    assert "upload limit" in (delivery.note or "")
    assert "https://cdn1.wiro.ai/x/0.mp4" in channel.sent[0]["content"]
    assert "file" not in channel.sent[0]


async def test_a_413_from_discord_is_handed_to_the_job_service(tmp_path: Path) -> None:
    """A 413 posts nothing: the job service fits the clip to a smaller limit and tries again,
    and only then asks for the link, with the reason it gives."""
    channel = FakeChannel(send_errors=[http_error(413, 40005)])
    done = job(state=JobState.DELIVERING, output_url="https://cdn1.wiro.ai/x/0.mp4")
    presenter, _ = presenter_for(done, channel)
    with pytest.raises(UploadTooLarge) as refused:
        await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 1000), 1000))
    assert refused.value.size == 1000 and channel.sent == []
    delivery = await presenter.deliver_clip(
        done, ClipToPost(None, 1000, link_reason="Discord refused the upload as too large.")
    )
    assert not delivery.attached and delivery.note == "Discord refused the upload as too large."
    assert "https://cdn1.wiro.ai/x/0.mp4" in channel.sent[0]["content"]
    assert "Discord refused the upload as too large." in channel.sent[0]["content"]


async def test_a_refused_reply_is_posted_once_more_without_the_reference(
    tmp_path: Path,
) -> None:
    channel = FakeChannel(send_errors=[http_error(400, 160002)])  # cannot reply here
    done = job(state=JobState.DELIVERING, output_url="https://cdn1.wiro.ai/x/0.mp4")
    presenter, _ = presenter_for(done, channel)
    delivery = await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 1000), 1000))
    assert delivery.attached
    assert channel.sent[0]["file"].filename == "hailuo-7.mp4"
    assert "reference" not in channel.sent[0]


async def test_other_discord_errors_on_delivery_are_reported(tmp_path: Path) -> None:
    forbidden = http_error(403, 50013, discord.Forbidden)
    channel = FakeChannel(send_errors=[forbidden, forbidden])
    done = job(state=JobState.DELIVERING, output_url="https://cdn1.wiro.ai/x/0.mp4")
    presenter, _ = presenter_for(done, channel)
    with pytest.raises(PresenterError):
        await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 1000), 1000))


async def test_a_card_older_than_an_hour_is_reposted_not_edited() -> None:
    channel = FakeChannel()
    old = job(
        card_posted_at=NOW - timedelta(hours=2), state=JobState.RUNNING, stage=Stage.GENERATING
    )
    presenter, bot = presenter_for(old, channel)
    await presenter.edit_card(old, CardExtras())
    assert channel.edited == []
    assert len(channel.sent) == 1 and channel.deleted == [99]
    assert bot.storage.job.card_message_id == 501


async def test_30046_on_edit_posts_a_fresh_card() -> None:
    channel = FakeChannel(edit_errors=[http_error(400, 30046)])
    fresh = job(state=JobState.RUNNING, stage=Stage.FINISHING)
    presenter, bot = presenter_for(fresh, channel)
    await presenter.edit_card(fresh, CardExtras())
    assert len(channel.sent) == 1
    assert bot.storage.job.card_message_id == 501


async def test_send_pacer_allows_a_burst_then_spaces_messages_per_channel() -> None:
    from cogs.cards.pacing import SendPacer

    timer = VirtualTimer()
    pacer = SendPacer(capacity=3, period=0.6, timer=timer)  # 3 at once, then one per 0.2 s
    stamps = []
    for _ in range(5):
        await pacer.acquire(1)
        stamps.append(timer.now)
    await pacer.acquire(2)  # another channel has its own bucket
    assert stamps == pytest.approx([0.0, 0.0, 0.0, 0.2, 0.4])
    assert timer.now == pytest.approx(0.4)


def _old_card_with_an_image() -> Job:
    """A running job from a first frame whose card was posted two hours ago (to be reposted)."""
    return job(
        card_posted_at=NOW - timedelta(hours=2),
        state=JobState.RUNNING,
        stage=Stage.GENERATING,
        has_image=True,
    )


async def test_a_reposted_card_carries_its_own_thumbnail() -> None:
    import io as _io

    from PIL import Image

    from storage.models import StoredFrame

    buffer = _io.BytesIO()
    Image.new("RGB", (640, 360), (10, 120, 200)).save(buffer, "PNG")
    channel, old = FakeChannel(), _old_card_with_an_image()
    presenter, bot = presenter_for(old, channel)
    bot.storage.frame = StoredFrame(buffer.getvalue(), "image/png", "first-frame.png")
    await presenter.edit_card(old, CardExtras())
    sent = channel.sent[0]
    assert sent["file"].filename == "first-frame.jpg"
    assert sent["embed"].thumbnail.url == "attachment://first-frame.jpg"


async def test_a_reposted_card_without_its_frame_drops_the_thumbnail() -> None:
    channel, old = FakeChannel(), _old_card_with_an_image()
    presenter, _ = presenter_for(old, channel)
    await presenter.edit_card(old, CardExtras())
    sent = channel.sent[0]
    assert "file" not in sent
    assert not sent["embed"].thumbnail.url


# ------------------------------------------------------------------------------------------
# The "card behind" mark (a real database)
# ------------------------------------------------------------------------------------------
async def test_an_edit_that_lands_clears_the_mark_and_one_that_fails_keeps_it(
    tmp_path: Path,
) -> None:
    from storage.models import NewJob
    from tests.factories import open_database, reserve_and_walk

    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        made = await reserve_and_walk(
            db, NewJob(guild_id=1, channel_id=2, user_id=3, prompt="a lighthouse"), now=NOW
        )
        await db.update_job(made.id, card_message_id=99, card_posted_at=NOW)
        stored = await db.transition(made.id, JobState.CANCELLED, stage=Stage.DONE)
        channel = FakeChannel(edit_errors=[http_error(403, 50001, discord.Forbidden)])
        presenter, bot = presenter_for(stored, channel)
        bot.storage = db  # type: ignore[assignment]
        with pytest.raises(discord.Forbidden):
            await presenter.edit_card(stored, CardExtras())
        assert (await db.get_job(made.id)).card_pending == 1  # the next start tries again
        await presenter.edit_card(stored, CardExtras())
        assert channel.edited == [99]
        assert (await db.get_job(made.id)).card_pending == 0
    finally:
        await db.close()


@dataclass
class Author:
    id: int


@dataclass
class Posted:
    id: int
    author: Author
    embeds: list[discord.Embed]
    content: str = ""


class History(FakeChannel):
    """A channel whose history is these messages (what find_card and find_delivery read)."""

    def __init__(self, messages: list[Posted]) -> None:
        super().__init__()
        self.messages = messages
        self.asked: dict[str, Any] = {}

    async def history(self, **kwargs: Any) -> Any:
        self.asked = kwargs
        for message in self.messages:
            yield message


async def test_a_card_posted_before_a_crash_is_found_by_its_footer() -> None:
    """Only the bot's own message whose footer names the job, among those after it began."""

    def card_of(job_id: int, extra: str = "") -> list[discord.Embed]:
        return [discord.Embed(title="🎬 Sending to Wiro…").set_footer(text=f"Job {job_id}{extra}")]

    bot_id, member_id = 1, 2
    lost = job(id=17, card_message_id=None)
    channel = History(
        [
            Posted(600, Author(member_id), card_of(17)),  # someone quoting it: not the bot's
            Posted(601, Author(bot_id), card_of(170)),  # another job's card
            Posted(602, Author(bot_id), card_of(17, " · Sandbox clip: made locally")),
        ]
    )
    presenter, bot = presenter_for(lost, channel)
    bot.user = Author(bot_id)  # type: ignore[attr-defined]
    assert await presenter.find_card(lost) == 602
    assert channel.asked["oldest_first"] is True
    assert channel.asked["after"].id == discord.utils.time_snowflake(lost.created_at) - 1
    channel.messages = channel.messages[:2]
    assert await presenter.find_card(lost) is None
