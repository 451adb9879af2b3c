"""Encoding a still frame for Wiro (`bot.media.images`' helpers): plain modes, PNG or JPEG within
a byte limit, scaled down only when nothing else fits."""

from __future__ import annotations

import io
from typing import Final, NamedTuple

from PIL import Image, ImageFile

PNG: Final = ("image/png", "first-frame.png")
JPEG: Final = ("image/jpeg", "first-frame.jpg")

_JPEG_QUALITIES: Final = (92, 85, 75)
_SHRINK_QUALITY: Final = 85
_MAX_SHRINKS: Final = 6


class Encoded(NamedTuple):
    """One encoding of a frame: its bytes, (content type, file name), its size, and whether it
    was scaled down to fit."""

    data: bytes
    kind: tuple[str, str]
    size: tuple[int, int]
    shrunk: bool


def encode_to_fit(
    im: Image.Image, *, prefer_jpeg: bool, icc: bytes | None, max_bytes: int, min_short_side: int
) -> Encoded:
    """Encode a still, upright frame as PNG or JPEG within `max_bytes`.

    PNG first for lossless sources; then JPEG at falling quality; then JPEG scaled down, never
    below `min_short_side`. When nothing fits, the last (smallest) attempt is returned and the
    caller refuses it."""
    plain = plain_mode(im)
    if not prefer_jpeg:
        png = save(plain, "PNG", optimize=False, icc_profile=icc)
        if len(png) <= max_bytes:
            return Encoded(png, PNG, plain.size, False)
        del png
    flat = flatten(plain)
    if plain is not im and flat is not plain:
        plain.close()
    # ICC profiles are kept only for RGB; a CMYK profile would mislabel converted pixels.
    keep_icc = icc if _icc_is_rgb(icc) else None
    jpeg, shrunk = b"", False
    for quality in _JPEG_QUALITIES:
        jpeg = save(flat, "JPEG", quality=quality, icc_profile=keep_icc)
        if len(jpeg) <= max_bytes:
            return Encoded(jpeg, JPEG, flat.size, False)
    for _ in range(_MAX_SHRINKS):
        short = min(flat.size)
        if short <= min_short_side:
            break
        # JPEG size grows about with the pixel count: aim a little under the limit.
        factor = max(0.5, min(0.9, (max_bytes / len(jpeg)) ** 0.5 * 0.95))
        factor = max(factor, min_short_side / short)
        size = (max(1, round(flat.width * factor)), max(1, round(flat.height * factor)))
        flat = replace(flat, flat.resize(size, Image.Resampling.LANCZOS))
        shrunk = True
        jpeg = save(flat, "JPEG", quality=_SHRINK_QUALITY, icc_profile=keep_icc)
        if len(jpeg) <= max_bytes:
            return Encoded(jpeg, JPEG, flat.size, True)
    return Encoded(jpeg, JPEG, flat.size, shrunk)


def replace(old: Image.Image, new: Image.Image) -> Image.Image:
    """Free `old`'s pixels once `new` (made from it) replaces it, unless it is the opened file's
    image, which `bot.media.images` frees on leaving its `with` block."""
    if new is not old and not isinstance(old, ImageFile.ImageFile):
        old.close()
    return new


def flatten(im: Image.Image) -> Image.Image:
    """The image without its transparency, on white."""
    if im.mode not in ("RGBA", "LA"):
        return im
    # A video frame has no transparency; flatten onto white as viewers show it.
    base = Image.new("RGB", im.size, "white")
    base.paste(im, mask=im.getchannel("A"))
    return base


def plain_mode(im: Image.Image) -> Image.Image:
    """The image in a mode every encoder takes: RGB, RGBA, L or LA."""
    if im.mode in ("RGB", "RGBA", "L", "LA"):
        return im
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale: scale down rather than clip to white.
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if im.mode in ("P", "PA"):
        return im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
    if im.mode == "1":
        return im.convert("L")
    if im.mode == "F":
        return im.convert("L")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX...


def _icc_is_rgb(icc: bytes | None) -> bool:
    # The profile header holds the colour space signature at bytes 16-20.
    return icc is not None and icc[16:20] in (b"RGB ", b"GRAY")


def save(im: Image.Image, fmt: str, **params: object) -> bytes:
    """The image encoded in `fmt`, leaving out parameters that are None."""
    buf = io.BytesIO()
    im.save(buf, fmt, **{k: v for k, v in params.items() if v is not None})
    return buf.getvalue()
