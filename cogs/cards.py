"""The public job card: how it looks, its buttons, and how edits reach Discord.

`render_card` is pure (job row → embed + view) so it can be tested and screenshotted.
`DiscordPresenter` implements `bot.jobs.JobPresenter`: it posts cards and clips through the bot
token (never the 15-minute interaction token), and `CardEditor` coalesces and paces card edits
per channel so that Discord's edit rate limit is never hit, with final states sent first.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.jobs import CardExtras, Delivery, PresenterError, Refused, ts
from cogs.common import NO_MENTIONS, is_moderator, reply, role_ids
from storage.models import Job, JobState, Stage

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)

THUMBNAIL_NAME = "first-frame.jpg"
# Discord allows about 5 edits per 5 s per channel: one edit a second per channel. New messages
# have their own bucket (SendPacer); if Discord ever shares them, discord.py still waits on the
# rate-limit headers before sending, so the worst case is a short wait, not a 429.
EDIT_INTERVAL_SECONDS = 1.0
# Editing a message older than an hour hits a separate cap (30046): post a fresh card instead.
CARD_MAX_EDIT_AGE = timedelta(minutes=55)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# A follow-up upload through the interaction needs its token to outlive the upload.
INTERACTION_MARGIN = timedelta(minutes=2)

_STAGE_ORDER = [
    Stage.WAITING,
    Stage.SUBMITTING,
    Stage.QUEUED,
    Stage.STARTING,
    Stage.GENERATING,
    Stage.FINISHING,
    Stage.DELIVERING,
    Stage.DONE,
]
_STAGE_LABEL = {
    Stage.WAITING: "Waiting for a free slot at Wiro",
    Stage.SUBMITTING: "Sending to Wiro",
    Stage.QUEUED: "Queued at Wiro",
    Stage.STARTING: "Starting",
    Stage.GENERATING: "Generating",
    Stage.FINISHING: "Finishing",
    Stage.DELIVERING: "Posting the clip",
    Stage.DONE: "Done",
}
_COLOURS = {
    JobState.SUCCEEDED: discord.Colour.green(),
    JobState.FAILED: discord.Colour.red(),
    JobState.TIMED_OUT: discord.Colour.orange(),
    JobState.CANCELLED: discord.Colour.light_grey(),
}
_TITLES = {
    JobState.SUCCEEDED: "✅ Video ready",
    JobState.FAILED: "❌ Video failed",
    JobState.TIMED_OUT: "⌛ Video timed out",
    JobState.CANCELLED: "🚫 Video cancelled",
}


def progress_bar(job: Job, width: int = 12) -> str:
    """A bar that advances with the stage (and Wiro's percentage while generating)."""
    if job.state is JobState.SUCCEEDED:
        filled = width
    else:
        index = _STAGE_ORDER.index(job.stage) if job.stage in _STAGE_ORDER else 0
        fraction = index / (len(_STAGE_ORDER) - 1)
        if job.stage is Stage.GENERATING and job.progress is not None:
            step = 1 / (len(_STAGE_ORDER) - 1)
            fraction += step * max(0, min(100, job.progress)) / 100
        filled = round(fraction * width)
    return "▰" * filled + "▱" * (width - filled)


def prompt_as_text(prompt: str, limit: int = 1800) -> str:
    """The prompt as inert text: no mention renders or pings, no markdown applies."""
    text = discord.utils.escape_markdown(prompt)
    text = discord.utils.escape_mentions(text)
    # escape_mentions covers @everyone/@here and <@id>, <@&id>; channels too for good measure.
    text = text.replace("<#", "<\u200b#")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _duration_words(seconds: float) -> str:
    seconds = round(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def settings_line(job: Job) -> str:
    optimizer = "optimizer on" if job.prompt_optimizer else "optimizer off"
    image = " · first frame" if job.has_image else ""
    return f"{job.resolution} · {job.duration} s · {optimizer}{image}"


def render_card(
    job: Job, extras: CardExtras, *, has_thumbnail: bool = False
) -> tuple[discord.Embed, discord.ui.View | None]:
    """Build the job card for the job's current state."""
    terminal = job.is_terminal
    if terminal:
        title = _TITLES[job.state]
        colour = _COLOURS[job.state]
    else:
        title = f"🎬 {_STAGE_LABEL.get(job.stage, job.stage.value)}…"
        colour = discord.Colour.blurple()
    embed = discord.Embed(title=title, colour=colour)
    embed.description = f"**Prompt**\n{prompt_as_text(job.prompt)}"
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    credit_word = "credit" if job.credits == 1 else "credits"

    if not terminal:
        stage = _STAGE_LABEL.get(job.stage, job.stage.value)
        if extras.cancelling:
            stage = "Cancelling…"
        bar = progress_bar(job)
        percent = f" {job.progress}%" if job.progress is not None else ""
        embed.add_field(name="Stage", value=f"{stage}\n`{bar}`{percent}", inline=False)
        if extras.queue_position is not None and job.stage is Stage.WAITING:
            embed.add_field(
                name="Queue", value=f"#{extras.queue_position} in line (Wiro is busy)", inline=True
            )
        embed.add_field(name="Started", value=ts(job.created_at), inline=True)
        if extras.eta is not None:
            embed.add_field(name="ETA", value=ts(extras.eta), inline=True)
        embed.add_field(name="Credits", value=f"{job.credits} reserved", inline=True)
    else:
        end = job.finished_at or job.updated_at
        taken = _duration_words((end - job.created_at).total_seconds())
        if job.state is JobState.SUCCEEDED:
            embed.add_field(name="Time taken", value=taken, inline=True)
            embed.add_field(name="Charged", value=f"{job.credits} {credit_word}", inline=True)
            if job.result_message_id:
                link = (
                    f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/"
                    f"{job.result_message_id}"
                )
                embed.add_field(name="Clip", value=f"[Jump to the clip]({link})", inline=True)
            if job.outcome_reason:
                embed.add_field(name="Note", value=job.outcome_reason[:1000], inline=False)
        else:
            embed.add_field(
                name="What happened", value=(job.outcome_reason or "Unknown")[:1000], inline=False
            )
            embed.add_field(name="Credits", value=f"{job.credits} refunded", inline=True)
            embed.add_field(name="After", value=taken, inline=True)
    if has_thumbnail:
        embed.set_thumbnail(url=f"attachment://{THUMBNAIL_NAME}")
    footer = f"Job {job.id}"
    if extras.sandbox:
        footer += " · Sandbox clip: made locally by the simulator, not by Hailuo"
    embed.set_footer(text=footer)
    embed.timestamp = job.created_at

    view: discord.ui.View | None = None
    if not terminal:
        view = discord.ui.View(timeout=None)
        view.add_item(CancelButton(job.id))
    elif job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT):
        view = discord.ui.View(timeout=None)
        view.add_item(RerollButton(job.id))
    return embed, view


# ----------------------------------------------------------------------------------------------
# Buttons (persistent: the job id lives in custom_id, the state in SQLite)
# ----------------------------------------------------------------------------------------------
class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:cancel:(?P<job_id>[0-9]+)"
):
    """Cancel a job (its requester or a moderator)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                style=discord.ButtonStyle.danger,
                custom_id=f"video:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self._cancel)

    async def _cancel(self, interaction: discord.Interaction) -> None:
        bot: VideoBot = interaction.client  # type: ignore[assignment]
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await bot.storage.get_job(self.job_id)
        if job.guild_id != interaction.guild_id:
            raise Refused("This job belongs to another server.")
        message = await bot.jobs.cancel(
            self.job_id, interaction.user.id, is_moderator=await is_moderator(interaction)
        )
        await reply(interaction, message)


class RerollButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:reroll:(?P<job_id>[0-9]+)"
):
    """Run the same prompt and settings again (charged again)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Re-roll",
                style=discord.ButtonStyle.secondary,
                emoji="🔁",
                custom_id=f"video:reroll:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> RerollButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self._reroll)

    async def _reroll(self, interaction: discord.Interaction) -> None:
        bot: VideoBot = interaction.client  # type: ignore[assignment]
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await bot.storage.get_job(self.job_id)
        if job.guild_id != interaction.guild_id:
            raise Refused("This job belongs to another server.")
        new = await bot.jobs.reroll(
            self.job_id,
            interaction.user.id,
            role_ids(interaction.user),
            upload_limit=interaction.filesize_limit,
        )
        await reply(interaction, f"Re-rolling as job {new.id}: {card_link(new)}")


async def _guarded(interaction: discord.Interaction, handler: Any) -> None:
    """Run a button handler; refusals and errors become an ephemeral answer, never silence."""
    from cogs.common import error_id

    try:
        await handler(interaction)
    except Refused as exc:
        await reply(interaction, exc.message)
    except Exception:
        ref = error_id()
        log.exception("error ref=%s in button %s", ref, interaction.data)
        await reply(interaction, f"Sorry, something went wrong on our side (error {ref}).")


def delivery_header(job: Job) -> str:
    """The first line of a clip message (also how a restarted bot recognises one it posted)."""
    return f"<@{job.user_id}> your video is ready (job {job.id})."


def requester_only(job: Job) -> discord.AllowedMentions:
    """Ping the member who asked, and nobody else (never @everyone, roles or a replied user)."""
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(job.user_id)]
    )


def card_link(job: Job) -> str:
    if job.card_message_id is None:
        return f"job {job.id}"
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.card_message_id}"


# ----------------------------------------------------------------------------------------------
# Pacing card edits
# ----------------------------------------------------------------------------------------------
@dataclass
class _Pending:
    job: Job
    extras: CardExtras
    since: float = field(default_factory=time.monotonic)


class CardEditor:
    """Coalesce card updates per message and pace them per channel, finals first.

    Only the latest state of each card is kept; one worker per channel sends at most one edit
    per `interval` seconds, choosing terminal states before progress updates, oldest first.
    """

    def __init__(self, presenter: DiscordPresenter, interval: float = EDIT_INTERVAL_SECONDS):
        self._presenter = presenter
        self._interval = interval
        self._pending: dict[int, dict[int, _Pending]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._last_sent: dict[int, float] = {}
        self._closed = False

    def submit(self, job: Job, extras: CardExtras) -> None:
        if self._closed:
            return
        channel = self._pending.setdefault(job.channel_id, {})
        previous = channel.get(job.id)
        channel[job.id] = _Pending(job, extras, previous.since if previous else time.monotonic())
        worker = self._workers.get(job.channel_id)
        if worker is None or worker.done():
            self._workers[job.channel_id] = asyncio.get_running_loop().create_task(
                self._run(job.channel_id), name=f"card-editor-{job.channel_id}"
            )

    def pending_count(self) -> int:
        return sum(len(p) for p in self._pending.values())

    async def _run(self, channel_id: int) -> None:
        try:
            while self._pending.get(channel_id):
                wait = self._last_sent.get(channel_id, 0.0) + self._interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                queue = self._pending.get(channel_id)
                if not queue:
                    break
                job_id = min(queue, key=lambda k: (not queue[k].job.is_terminal, queue[k].since))
                item = queue.pop(job_id)
                self._last_sent[channel_id] = time.monotonic()
                try:
                    await self._presenter.edit_card(item.job, item.extras)
                except Exception:
                    log.exception("job=%s card edit failed", item.job.id)
        finally:
            if not self._pending.get(channel_id):
                self._pending.pop(channel_id, None)
            self._workers.pop(channel_id, None)

    async def flush(self, timeout: float = 3.0) -> None:
        """Give pending edits a bounded chance to go out (used at shutdown)."""
        workers = [w for w in self._workers.values() if not w.done()]
        if workers:
            await asyncio.wait(workers, timeout=timeout)
        self._closed = True
        for worker in self._workers.values():
            worker.cancel()


class SendPacer:
    """A token bucket per channel for new messages (cards, clips, reposted cards).

    Discord limits new messages to about 5 per 5 s per channel. discord.py learns a bucket only
    from the headers of earlier answers, so a burst of concurrent sends (20 members asking at
    once) can still meet a 429 before it knows. Taking a token here first keeps bursts of up to
    `capacity` instant and spaces the rest.
    """

    def __init__(self, capacity: int = 5, period: float = 5.5) -> None:
        self._capacity = capacity
        self._rate = capacity / period  # tokens per second
        self._buckets: dict[int, tuple[float, float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def acquire(self, channel_id: int) -> None:
        """Wait until a message may be sent in this channel, then take the token."""
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            tokens, updated = self._buckets.get(channel_id, (float(self._capacity), now))
            tokens = min(self._capacity, tokens + (now - updated) * self._rate)
            if tokens < 1:
                await asyncio.sleep((1 - tokens) / self._rate)
                now = time.monotonic()
                tokens = 1.0
            self._buckets[channel_id] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle channels, keep memory flat
                idle = [c for c, (_, t) in self._buckets.items() if now - t > 60]
                for channel in idle:
                    self._buckets.pop(channel, None)
                    if channel != channel_id:
                        self._locks.pop(channel, None)


# ----------------------------------------------------------------------------------------------
# The presenter
# ----------------------------------------------------------------------------------------------
class DiscordPresenter:
    """`bot.jobs.JobPresenter` for Discord: cards, clip delivery, audit lines."""

    def __init__(self, bot: VideoBot, *, edit_interval: float = EDIT_INTERVAL_SECONDS) -> None:
        self.bot = bot
        self.editor = CardEditor(self, interval=edit_interval)
        self.sends = SendPacer()
        self._interactions: dict[int, discord.Interaction] = {}

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def post_card(self, job: Job, extras: CardExtras, thumbnail: bytes | None) -> int:
        embed, view = render_card(job, extras, has_thumbnail=thumbnail is not None)
        kwargs: dict[str, Any] = {"embed": embed, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        if thumbnail is not None:
            kwargs["file"] = discord.File(io.BytesIO(thumbnail), filename=THUMBNAIL_NAME)
        await self.sends.acquire(job.channel_id)
        try:
            message = await self._channel(job).send(**kwargs)
        except discord.HTTPException as exc:
            raise PresenterError(str(exc)) from exc
        return message.id

    async def update_card(self, job: Job, extras: CardExtras) -> None:
        self.editor.submit(job, extras)

    async def edit_card(self, job: Job, extras: CardExtras) -> None:
        """Apply one card state now (called by the editor, paced)."""
        # Re-read: a later state may already be stored; the card always shows the newest.
        job = await self.bot.storage.get_job(job.id)
        if job.card_message_id is None:
            return
        has_thumb = job.has_image
        embed, view = render_card(job, extras, has_thumbnail=has_thumb)
        too_old = (
            job.card_posted_at is not None
            and self.bot.jobs.clock() - job.card_posted_at > CARD_MAX_EDIT_AGE
        )
        if not too_old:
            try:
                await (
                    self._channel(job)
                    .get_partial_message(job.card_message_id)
                    .edit(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
                )
                return
            except discord.NotFound:
                log.info("job=%s card was deleted; posting a new one", job.id)
            except discord.HTTPException as exc:
                if exc.code != 30046:
                    raise
                log.info("job=%s card is too old to edit (30046); posting a new one", job.id)
        await self._repost(job, embed, view)

    async def _repost(self, job: Job, embed: discord.Embed, view: discord.ui.View | None) -> None:
        kwargs: dict[str, Any] = {"embed": embed, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        thumbnail = await self._thumbnail_for(job) if job.has_image else None
        if thumbnail is not None:
            # The new card needs its own copy: attachment:// refers to this message's files.
            kwargs["file"] = discord.File(io.BytesIO(thumbnail), filename=THUMBNAIL_NAME)
        else:
            embed.set_thumbnail(url=None)
        await self.sends.acquire(job.channel_id)
        message = await self._channel(job).send(**kwargs)
        old = job.card_message_id
        await self.bot.storage.update_job(
            job.id, card_message_id=message.id, card_posted_at=self.bot.jobs.clock()
        )
        if old is not None:
            with contextlib.suppress(discord.HTTPException):
                await self._channel(job).get_partial_message(old).delete()

    async def _thumbnail_for(self, job: Job) -> bytes | None:
        """Rebuild the card's thumbnail from the stored first frame (None if it is gone)."""
        from bot.media import make_thumbnail

        frame = await self.bot.storage.load_frame(job.id)
        if frame is None:
            return None
        try:
            return await asyncio.to_thread(make_thumbnail, frame.data)
        except Exception:
            log.warning("job=%s could not rebuild the card thumbnail", job.id, exc_info=True)
            return None

    def upload_limit(self, job: Job) -> int:
        """Bytes the bot may attach in this job's server (boost tier; 10 MiB by default)."""
        guild = self.bot.get_guild(job.guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    async def deliver_clip(self, job: Job, clip: Path | None, size: int | None) -> Delivery:
        mention = requester_only(job)
        reference = (
            discord.MessageReference(
                message_id=job.card_message_id,
                channel_id=job.channel_id,
                guild_id=job.guild_id,
                fail_if_not_exists=False,
            )
            if job.card_message_id
            else None
        )
        header = delivery_header(job)
        limit = self.upload_limit(job)
        nonce = int(job.delivery_nonce, 16) if job.delivery_nonce else None
        reason: str | None = None
        await self.sends.acquire(job.channel_id)
        if clip is not None and size is not None and size <= limit:
            try:
                message = await self._send_reply(
                    job,
                    reference,
                    content=header,
                    file=lambda: discord.File(clip, filename=f"hailuo-{job.id}.mp4"),
                    allowed_mentions=mention,
                    nonce=nonce,
                    suppress_embeds=True,
                )
                return Delivery(message_id=message.id, attached=True)
            except discord.HTTPException as exc:
                if exc.status != 413 and exc.code != 40005:
                    raise PresenterError(str(exc)) from exc
                reason = "Discord refused the upload as too large, so the clip is linked."
                await self.sends.acquire(job.channel_id)
        elif size is not None and size > limit:
            via_interaction = await self._deliver_through_interaction(job, clip, size, header)
            if via_interaction is not None:
                return via_interaction
            reason = (
                f"The clip is {size / 1048576:.1f} MB, above this server's "
                f"{limit / 1048576:.0f} MB upload limit, so it is linked."
            )
        else:
            reason = "The clip was too large to download, so it is linked."
        text = (
            f"{header}\n{job.output_url}\n-# {reason} Wiro's links expire after a while: "
            "download it soon."
        )
        try:
            message = await self._send_reply(
                job, reference, content=text, allowed_mentions=mention, nonce=nonce
            )
        except discord.HTTPException as exc:
            raise PresenterError(str(exc)) from exc
        return Delivery(message_id=message.id, attached=False, note=reason)

    async def _send_reply(
        self,
        job: Job,
        reference: discord.MessageReference | None,
        *,
        file: Any = None,
        **kwargs: Any,
    ) -> discord.Message:
        """Send as a reply to the card; if Discord refuses the reply itself (the card was
        deleted, or the bot lacks Read Message History), send it once more as a plain message.
        A 413 is not retried: the caller links the clip instead."""
        channel = self._channel(job)
        try:
            return await channel.send(
                reference=reference,  # type: ignore[arg-type]
                **({"file": file()} if file else {}),
                **kwargs,
            )
        except discord.HTTPException as exc:
            if reference is None or exc.status == 413 or exc.code == 40005:
                raise
            log.info("job=%s reply to the card refused (%s); posting without it", job.id, exc)
        await self.sends.acquire(job.channel_id)
        return await channel.send(**({"file": file()} if file else {}), **kwargs)

    def remember_interaction(self, job_id: int, interaction: discord.Interaction) -> None:
        """Keep the /video interaction in memory while its token lives (never stored on disk).

        Its upload limit can exceed the server's (the member's Nitro counts), so a clip too big
        for a bot message may still be attached as a follow-up while the token is valid."""
        for stale in [k for k, i in self._interactions.items() if i.is_expired()]:
            del self._interactions[stale]  # jobs that ended before we could remember them
        self._interactions[job_id] = interaction

    async def _deliver_through_interaction(
        self, job: Job, clip: Path | None, size: int, header: str
    ) -> Delivery | None:
        interaction = self._interactions.get(job.id)
        if clip is None or interaction is None or size > interaction.filesize_limit:
            return None
        # Leave room for the upload itself: a token that expires mid-upload fails the post.
        if interaction.expires_at - discord.utils.utcnow() < INTERACTION_MARGIN:
            return None
        try:
            message = await interaction.followup.send(
                header,
                file=discord.File(clip, filename=f"hailuo-{job.id}.mp4"),
                allowed_mentions=requester_only(job),
                ephemeral=False,
                wait=True,
            )
        except discord.HTTPException as exc:
            log.info("job=%s follow-up upload refused (%s); linking instead", job.id, exc.status)
            return None
        return Delivery(message_id=message.id, attached=True)

    async def find_delivery(self, job: Job) -> int | None:
        """Look for this job's clip message after its card (one history request)."""
        if job.card_message_id is None or self.bot.user is None:
            return None
        marker = delivery_header(job)
        try:
            async for message in self._channel(job).history(
                limit=100, after=discord.Object(job.card_message_id)
            ):
                if message.author.id == self.bot.user.id and message.content.startswith(marker):
                    return message.id
        except discord.HTTPException as exc:
            log.info(
                "job=%s could not read the channel to check for a posted clip: %s", job.id, exc
            )
        return None

    async def job_finished(self, job: Job) -> None:
        self._interactions.pop(job.id, None)
        hook = getattr(self.bot, "audit", None)
        if hook is not None:
            await hook.job_finished(job)

    async def close(self, timeout: float = 3.0) -> None:
        await self.editor.flush(timeout=timeout)
