"""Words on and around a job card: the prompt as inert text, settings, links, the clip header."""

from __future__ import annotations

import discord

from bot import camera, i18n
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


def duration_words(seconds: float, locale: str | None = None) -> str:
    """'2m 05s', '45s' (Japanese '2分05秒'); context "card": never a template of a reason."""
    minutes, secs = divmod(round(seconds), 60)
    if minutes:
        text = i18n.pgettext(locale, "card", "{minutes}m {seconds}s")
        return text.format(minutes=minutes, seconds=f"{secs:02d}")
    return i18n.pgettext(locale, "card", "{seconds}s").format(seconds=secs)


def model_label(job: Job) -> str:
    """The job's model as people say it ("Hailuo 2.3 Fast"); an unknown id as stored."""
    model = MODELS.get(job.model)
    return model.label if model else job.model


def settings_line(job: Job, locale: str | None = None) -> str:
    """'Hailuo 2.3 · 768P · 6 s · optimizer on · first frame' (card, audit line)."""
    if job.prompt_optimizer:
        optimizer = i18n.gettext(locale, "optimizer on")
    else:
        optimizer = i18n.gettext(locale, "optimizer off")
    image = ""
    if job.has_image:
        image = " · " + i18n.gettext(locale, "first frame")
    return f"{model_label(job)} · {job.resolution} · {job.duration} s · {optimizer}{image}"


def image_author(job: Job) -> int | None:
    """Who posted the image a job animated, when that was not its requester (else None)."""
    author = job.image_author_id
    return author if author is not None and author != job.user_id else None


def whose_image(job: Job, locale: str | None = None) -> str:
    """' · from <@author>'s image' for a job that animated another member's image, else ''.

    A mention renders the name; every message carrying it is sent without pings."""
    author = image_author(job)
    if author is None:
        return ""
    return " · " + i18n.gettext(locale, "from {who}'s image").format(who=f"<@{author}>")


def source_words(job: Job, locale: str | None = None) -> str:
    """The card's Source field: a link to the animated message, and whose image it was."""
    link = i18n.gettext(locale, "[Jump to the image]({url})").format(url=job.source_url)
    author = image_author(job)
    if author is None:
        return link
    return f"{link}\n" + i18n.gettext(locale, "Image by {who}").format(who=f"<@{author}>")


def camera_words(job: Job) -> str | None:
    """The job's camera moves for the card ('Pan left + Zoom in'), or None."""
    moves = camera.split_moves(job.camera)
    return " + ".join(moves) if moves else None


def delivery_header(job: Job, locale: str | None = None) -> str:
    """The first line of a clip message (also how a restarted bot recognises one it posted)."""
    text = i18n.gettext(locale, "{who} your video is ready (job {id}).")
    return text.format(who=f"<@{job.user_id}>", id=job.id)


# Every language a card or clip message may have been posted in (the server's may change).
LANGUAGES = (i18n.SOURCE, *i18n.SUPPORTED)


def delivery_headers(job: Job) -> frozenset[str]:
    """The first line of this job's clip message in every language shipped: the server's
    language may have changed since the clip was posted."""
    return frozenset(delivery_header(job, locale) for locale in LANGUAGES)


def requester_only(job: Job) -> discord.AllowedMentions:
    """Ping the member who asked, and nobody else (never @everyone, roles or a replied user)."""
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(job.user_id)]
    )


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def card_link(job: Job, locale: str | None = None) -> str:
    if job.card_message_id is None:
        return i18n.pgettext(locale, "card", "job {id}").format(id=job.id)
    return message_link(job.guild_id, job.channel_id, job.card_message_id)


def megabytes(size: int, locale: str | None = None) -> str:
    """A file size as members read it (`i18n.megabytes`)."""
    return i18n.megabytes(locale, size)


def compressed_note(job: Job, original_size: int, size: int) -> str:
    """The card's note for a clip re-encoded to fit the upload limit, linking the original
    (English, as the job keeps it; the card shows it in the server's language)."""
    return str(
        i18n.Text(
            "Compressed to fit the upload limit ({before} → {after}). [The original]({url}) "
            "can be downloaded while Wiro keeps it.",
            before=megabytes(original_size),
            after=megabytes(size),
            url=job.output_url,
        )
    )


def compressed_line(job: Job, original_size: int, size: int, locale: str | None = None) -> str:
    """The same, as a small line under the clip (the link in <> shows no preview)."""
    text = i18n.gettext(
        locale,
        "Compressed to fit the upload limit ({before} → {after}). The original, while Wiro "
        "keeps it: <{url}>",
    )
    before, after = megabytes(original_size, locale), megabytes(size, locale)
    return "-# " + text.format(before=before, after=after, url=job.output_url)
