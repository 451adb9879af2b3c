"""`DiscordPresenter` implements `bot.jobs.service.JobPresenter`: it posts cards and clips through
the
bot token (never the 15-minute interaction token) and hands card edits to the `CardEditor`."""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.jobs.contracts import (
    DISCORD_BASE_UPLOAD_LIMIT,
    CardExtras,
    ClipToPost,
    Delivery,
    PresenterError,
    UploadTooLarge,
)
from bot.jobs.outage import RetryPolicy
from cogs.cards.outage import UNKNOWN_MESSAGE, describe, unavailable_as_retryable
from cogs.cards.pacing import PACING, CardEditor, SendPacer
from cogs.cards.render import THUMBNAIL_NAME, labelled, render_card
from cogs.cards.text import (
    LANGUAGES,
    compressed_line,
    compressed_note,
    delivery_header,
    delivery_headers,
    megabytes,
    requester_only,
)
from cogs.common import NO_MENTIONS, stored_thumbnail
from cogs.language import server_locale
from storage.models import Job

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from cogs.audit import AuditPoster

log = logging.getLogger(__name__)

# Editing a message older than an hour hits a separate cap (30046): post a fresh card instead.
CARD_MAX_EDIT_AGE = timedelta(minutes=55)
DEFAULT_UPLOAD_LIMIT = DISCORD_BASE_UPLOAD_LIMIT
# A follow-up upload through the interaction needs its token to outlive the upload.
INTERACTION_MARGIN = timedelta(minutes=2)
# Looking for a clip posted before a restart: at most this many messages after the job began.
FIND_DELIVERY_SCAN = 1000
# Looking for a card posted just before a crash: it follows its reservation within seconds.
FIND_CARD_SCAN = 100
MISSING_PERMISSIONS = 50013
# Discord refused the reply itself, not the message: 160002 (no Read Message History) and
# 50035 (an unknown reference; with fail_if_not_exists false it should not happen).
REPLY_REFUSED = frozenset({160002, 50035})


class DiscordPresenter:
    """`bot.jobs.service.JobPresenter` for Discord: cards, clip delivery, audit lines."""

    def __init__(
        self,
        bot: VideoBot,
        *,
        edit_interval: float | None = None,
        retry: RetryPolicy | None = None,
        audit: AuditPoster | None = None,
        pacing_scale: float = 1.0,
    ) -> None:
        self.bot = bot
        self.audit = audit  # the audit channel's poster (wired by the bot's setup_hook)
        # Discord's per-channel windows, scaled only in a test run (`bot.timing.Timing`).
        pacing = PACING.scaled(pacing_scale)
        if edit_interval is None:
            edit_interval = pacing.edit_interval
        self.editor = CardEditor(self, interval=edit_interval, retry=retry)
        self.sends = SendPacer(pacing.send_burst, pacing.send_period)
        self._interactions: dict[int, discord.Interaction] = {}

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def locale(self, job: Job) -> str:
        """The language of this job's public messages: its server's."""
        return await server_locale(self.bot, job.guild_id)

    async def post_card(self, job: Job, extras: CardExtras, thumbnail: bytes | None) -> int:
        embed, view = render_card(
            job, extras, has_thumbnail=thumbnail is not None, locale=await self.locale(job)
        )
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
        """Apply one card state now (called by the editor, paced).

        Once Discord has it, the job's "card behind" mark is cleared, unless the job changed
        again meanwhile (that change's own edit follows, or the next start renders it)."""
        # Re-read: a later state may already be stored; the card always shows the newest.
        job = await self.bot.storage.get_job(job.id)
        if job.card_message_id is None:
            return
        await self._show(job, job.card_message_id, extras)
        await self.bot.storage.card_shown(job.id, job.card_pending)

    async def _show(self, job: Job, card_id: int, extras: CardExtras) -> None:
        has_thumb = job.has_image
        embed, view = render_card(
            job, extras, has_thumbnail=has_thumb, locale=await self.locale(job)
        )
        too_old = (
            job.card_posted_at is not None
            and self.bot.jobs.clock() - job.card_posted_at > CARD_MAX_EDIT_AGE
        )
        if not too_old:
            try:
                await (
                    self._channel(job)
                    .get_partial_message(card_id)
                    .edit(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
                )
                return
            except discord.NotFound:
                log.info("job=%s card was deleted; posting a new one", job.id)
            except discord.RateLimited as exc:
                # Editing this card would mean a long wait (30046 comes as a 429 whose wait
                # is most of an hour): a fresh card shows the state now.
                log.info("job=%s card edit is rate limited (%s); posting a new one", job.id, exc)
            except discord.HTTPException as exc:
                if exc.code != 30046:
                    raise
                log.info("job=%s card is too old to edit (30046); posting a new one", job.id)
        await self._repost(job, embed, view)

    async def _repost(self, job: Job, embed: discord.Embed, view: discord.ui.View | None) -> None:
        kwargs: dict[str, Any] = {"embed": embed, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        thumbnail = await stored_thumbnail(self.bot, job)
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

    def upload_limit(self, job: Job) -> int:
        """Bytes the bot may attach in this job's server (boost tier; 10 MiB by default)."""
        guild = self.bot.get_guild(job.guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    def attach_limit(self, job: Job) -> int:
        """The interaction's limit while its token lives (with room for the upload), else the
        server's: what a clip must fit to be attached rather than linked."""
        limit = self.upload_limit(job)
        interaction = self._interactions.get(job.id)
        if interaction is not None and not self._too_late(interaction):
            limit = max(limit, interaction.filesize_limit)
        return limit

    @staticmethod
    def _too_late(interaction: discord.Interaction) -> bool:
        # Leave room for the upload itself: a token that expires mid-upload fails the post.
        return interaction.expires_at - discord.utils.utcnow() < INTERACTION_MARGIN

    async def deliver_clip(self, job: Job, post: ClipToPost) -> Delivery:
        """Post the clip (see `JobPresenter.deliver_clip`).

        Raises `DiscordUnavailable` for a "not now" (the job service retries with the same
        nonce) and `PresenterError` for a "no". A nonce that matches a clip message deleted
        since makes Discord answer 10008 instead of posting: the clip still has to reach the
        channel once, so it is posted again under a fresh nonce (stored first, so that every
        later retry and a restart use the new one)."""
        job = await self.bot.storage.get_job(job.id)  # the newest nonce
        try:
            with unavailable_as_retryable():
                try:
                    return await self._deliver_once(job, post)
                except discord.NotFound as exc:
                    if exc.code != UNKNOWN_MESSAGE:
                        raise
                    log.info("job=%s nonce matched a deleted message; posting again", job.id)
                    job = await self.bot.storage.update_job(
                        job.id, delivery_nonce=secrets.token_hex(8)
                    )
                    return await self._deliver_once(job, post)
        except discord.HTTPException as exc:
            raise PresenterError(describe(exc)) from exc

    async def _deliver_once(self, job: Job, post: ClipToPost) -> Delivery:
        clip, size = post.clip, post.size
        original_size, link_reason = post.original_size, post.link_reason
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
        locale = await self.locale(job)
        header = delivery_header(job, locale)
        note: str | None = None
        if original_size is not None and size is not None:
            note = compressed_note(job, original_size, size)
            header = f"{header}\n{compressed_line(job, original_size, size, locale)}"
        limit = self.upload_limit(job)
        nonce = int(job.delivery_nonce, 16) if job.delivery_nonce else None
        reason: str | None = None
        await self.sends.acquire(job.channel_id)
        if clip is None and link_reason is not None:
            reason = link_reason
        elif clip is not None and size is not None and size <= limit:
            try:
                message = await self._send_reply(
                    job,
                    reference,
                    content=header,
                    file=lambda: discord.File(clip, filename=f"hailuo-{job.id}.mp4"),
                    allowed_mentions=mention,
                    nonce=nonce,
                    suppress_embeds=True,
                    view=clip_view(job, locale),
                )
                return Delivery(message_id=message.id, attached=True, note=note)
            except discord.HTTPException as exc:
                if exc.status == 413 or exc.code == 40005:
                    # Over a limit we believed higher: the job service fits it and tries again.
                    raise UploadTooLarge(size) from exc
                if exc.code == MISSING_PERMISSIONS:
                    # Attach Files was taken away after /video: a link needs only Send Messages.
                    reason = str(
                        i18n.Text(
                            "The bot may not attach files in this channel, so the clip is linked."
                        )
                    )
                else:
                    raise
                log.info("job=%s clip not attached (%s); linking it", job.id, describe(exc))
                await self.sends.acquire(job.channel_id)
        elif size is not None and size > limit:
            via_interaction = await self._deliver_through_interaction(
                job, clip, size, header, locale
            )
            if via_interaction is not None:
                return via_interaction.model_copy(update={"note": note})
            reason = str(
                i18n.Text(
                    "The clip is {size}, above this server's {limit} MB upload limit, so it is "
                    "linked.",
                    size=megabytes(size),
                    limit=format(limit / 1048576, ".0f"),
                )
            )
        else:
            reason = str(i18n.Text("The clip was too large to download, so it is linked."))
        expire = i18n.gettext(
            locale, "{reason} Wiro's links expire after a while: download it soon."
        ).format(reason=i18n.from_english(locale, reason))
        text = f"{header}\n{job.output_url}\n-# {expire}"
        message = await self._send_reply(
            job,
            reference,
            content=text,
            allowed_mentions=mention,
            nonce=nonce,
            view=clip_view(job, locale),
        )
        return Delivery(message_id=message.id, attached=False, note=reason)

    async def _send_reply(
        self,
        job: Job,
        reference: discord.MessageReference | None,
        *,
        file: Any = None,
        **kwargs: Any,
    ) -> discord.Message:
        """Send as a reply to the card; if Discord refuses the reply itself (no Read Message
        History: 160002; an unknown reference: 50035), send it once more as a plain message.
        Any other error is the caller's to handle."""
        channel = self._channel(job)
        try:
            return await channel.send(
                reference=reference,  # type: ignore[arg-type]
                **({"file": file()} if file else {}),
                **kwargs,
            )
        except discord.HTTPException as exc:
            if reference is None or exc.code not in REPLY_REFUSED:
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
        self, job: Job, clip: Path | None, size: int, header: str, locale: str
    ) -> Delivery | None:
        interaction = self._interactions.get(job.id)
        if clip is None or interaction is None or size > interaction.filesize_limit:
            return None
        if self._too_late(interaction):
            return None
        try:
            message = await interaction.followup.send(
                header,
                file=discord.File(clip, filename=f"hailuo-{job.id}.mp4"),
                allowed_mentions=requester_only(job),
                ephemeral=False,
                wait=True,
                view=clip_view(job, locale),
            )
        except discord.HTTPException as exc:
            log.info("job=%s follow-up upload refused (%s); linking instead", job.id, exc.status)
            return None
        return Delivery(message_id=message.id, attached=True)

    async def find_delivery(self, job: Job) -> int | None:
        """Look for this job's clip message among the messages posted since the job began.

        Pages forward from the job's creation until now (discord.py asks 100 at a time), at
        most `FIND_DELIVERY_SCAN` messages: a busy channel may have many after the card.
        Raises `DiscordUnavailable` when Discord cannot answer now (the caller retries); a
        channel the bot cannot read counts as "not found"."""
        if self.bot.user is None:
            return None
        markers = tuple(delivery_headers(job))
        start = discord.utils.time_snowflake(job.created_at) - 1
        if job.card_message_id is not None:
            start = min(start, job.card_message_id)
        try:
            with unavailable_as_retryable():
                async for message in self._channel(job).history(
                    limit=FIND_DELIVERY_SCAN, after=discord.Object(start), oldest_first=True
                ):
                    if message.author.id == self.bot.user.id and message.content.startswith(
                        markers
                    ):
                        return message.id
        except discord.HTTPException as exc:
            log.info(
                "job=%s could not read the channel to check for a posted clip: %s",
                job.id,
                describe(exc),
            )
        return None

    async def find_card(self, job: Job) -> int | None:
        """Look for this job's card among the first messages after the job was reserved.

        The card is posted within seconds of the reservation, so `FIND_CARD_SCAN` messages
        are plenty; it is the bot's message whose embed footer names the job. Discord not
        answering, or a channel the bot cannot read, counts as "not found"."""
        if self.bot.user is None:
            return None
        footers = {i18n.pgettext(lang, "card", "Job {id}").format(id=job.id) for lang in LANGUAGES}
        start = discord.utils.time_snowflake(job.created_at) - 1
        try:
            async for message in self._channel(job).history(
                limit=FIND_CARD_SCAN, after=discord.Object(start), oldest_first=True
            ):
                if message.author.id != self.bot.user.id:
                    continue
                for embed in message.embeds:
                    text = embed.footer.text or ""
                    if text in footers or text.split(" · ", 1)[0] in footers:
                        return message.id
        except discord.HTTPException as exc:
            log.info("job=%s could not look for its card: %s", job.id, describe(exc))
        return None

    async def job_finished(self, job: Job) -> None:
        self._interactions.pop(job.id, None)
        if self.audit is not None:
            await self.audit.job_finished(job)

    async def close(self, timeout: float = 3.0) -> None:
        await self.editor.flush(timeout=timeout)


def clip_view(job: Job, locale: str | None = None) -> discord.ui.View:
    """The clip message's button: Delete (its requester or a moderator; cogs/cards/studio.py),
    labelled in the server's language."""
    from cogs.cards.studio import DeleteButton

    view = discord.ui.View(timeout=None)
    view.add_item(labelled(DeleteButton(job.id), locale))
    return view
