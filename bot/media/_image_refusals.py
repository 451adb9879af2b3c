"""Why a member's image cannot be a first frame, in a member's words (bot/media/images.py).

Each reason is an `i18n.Text`: the member's language is not known here; the cog that answers
puts it in theirs (`ImageRejected.words(locale)`). The limits are passed in by the checks.
"""

from __future__ import annotations

from typing import Final

from bot import i18n

ALLOWED_HINT: Final = i18n.Text("use a JPEG, PNG, WebP, GIF or another common picture format")
DAMAGED: Final = i18n.Text(
    "The image file is damaged or incomplete and could not be decoded; try saving or exporting "
    "it again."
)


def mb(size: int) -> i18n.Megabytes:
    return i18n.Megabytes(size)


def _megapixels(pixels: int) -> i18n.Number:
    return i18n.Number(round(pixels / 1_000_000))


def too_big(size: int, max_bytes: int) -> i18n.Text:
    return i18n.Text(
        "The image is {size}; the bot reads images up to {limit} MB (and shrinks those over "
        "20 MB to fit Hailuo).",
        size=mb(size),
        limit=max_bytes // (1024 * 1024),
    )


def bomb(size: tuple[int, int] | None, max_pixels: int) -> i18n.Text:
    limit = _megapixels(max_pixels)
    if size is None:
        return i18n.Text(
            "The image has too many pixels to decode safely; the limit is {limit} megapixels.",
            limit=limit,
        )
    w, h = size
    return i18n.Text(
        "The image is {width}×{height} px ({megapixels} megapixels), too many to decode "
        "safely; the limit is {limit} megapixels.",
        width=w,
        height=h,
        megapixels=_megapixels(w * h),
        limit=limit,
    )


def too_many_to_read(
    width: int, height: int, label: str, max_decode_pixels: int, max_pixels: int
) -> i18n.Text:
    """An image that cannot be decoded at a reduced scale and is too large at full size."""
    sizes = {
        "width": width,
        "height": height,
        "megapixels": _megapixels(width * height),
        "limit": _megapixels(max_decode_pixels),
        "jpeg_limit": _megapixels(max_pixels),
    }
    if not label:
        return i18n.Text(
            "The image is {width}×{height} px ({megapixels} megapixels); the bot reads "
            "such images up to {limit} megapixels (JPEG photos up to {jpeg_limit}). "
            "Send a smaller picture or a JPEG.",
            **sizes,
        )
    return i18n.Text(
        "The image is {width}×{height} px ({megapixels} megapixels); the bot reads "
        "{format} images up to {limit} megapixels (JPEG photos up to {jpeg_limit}). "
        "Send a smaller picture or a JPEG.",
        format=label,
        **sizes,
    )


def short_side(width: int, height: int, minimum: int) -> i18n.Text:
    return i18n.Text(
        "The image is {width}×{height} px; its short side must be at least {minimum} px.",
        width=width,
        height=height,
        minimum=minimum,
    )


def unsupported(kind: str | None) -> i18n.Text:
    """A file the bot does not read: a video, a known format it lacks, or not a picture."""
    if kind == "VIDEO":
        return i18n.Text("This file is a video, not an image; {hint}.", hint=ALLOWED_HINT)
    if kind:
        return i18n.Text(
            "{format} images are not supported; {hint}.", format=kind, hint=ALLOWED_HINT
        )
    return i18n.Text("This file is not an image the bot can read; {hint}.", hint=ALLOWED_HINT)
