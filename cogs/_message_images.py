"""A posted message's image, for Apps → Animate with Hailuo (cogs/animate.py): where it is (an
attachment, else an embed's image or thumbnail), whether the bot may fetch it (Discord's own
hosts only), and the bounded download. A refusal is an `i18n.Text`: the cog answers it in the
member's language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import discord

from bot import i18n
from bot.jobs.contracts import Refused
from bot.media.images import MAX_SOURCE_BYTES, ImageRejected, check_declared_size

log = logging.getLogger("cogs.animate")

FETCH_TIMEOUT_SECONDS: Final = 30.0

# Image attachments that carry no image content type (old uploads, some clients).
_IMAGE_EXTENSIONS: Final = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".avif",
    ".heic",
    ".jfif",
)
# Where embed images are fetched from: Discord's CDN and media proxy (an embed's proxy_url), and
# the host of the Discord API the bot talks to. Never an arbitrary URL a message author wrote.
_DISCORD_HOSTS: Final = ("discordapp.com", "discordapp.net", "discord.com", "discord.media")


@dataclass(frozen=True)
class ImageSource:
    """Where a message's image is and how to fetch it."""

    url: str
    attachment: discord.Attachment | None = None
    size: int | None = None  # declared by Discord for attachments

    async def read(self) -> bytes:
        """Download the image (bounded in size and time); raise Refused if the bot cannot."""
        if self.size is not None:
            check_declared_size(self.size)
        try:
            if self.attachment is not None:
                return await self.attachment.read()
            return await fetch_embed_image(self.url)
        except ImageRejected as exc:
            # Over the size the bot reads (ImageRejected is a ValueError: say so, not "could not
            # fetch").
            raise Refused(
                i18n.Text(
                    "That image is too large to animate. {reason} Nothing was spent.",
                    reason=exc.text,
                )
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("could not fetch the image %s: %s", _safe_url(self.url), exc)
            raise Refused(
                i18n.Text(
                    "I couldn't fetch the image of that message (it may have been deleted, or "
                    "its link has expired). Nothing was spent; try again or attach it to /video."
                )
            ) from None


def image_of(message: discord.Message) -> ImageSource | None:
    """The message's first image: an attachment, else an embed's image, else its thumbnail."""
    for attachment in message.attachments:
        if _is_image(attachment):
            return ImageSource(attachment.url, attachment, attachment.size)
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            # The proxy URL is Discord's copy; the original may be any host.
            url = getattr(media, "proxy_url", None) or getattr(media, "url", None)
            if url and allowed_image_host(url):
                return ImageSource(url)
    return None


def _is_image(attachment: discord.Attachment) -> bool:
    content_type = (attachment.content_type or "").lower()
    if content_type.startswith("image/"):
        return True
    if content_type:
        return False  # a video or a document, even with a picture-like name
    return attachment.filename.lower().endswith(_IMAGE_EXTENSIONS)


def allowed_image_host(url: str) -> bool:
    """Whether the bot may fetch an embed image from this URL (Discord's own hosts only)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return False
    api_host = (urlsplit(discord.http.Route.BASE).hostname or "").lower()
    if host == api_host:
        return parts.scheme in ("https", "http")
    return parts.scheme == "https" and any(
        host == suffix or host.endswith("." + suffix) for suffix in _DISCORD_HOSTS
    )


async def fetch_embed_image(url: str) -> bytes:
    """GET an embed image from Discord's media proxy, at most MAX_SOURCE_BYTES."""
    if not allowed_image_host(url):
        raise ValueError("not a Discord host")
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as resp,
    ):
        resp.raise_for_status()
        if resp.content_length is not None:
            check_declared_size(resp.content_length)
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            total += len(chunk)
            if total > MAX_SOURCE_BYTES:
                check_declared_size(total)  # raises ImageRejected with the limit
            chunks.append(chunk)
        return b"".join(chunks)


def _safe_url(url: str) -> str:
    # Discord's signed query (ex/is/hm) is a credential of sorts: keep it out of logs.
    return url.split("?", 1)[0]
