"""How a job card looks: `render_card` is pure (job row → embed + view), so it can be tested
and screenshotted."""

from __future__ import annotations

from typing import TypeVar

import discord

from bot import i18n
from bot.catalogue import DEFAULT_ANIMATE_PROMPT
from bot.i18n import gettext, ngettext, pgettext
from bot.jobs.contracts import CardExtras
from bot.jobs.followups import can_remake
from cogs.cards.buttons import CancelButton, RerollButton
from cogs.cards.text import (
    camera_words,
    duration_words,
    message_link,
    prompt_as_text,
    settings_line,
    source_words,
)
from cogs.job_buttons import JobButton
from cogs.words import (
    deleted_card_words,
    outcome_title,
    stage_label,
    what_happened,
    when,
)
from storage.models import Job, JobState, Stage

B = TypeVar("B", bound=JobButton)

THUMBNAIL_NAME = "first-frame.jpg"

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
_COLOURS = {
    JobState.SUCCEEDED: discord.Colour.green(),
    JobState.FAILED: discord.Colour.red(),
    JobState.TIMED_OUT: discord.Colour.orange(),
    JobState.CANCELLED: discord.Colour.light_grey(),
}
# The card's words while Wiro retries a task after a problem (`task_error`, never final).
RETRYING_WORDS = str(i18n.Text("Wiro hit a problem and is retrying"))

# A finished clip its requester or a moderator deleted (the card stays, saying who).
DELETED_TITLE = str(i18n.Text("🗑️ Clip deleted"))
# Held requests (approval queue): while waiting, and when a decision ended them.
WAITING_TITLE = str(i18n.Text("⏳ Waiting for a moderator"))
_APPROVAL_TITLES = {
    "denied": i18n.Text("⛔ Request denied"),
    "expired": i18n.Text("⌛ Request expired"),
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


# While Discord refuses the finished clip: it is retried with the same nonce, not failed.
CLIP_ON_ITS_WAY = str(
    i18n.Text(
        "Your clip is ready. Discord is having trouble right now; the bot keeps trying, "
        "so it is on its way."
    )
)


def render_card(
    job: Job,
    extras: CardExtras,
    *,
    has_thumbnail: bool = False,
    locale: str | None = None,
) -> tuple[discord.Embed, discord.ui.View | None]:
    """Build the job card for the job's current state, in the language of `locale` (the
    server's; English when None)."""
    terminal = job.is_terminal
    waiting = not terminal and extras.approval == "waiting"
    if job.deleted_at is not None:
        title, colour = gettext(locale, DELETED_TITLE), discord.Colour.dark_grey()
    elif terminal:
        approval = _APPROVAL_TITLES.get(extras.approval or "")
        title = approval.render(locale) if approval else outcome_title(job.state, locale)
        colour = _COLOURS[job.state]
    elif waiting:
        title = gettext(locale, WAITING_TITLE)
        colour = discord.Colour.gold()
    else:
        title = f"🎬 {stage_label(job.stage, locale)}…"
        colour = discord.Colour.blurple()
    embed = discord.Embed(title=title, colour=colour)
    if job.source_url and job.prompt == DEFAULT_ANIMATE_PROMPT:
        heading = gettext(locale, "**Prompt** (default)")
    else:
        heading = gettext(locale, "**Prompt**")
    embed.description = f"{heading}\n{prompt_as_text(job.prompt)}"
    add_request_fields(embed, job, extras, locale)
    if waiting:
        add_waiting_fields(embed, job, locale)
    elif not terminal:
        add_progress_fields(embed, job, extras, locale)
    else:
        add_outcome_fields(embed, job, locale)
    if has_thumbnail:
        embed.set_thumbnail(url=f"attachment://{THUMBNAIL_NAME}")
    footer = pgettext(locale, "card", "Job {id}").format(id=job.id)
    if extras.sandbox:
        sandbox = gettext(locale, "Sandbox clip: made locally by the simulator, not by Hailuo")
        footer += f" · {sandbox}"
    embed.set_footer(text=footer)
    embed.timestamp = job.created_at
    return embed, card_view(job, extras, locale)


def card_view(job: Job, extras: CardExtras, locale: str | None = None) -> discord.ui.View | None:
    """The card's buttons for the job's state (their labels in the server's language)."""
    terminal = job.is_terminal
    view: discord.ui.View | None = None
    if not terminal and job.state is not JobState.DELIVERING:
        # A clip Wiro has made can no longer be cancelled: no Cancel while it is posted.
        view = discord.ui.View(timeout=None)
        view.add_item(labelled(CancelButton(job.id), locale))
    elif job.deleted_at is not None:
        pass  # nothing to follow up: the card says why
    elif job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT):
        from cogs.cards.studio import DeleteButton, RemakeButton, RemixButton, extend_button

        view = discord.ui.View(timeout=None)
        view.add_item(labelled(RerollButton(job.id), locale))
        if job.state is JobState.SUCCEEDED:
            max_s, max_bytes = extras.max_clip_seconds, extras.max_clip_bytes
            view.add_item(extend_button(job, max_s, max_bytes, locale))
            view.add_item(labelled(RemixButton(job.id), locale))
            if can_remake(job):
                view.add_item(labelled(RemakeButton(job.id), locale))
            view.add_item(labelled(DeleteButton(job.id), locale))
    return view


def labelled(button: B, locale: str | None) -> B:
    """A card button with its label in the language of `locale` (the custom_id is unchanged)."""
    if button.item.label:
        button.item.label = gettext(locale, button.item.label)
    return button


def add_request_fields(
    embed: discord.Embed, job: Job, extras: CardExtras, locale: str | None
) -> None:
    """What was asked: settings, who, the studio (camera, first frame, source), and origins."""
    embed.add_field(name=gettext(locale, "Settings"), value=settings_line(job, locale), inline=True)
    embed.add_field(name=gettext(locale, "Requested by"), value=f"<@{job.user_id}>", inline=True)
    # The studio: camera moves apart from the prompt, what was done to the image, its source.
    moves = camera_words(job)
    if moves:
        embed.add_field(name=gettext(locale, "Camera"), value=moves, inline=True)
    if job.image_note:
        note = i18n.from_english(locale, job.image_note)[:1000]
        embed.add_field(name=gettext(locale, "First frame"), value=note, inline=False)
    if job.source_url:
        embed.add_field(
            name=gettext(locale, "Source"), value=source_words(job, locale), inline=True
        )
    if job.extends_job_id is not None:
        extends = gettext(locale, "job {id} · the clip becomes {seconds} s")
        embed.add_field(
            name=gettext(locale, "Extends"),
            value=extends.format(id=job.extends_job_id, seconds=job.clip_seconds),
            inline=True,
        )
    if job.remake_of is not None:
        remake = gettext(locale, "job {id} in 1080P").format(id=job.remake_of)
        embed.add_field(name=gettext(locale, "Remake"), value=remake, inline=True)
    if job.remix_of is not None:
        origin = pgettext(locale, "card", "job {id}").format(id=job.remix_of)
        if extras.remix_of_message_id is not None:
            link = message_link(job.guild_id, job.channel_id, extras.remix_of_message_id)
            origin = f"[{origin}]({link})"
        remix = gettext(locale, "remix of {origin}").format(origin=origin)
        embed.add_field(name=pgettext(locale, "card", "Remix"), value=remix, inline=True)
    if job.style:
        embed.add_field(
            name=gettext(locale, "Style"), value=prompt_as_text(job.style, 100), inline=True
        )


# The card's short words with a {field} have the catalogs' context "card": `i18n.from_english`
# leaves messages with a context alone, so none is read as the template of a stored reason (the
# two plurals below are read only with a whole number, as in "5 reserved").
def _credits_reserved(job: Job, locale: str | None) -> str:
    reserved = ngettext(locale, "{count} reserved", "{count} reserved", job.credits)
    return reserved.format(count=job.credits)


def add_waiting_fields(embed: discord.Embed, job: Job, locale: str | None) -> None:
    """A request held for a moderator's review."""
    embed.add_field(
        name=gettext(locale, "Stage"),
        value=gettext(locale, "This server reviews requests: a moderator will approve or deny it."),
        inline=False,
    )
    embed.add_field(name=gettext(locale, "Requested"), value=when(job.created_at), inline=True)
    embed.add_field(
        name=gettext(locale, "Credits"), value=_credits_reserved(job, locale), inline=True
    )


def add_progress_fields(
    embed: discord.Embed, job: Job, extras: CardExtras, locale: str | None
) -> None:
    """A job on its way: the stage and its bar, the queue, when it started, the ETA."""
    stage = stage_label(job.stage, locale)
    if extras.cancelling:
        stage = gettext(locale, "Cancelling…")
    elif extras.retrying:
        stage = f"{stage} · {gettext(locale, RETRYING_WORDS)}"
    bar = progress_bar(job)
    percent = f" {job.progress}%" if job.progress is not None else ""
    embed.add_field(name=gettext(locale, "Stage"), value=f"{stage}\n`{bar}`{percent}", inline=False)
    if extras.delivery_delayed and job.stage is Stage.DELIVERING:
        embed.add_field(
            name=gettext(locale, "Clip"), value=gettext(locale, CLIP_ON_ITS_WAY), inline=False
        )
    if extras.queue_position is not None and job.stage is Stage.WAITING:
        queue = gettext(locale, "#{position} in line (Wiro is busy)")
        embed.add_field(
            name=gettext(locale, "Queue"),
            value=queue.format(position=extras.queue_position),
            inline=True,
        )
    embed.add_field(name=gettext(locale, "Started"), value=when(job.created_at), inline=True)
    if extras.eta is not None:
        embed.add_field(name=gettext(locale, "ETA"), value=when(extras.eta), inline=True)
    embed.add_field(
        name=gettext(locale, "Credits"), value=_credits_reserved(job, locale), inline=True
    )


def add_outcome_fields(embed: discord.Embed, job: Job, locale: str | None) -> None:
    """A finished job: how long it took, what it cost or why it ended, and its clip."""
    end = job.finished_at or job.updated_at
    taken = duration_words((end - job.created_at).total_seconds(), locale)
    if job.state is JobState.SUCCEEDED:
        charged = ngettext(locale, "{count} credit", "{count} credits", job.credits)
        embed.add_field(name=gettext(locale, "Time taken"), value=taken, inline=True)
        embed.add_field(
            name=gettext(locale, "Charged"),
            value=charged.format(count=job.credits),
            inline=True,
        )
        if job.deleted_at is not None:
            embed.add_field(
                name=gettext(locale, "Deleted"),
                value=deleted_card_words(job, locale),
                inline=False,
            )
        elif job.result_message_id:
            link = message_link(job.guild_id, job.channel_id, job.result_message_id)
            jump = gettext(locale, "[Jump to the clip]({link})").format(link=link)
            embed.add_field(name=gettext(locale, "Clip"), value=jump, inline=True)
        if job.outcome_reason:
            note = i18n.from_english(locale, job.outcome_reason)[:1000]
            embed.add_field(name=gettext(locale, "Note"), value=note, inline=False)
    else:
        happened = what_happened(job, locale) or gettext(locale, "Unknown")
        embed.add_field(name=gettext(locale, "What happened"), value=happened[:1000], inline=False)
        refunded = ngettext(locale, "{count} refunded", "{count} refunded", job.credits)
        refunded = refunded.format(count=job.credits)
        embed.add_field(name=gettext(locale, "Credits"), value=refunded, inline=True)
        embed.add_field(name=gettext(locale, "After"), value=taken, inline=True)
