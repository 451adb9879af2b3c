"""Words on and around a job card: the prompt as inert text, settings, links, the clip header."""

from __future__ import annotations

import discord

from bot import camera
from bot.catalogue import MODELS
from storage.models import Job


def prompt_as_text(prompt: str, limit: int = 1800) -> str:
    """The prompt as inert text: no mention renders or pings, no markdown applies."""
    text = discord.utils.escape_markdown(prompt)
    text = discord.utils.escape_mentions(text)
    # escape_mentions covers @everyone/@here and <@id>, <@&id>; channels too for good measure.
    text = text.replace("<#", "<\u200b#")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def duration_words(seconds: float) -> str:
    seconds = round(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def model_label(job: Job) -> str:
    """The job's model as people say it ("Hailuo 2.3 Fast"); an unknown id as stored."""
    model = MODELS.get(job.model)
    return model.label if model else job.model


def settings_line(job: Job) -> str:
    """'Hailuo 2.3 · 768P · 6 s · optimizer on · first frame' (card, audit line)."""
    optimizer = "optimizer on" if job.prompt_optimizer else "optimizer off"
    image = " · first frame" if job.has_image else ""
    return f"{model_label(job)} · {job.resolution} · {job.duration} s · {optimizer}{image}"


def image_author(job: Job) -> int | None:
    """Who posted the image a job animated, when that was not its requester (else None)."""
    author = job.image_author_id
    return author if author is not None and author != job.user_id else None


def whose_image(job: Job) -> str:
    """' · from <@author>'s image' for a job that animated another member's image, else ''.

    A mention renders the name; every message carrying it is sent without pings."""
    author = image_author(job)
    return f" · from <@{author}>'s image" if author is not None else ""


def source_words(job: Job) -> str:
    """The card's Source field: a link to the animated message, and whose image it was."""
    link = f"[Jump to the image]({job.source_url})"
    author = image_author(job)
    return f"{link}\nImage by <@{author}>" if author is not None else link


def camera_words(job: Job) -> str | None:
    """The job's camera moves for the card ('Pan left + Zoom in'), or None."""
    moves = camera.split_moves(job.camera)
    return " + ".join(moves) if moves else None


def delivery_header(job: Job) -> str:
    """The first line of a clip message (also how a restarted bot recognises one it posted)."""
    return f"<@{job.user_id}> your video is ready (job {job.id})."


def requester_only(job: Job) -> discord.AllowedMentions:
    """Ping the member who asked, and nobody else (never @everyone, roles or a replied user)."""
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(job.user_id)]
    )


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def card_link(job: Job) -> str:
    if job.card_message_id is None:
        return f"job {job.id}"
    return message_link(job.guild_id, job.channel_id, job.card_message_id)


def megabytes(size: int) -> str:
    """A file size as members read it (MB of 2^20 bytes, as Discord counts its limits)."""
    return f"{size / 1048576:.1f} MB"


def compressed_note(job: Job, original_size: int, size: int) -> str:
    """The card's note for a clip re-encoded to fit the upload limit, linking the original."""
    return (
        f"Compressed to fit the upload limit ({megabytes(original_size)} → {megabytes(size)}). "
        f"[The original]({job.output_url}) can be downloaded while Wiro keeps it."
    )


def compressed_line(job: Job, original_size: int, size: int) -> str:
    """The same, as a small line under the clip (the link in <> shows no preview)."""
    return (
        f"-# Compressed to fit the upload limit ({megabytes(original_size)} → "
        f"{megabytes(size)}). The original, while Wiro keeps it: <{job.output_url}>"
    )
