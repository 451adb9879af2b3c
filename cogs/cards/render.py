"""How a job card looks: `render_card` is pure (job row → embed + view), so it can be tested
and screenshotted."""

from __future__ import annotations

import discord

from bot.catalogue import DEFAULT_ANIMATE_PROMPT
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
from cogs.words import OUTCOME_TITLE, deleted_by, plural, stage_label, what_happened, when
from storage.models import Job, JobState, Stage

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
RETRYING_WORDS = "Wiro hit a problem and is retrying"

# A finished clip its requester or a moderator deleted (the card stays, saying who).
DELETED_TITLE = "🗑️ Clip deleted"
# Held requests (approval queue): while waiting, and when a decision ended them.
WAITING_TITLE = "⏳ Waiting for a moderator"
_APPROVAL_TITLES = {"denied": "⛔ Request denied", "expired": "⌛ Request expired"}


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
CLIP_ON_ITS_WAY = (
    "Your clip is ready. Discord is having trouble right now; the bot keeps trying, "
    "so it is on its way."
)


def render_card(
    job: Job, extras: CardExtras, *, has_thumbnail: bool = False
) -> tuple[discord.Embed, discord.ui.View | None]:
    """Build the job card for the job's current state."""
    terminal = job.is_terminal
    waiting = not terminal and extras.approval == "waiting"
    if job.deleted_at is not None:
        title, colour = DELETED_TITLE, discord.Colour.dark_grey()
    elif terminal:
        title = _APPROVAL_TITLES.get(extras.approval or "", OUTCOME_TITLE[job.state])
        colour = _COLOURS[job.state]
    elif waiting:
        title = WAITING_TITLE
        colour = discord.Colour.gold()
    else:
        title = f"🎬 {stage_label(job.stage)}…"
        colour = discord.Colour.blurple()
    embed = discord.Embed(title=title, colour=colour)
    default = " (default)" if job.source_url and job.prompt == DEFAULT_ANIMATE_PROMPT else ""
    embed.description = f"**Prompt**{default}\n{prompt_as_text(job.prompt)}"
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    # The studio: camera moves apart from the prompt, what was done to the image, its source.
    moves = camera_words(job)
    if moves:
        embed.add_field(name="Camera", value=moves, inline=True)
    if job.image_note:
        embed.add_field(name="First frame", value=job.image_note[:1000], inline=False)
    if job.source_url:
        embed.add_field(name="Source", value=source_words(job), inline=True)
    if job.extends_job_id is not None:
        embed.add_field(
            name="Extends",
            value=f"job {job.extends_job_id} · the clip becomes {job.clip_seconds} s",
            inline=True,
        )
    if job.remake_of is not None:
        embed.add_field(name="Remake", value=f"job {job.remake_of} in 1080P", inline=True)
    if job.remix_of is not None:
        origin = f"job {job.remix_of}"
        if extras.remix_of_message_id is not None:
            link = message_link(job.guild_id, job.channel_id, extras.remix_of_message_id)
            origin = f"[{origin}]({link})"
        embed.add_field(name="Remix", value=f"remix of {origin}", inline=True)
    if job.style:
        embed.add_field(name="Style", value=prompt_as_text(job.style, 100), inline=True)

    if waiting:
        embed.add_field(
            name="Stage",
            value="This server reviews requests: a moderator will approve or deny it.",
            inline=False,
        )
        embed.add_field(name="Requested", value=when(job.created_at), inline=True)
        embed.add_field(name="Credits", value=f"{job.credits} reserved", inline=True)
    elif not terminal:
        stage = stage_label(job.stage)
        if extras.cancelling:
            stage = "Cancelling…"
        elif extras.retrying:
            stage = f"{stage} · {RETRYING_WORDS}"
        bar = progress_bar(job)
        percent = f" {job.progress}%" if job.progress is not None else ""
        embed.add_field(name="Stage", value=f"{stage}\n`{bar}`{percent}", inline=False)
        if extras.delivery_delayed and job.stage is Stage.DELIVERING:
            embed.add_field(name="Clip", value=CLIP_ON_ITS_WAY, inline=False)
        if extras.queue_position is not None and job.stage is Stage.WAITING:
            embed.add_field(
                name="Queue", value=f"#{extras.queue_position} in line (Wiro is busy)", inline=True
            )
        embed.add_field(name="Started", value=when(job.created_at), inline=True)
        if extras.eta is not None:
            embed.add_field(name="ETA", value=when(extras.eta), inline=True)
        embed.add_field(name="Credits", value=f"{job.credits} reserved", inline=True)
    else:
        end = job.finished_at or job.updated_at
        taken = duration_words((end - job.created_at).total_seconds())
        if job.state is JobState.SUCCEEDED:
            embed.add_field(name="Time taken", value=taken, inline=True)
            embed.add_field(name="Charged", value=plural(job.credits, "credit"), inline=True)
            if job.deleted_at is not None:
                embed.add_field(
                    name="Deleted",
                    value=f"The clip was deleted {deleted_by(job)}. Its credits were not "
                    "refunded; Re-roll, Extend, Remix and Remake are no longer offered.",
                    inline=False,
                )
            elif job.result_message_id:
                link = message_link(job.guild_id, job.channel_id, job.result_message_id)
                embed.add_field(name="Clip", value=f"[Jump to the clip]({link})", inline=True)
            if job.outcome_reason:
                embed.add_field(name="Note", value=job.outcome_reason[:1000], inline=False)
        else:
            embed.add_field(
                name="What happened", value=(what_happened(job) or "Unknown")[:1000], inline=False
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
    if not terminal and job.state is not JobState.DELIVERING:
        # A clip Wiro has made can no longer be cancelled: no Cancel while it is posted.
        view = discord.ui.View(timeout=None)
        view.add_item(CancelButton(job.id))
    elif job.deleted_at is not None:
        pass  # nothing to follow up: the card says why
    elif job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT):
        from cogs.cards.studio import DeleteButton, RemakeButton, RemixButton, extend_button

        view = discord.ui.View(timeout=None)
        view.add_item(RerollButton(job.id))
        if job.state is JobState.SUCCEEDED:
            view.add_item(extend_button(job, extras.max_clip_seconds, extras.max_clip_bytes))
            view.add_item(RemixButton(job.id))
            if can_remake(job):
                view.add_item(RemakeButton(job.id))
            view.add_item(DeleteButton(job.id))
    return embed, view
