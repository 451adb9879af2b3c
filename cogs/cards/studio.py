"""Extend, Remix, Remake in 1080P and Delete: the buttons on a finished card (Delete also on the
clip message) and the short forms of Extend and Remix.

The buttons are DynamicItems (the job id is in custom_id), so they work on every card ever
posted, across restarts. The forms are answered through `on_extend_form` and `on_remix_form`,
listeners on every interaction, not through discord.py's in-memory modal store: a form opened
before a restart is still answered after it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot import camera, i18n
from bot.jobs.contracts import Refused
from bot.jobs.followups import deleted_words, extend_blocker, extend_lengths, too_big_to_keep
from cogs.cards.buttons import start_follow_up
from cogs.cards.render import labelled
from cogs.common import ListenedForm, guarded, is_moderator, reply, submitted_form
from cogs.job_buttons import JobButton, job_in_this_server
from cogs.language import member_locale
from cogs.words import deleted_line

if TYPE_CHECKING:
    from bot.app.video_bot import VideoBot
    from storage.models import Job

log = logging.getLogger(__name__)

FORM_ID = re.compile(r"video:extendform:(?P<job_id>[0-9]+)")
REMIX_FORM_ID = re.compile(r"video:remixform:(?P<job_id>[0-9]+)")
CAMERA_FIELD = "camera"
REMIX_PROMPT_FIELD = "prompt"
PROMPT_FIELD = "next"
LENGTH_FIELD = "length"


def extend_button(
    job: Job,
    max_clip_seconds: int,
    max_clip_bytes: int | None = None,
    locale: str | None = None,
) -> ExtendButton:
    """The Extend button of a finished card; disabled, saying why, when it cannot be used."""
    button = labelled(ExtendButton(job.id), locale)
    blocker = extend_blocker(job, max_clip_seconds, max_clip_bytes)
    if blocker is not None:
        button.item.disabled = True
        too_big = max_clip_bytes is not None and too_big_to_keep(job, max_clip_bytes)
        if too_big:
            button.item.label = i18n.gettext(locale, "Extend: clip too big")
        else:
            reached = i18n.gettext(locale, "Extend: {seconds} s reached")
            button.item.label = reached.format(seconds=max_clip_seconds)
    return button


class ExtendButton(
    JobButton,
    prefix="video:extend",
    label=str(i18n.Text("Extend")),
    style=discord.ButtonStyle.primary,
):
    """Continue this clip from its last frame (its requester only); opens a short form."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        # A modal must be the first answer, so the checks here are quick reads (no deferral).
        bot = interaction.client
        job = await job_in_this_server(interaction, self.job_id)
        if job.user_id != interaction.user.id:
            raise Refused(i18n.Text("Only the member who asked for this video can extend it."))
        max_s = bot.jobs.config.max_clip_seconds
        blocker = extend_blocker(job, max_s, bot.jobs.config.max_clip_bytes)
        if blocker is not None:
            raise Refused(blocker)
        lengths = extend_lengths(job, max_s)
        await interaction.response.send_modal(ExtendForm(job, lengths, member_locale(interaction)))


def _prompt_box(custom_id: str, job: Job) -> discord.ui.TextInput[Any]:
    """A prompt box prefilled with the job's prompt (left as it is: the same prompt)."""
    return discord.ui.TextInput(
        custom_id=custom_id,
        style=discord.TextStyle.paragraph,
        default=job.prompt[:2000],
        required=False,
        max_length=2000,
    )


class ExtendForm(ListenedForm):
    """What happens next (default: the same prompt) and how long the new part is."""

    def __init__(self, job: Job, lengths: tuple[int, ...], locale: str | None = None) -> None:
        title = i18n.gettext(locale, "Extend this video")
        super().__init__(title, f"video:extendform:{job.id}")
        self.next = _prompt_box(PROMPT_FIELD, job)
        same = i18n.gettext(locale, "Leave it as it is to continue with the same prompt.")
        self.add_field(self.next, i18n.gettext(locale, "What happens next"), same)
        self.length: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=LENGTH_FIELD,
            options=[
                discord.SelectOption(
                    label=i18n.ngettext(locale, "{count} second", "{count} seconds", n).format(
                        count=n
                    ),
                    value=str(n),
                    default=i == 0,
                )
                for i, n in enumerate(lengths)
            ],
        )
        room = i18n.gettext(locale, "The clip is {seconds} s long now.")
        text = i18n.gettext(locale, "Length of the new part")
        self.add_field(self.length, text, room.format(seconds=job.clip_seconds))


async def on_extend_form(interaction: discord.Interaction[VideoBot]) -> None:
    """Start the extension a member asked for in the Extend form."""
    submitted = submitted_form(interaction, FORM_ID)
    if submitted is None:
        return
    job_id, values = submitted

    async def start(interaction: discord.Interaction[VideoBot]) -> None:
        chosen = values.get(LENGTH_FIELD) or ["6"]
        length = chosen[0] if isinstance(chosen, list) else chosen
        await start_follow_up(
            interaction,
            job_id,
            str(i18n.Text("Extending as job {id}.")),
            interaction.client.jobs.extend,
            prompt=values.get(PROMPT_FIELD),
            duration=int(length) if str(length).isdigit() else 0,
        )

    await guarded(interaction, start)


class RemakeButton(
    JobButton,
    prefix="video:remake",
    label=str(i18n.Text("Remake in 1080P")),
    style=discord.ButtonStyle.secondary,
):
    """Make this 768P/6 s clip again at 1080P/6 s: same prompt and first frame (charged)."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        remake = interaction.client.jobs.remake
        doing = str(i18n.Text("Remaking in 1080P as job {id}."))
        await start_follow_up(interaction, self.job_id, doing, remake)


class RemixButton(
    JobButton,
    prefix="video:remix",
    label=str(i18n.Text("Remix")),
    style=discord.ButtonStyle.secondary,
    emoji="🎛️",
):
    """Vary this clip with a new prompt and camera moves (its requester only); opens a form."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        # A modal must be the first answer: quick reads only. The service checks it all again.
        job = await job_in_this_server(interaction, self.job_id)
        if job.user_id != interaction.user.id:
            raise Refused(i18n.Text("Only the member who asked for this video can remix it."))
        if job.deleted_at is not None:
            raise Refused(deleted_words("remixed"))
        await interaction.response.send_modal(RemixForm(job, member_locale(interaction)))


class RemixForm(ListenedForm):
    """The prompt and camera moves, prefilled with the clip's own, for the member to change."""

    def __init__(self, job: Job, locale: str | None = None) -> None:
        title = i18n.gettext(locale, "Remix this video")
        super().__init__(title, f"video:remixform:{job.id}")
        self.prompt = _prompt_box(REMIX_PROMPT_FIELD, job)
        same = i18n.gettext(locale, "Same first frame, model and settings; change the words.")
        self.add_field(self.prompt, i18n.gettext(locale, "Prompt"), same)
        chosen = camera.split_moves(job.camera)
        self.camera: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=CAMERA_FIELD,
            required=False,
            min_values=0,
            max_values=camera.MAX_MOVES,
            placeholder=i18n.gettext(locale, "No camera move")[:100],
            options=[
                discord.SelectOption(label=m, value=m, default=m in chosen)
                for m in camera.CAMERA_MOVES
            ],
        )
        self.add_field(self.camera, i18n.gettext(locale, "Camera moves (up to 3, together)"))


async def on_remix_form(interaction: discord.Interaction[VideoBot]) -> None:
    """Start the remix a member asked for in the Remix form."""
    submitted = submitted_form(interaction, REMIX_FORM_ID)
    if submitted is None:
        return
    job_id, values = submitted

    async def start(interaction: discord.Interaction[VideoBot]) -> None:
        picked = values.get(CAMERA_FIELD) or []
        moves = camera.parse_moves(",".join(picked if isinstance(picked, list) else [picked]))
        await start_follow_up(
            interaction,
            job_id,
            str(i18n.Text("Remixing as job {id}.")),
            interaction.client.jobs.remix,
            prompt=values.get(REMIX_PROMPT_FIELD),
            moves=moves,
        )

    await guarded(interaction, start)


class DeleteButton(
    JobButton,
    prefix="video:delete",
    label=str(i18n.Text("Delete")),
    style=discord.ButtonStyle.danger,
    emoji="🗑️",
):
    """Delete this clip (its requester or a moderator): the clip message and the kept files go;
    the job stays in /jobs and usage, and nothing is refunded."""

    async def pressed(self, interaction: discord.Interaction[VideoBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        await job_in_this_server(interaction, self.job_id)
        done = await bot.jobs.delete_clip(
            self.job_id, interaction.user.id, is_moderator=await is_moderator(interaction)
        )
        job = done.job
        # Also on a second click: a message Discord kept the first time goes now.
        removed = await _delete_clip_message(interaction, job)
        locale = member_locale(interaction)
        if not done.now:
            await reply(interaction, deleted_line(job, locale))
            return
        text = i18n.gettext(
            locale, "Deleted the clip of job {id}. Its credits are not refunded."
        ).format(id=job.id)
        if not removed:
            again = i18n.gettext(
                locale,
                "Discord did not remove the clip message just now: press Delete again in a "
                "moment to remove it.",
            )
            text = f"{text} {again}"
        await reply(interaction, text)


async def _delete_clip_message(interaction: discord.Interaction[VideoBot], job: Job) -> bool:
    """Delete the bot's clip message of `job`; True when it is gone (or never was)."""
    if job.result_message_id is None:
        return True
    channel = interaction.client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
    try:
        await channel.get_partial_message(job.result_message_id).delete()
    except discord.NotFound:
        return True  # someone removed it already
    except discord.HTTPException as exc:
        log.warning("job=%s could not delete the clip message: %s", job.id, exc)
        return False
    return True
