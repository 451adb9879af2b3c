"""Check a member's first-frame image before anything is spent on it.

What the check decides, and why:

- The format comes from decoding with Pillow, never from the file name or the content type
  Discord reports. Only JPEG (including camera MPO files, whose first picture is a plain JPEG),
  PNG and WebP are read; for anything else the answer names the format when it is recognisable.
- Limits (product.md §2, wiro-api.md §5): at most 20 MB, short side at least 300 px, aspect ratio
  strictly between 2:5 and 5:2. Sizes are those the member sees, so an EXIF orientation tag that
  turns the picture is applied before the checks.
- Decompression bombs: the pixel count is read from the header and refused above
  ``MAX_PIXELS`` before any pixel is decoded. Pillow's own bomb guard is caught too.
- The whole image is decoded once, so a truncated or corrupt file is refused here rather than
  by Wiro after credits were reserved. PNG chunk checksums are verified as well.
- Animated PNG and WebP are accepted and their first frame is used, re-encoded as a still PNG;
  ``FirstFrame.note`` says so. Refusing them would turn away a common kind of picture for no
  gain: the clip starts from one frame whatever the file holds.
- What goes to Wiro: the original bytes when they are a plain RGB or greyscale JPEG, or a still
  PNG, that needs no turning. Otherwise an upright re-encoding: JPEG for JPEG sources (photos stay
  small), PNG for WebP and animation frames (JPEG or PNG are the formats every source says the
  model takes). A PNG that would exceed the size limit falls back to JPEG.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MIN_SHORT_SIDE: Final = 300
# Far above any first frame worth sending (a 48 MP phone photo fits), far below what would let one
# upload eat the memory of a small VPS: 50 MP of RGBA is 200 MB once decoded.
MAX_PIXELS: Final = 50_000_000

ALLOWED_HINT: Final = "use JPEG, PNG or WebP"
ANIMATED_NOTE: Final = "Animated image: its first frame was used."

# Pillow format name -> our source_format. MPO is what Pillow calls a JPEG with extra pictures
# (phone cameras add depth maps and previews); its first picture is an ordinary JPEG.
_FORMATS: Final = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_OPEN_FORMATS: Final = ("JPEG", "PNG", "WEBP")
# Modes any JPEG decoder reads; CMYK and friends are not accepted everywhere.
_PLAIN_JPEG_MODES: Final = frozenset({"RGB", "L"})
_JPEG_QUALITY: Final = 92

# Each decode may hold up to a few hundred MB at MAX_PIXELS; bound how many run at once.
_DECODE_SLOTS = threading.BoundedSemaphore(2)


class ImageRejected(ValueError):
    """The image cannot be used as a first frame; ``reason`` is a sentence for the member."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FirstFrame:
    """An image that passed the checks, ready to send to Wiro."""

    data: bytes
    content_type: str
    filename: str
    width: int
    height: int
    sha256: str
    source_format: str
    note: str | None = None

    def __repr__(self) -> str:
        # Keep megabytes of image out of logs and tracebacks.
        return (
            f"FirstFrame({self.source_format}->{self.content_type}, {self.width}x{self.height}, "
            f"{len(self.data)} bytes, sha256={self.sha256[:12]}…, note={self.note!r})"
        )


def check_image(data: bytes, *, declared_size: int | None = None) -> FirstFrame:
    """Check an image for use as a first frame; raise ImageRejected with the reason if unfit."""
    # Size first: cheap, and it spares downloading or decoding anything that is too big.
    if declared_size is not None and declared_size > MAX_IMAGE_BYTES:
        raise ImageRejected(_too_big(declared_size))
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(_too_big(len(data)))
    if not data:
        raise ImageRejected("The file is empty.")
    with _DECODE_SLOTS:
        return _check(data)


async def check_image_async(data: bytes, *, declared_size: int | None = None) -> FirstFrame:
    """Check an image in a worker thread, so decoding never blocks the event loop."""
    return await asyncio.to_thread(check_image, data, declared_size=declared_size)


THUMBNAIL_SIDE: Final = 320


def make_thumbnail(data: bytes, *, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """Return a small JPEG of a checked first frame (``FirstFrame.data``) for the job card."""
    with _DECODE_SLOTS, _open(data) as im:
        _check_pixels(*im.size)
        if im.format in ("JPEG", "MPO"):
            # Decode at 1/2..1/8 scale straight away: a thumbnail never needs the full picture.
            im.draft("RGB", (max_side, max_side))
        _load(im)
        small = ImageOps.exif_transpose(im)
        small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        small = _plain_mode(small)
        if small.mode in ("RGBA", "LA"):
            base = Image.new("RGB", small.size, "white")
            base.paste(small, mask=small.getchannel("A"))
            small = base
        return _save(small, "JPEG", quality=85)


def _check(data: bytes) -> FirstFrame:
    digest = hashlib.sha256(data).hexdigest()
    with _open(data) as im:
        fmt = _FORMATS[im.format or ""]
        raw_w, raw_h = im.size
        _check_pixels(raw_w, raw_h)
        orientation = _orientation(im)
        turned = orientation in (5, 6, 7, 8)
        width, height = (raw_h, raw_w) if turned else (raw_w, raw_h)
        _check_geometry(width, height)
        # MPO files report several frames but are not animations.
        animated = fmt != "JPEG" and bool(getattr(im, "is_animated", False))
        passthrough = (
            orientation == 1
            and not animated
            and (fmt == "PNG" or (fmt == "JPEG" and im.mode in _PLAIN_JPEG_MODES))
        )
        if fmt == "PNG":
            _verify_png(data)
        if passthrough:
            if fmt == "JPEG":
                # A scaled decode reads every byte of the stream (so truncation still shows)
                # while holding 1/64 of the pixels.
                im.draft(im.mode, (max(1, raw_w // 8), max(1, raw_h // 8)))
            _load(im)
            ctype, name = ("image/jpeg", "first-frame.jpg") if fmt == "JPEG" else _PNG
            return FirstFrame(data, ctype, name, width, height, digest, fmt)
        _load(im)
        upright = ImageOps.exif_transpose(im) if orientation != 1 else im
        out, ctype, name = _encode(
            upright, prefer_jpeg=fmt == "JPEG", icc=im.info.get("icc_profile")
        )
    if len(out) > MAX_IMAGE_BYTES:
        raise ImageRejected(
            f"Once converted to {'JPEG' if ctype == 'image/jpeg' else 'PNG'} the image is "
            f"{_mb(len(out))}; the limit is 20 MB. Send a smaller JPEG or PNG."
        )
    log.debug("first frame re-encoded: %s %dx%d -> %s", fmt, width, height, ctype)
    return FirstFrame(
        out, ctype, name, width, height, digest, fmt, ANIMATED_NOTE if animated else None
    )


_PNG: Final = ("image/png", "first-frame.png")


def _open(data: bytes) -> ImageFile.ImageFile:
    """Open the header of an allowed format, or raise ImageRejected naming what the file is."""
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses by itself above twice its own limit, before our check sees the size
        # (and raises the warning as an error when warnings are set to "error").
        raise ImageRejected(_bomb(None)) from exc
    except UnidentifiedImageError:
        pass
    except Exception as exc:  # a parser choking on a damaged header
        raise ImageRejected(_DAMAGED) from exc
    raise ImageRejected(_unsupported(data))


def _unsupported(data: bytes) -> str:
    kind = _sniff_container(data)
    if kind is None:
        try:
            # Only the header is parsed here, never the pixels.
            with Image.open(io.BytesIO(data)) as other:
                kind = other.format
        except Exception:
            kind = None
    if kind == "VIDEO":
        return f"This file is a video, not an image; {ALLOWED_HINT}."
    if kind:
        return f"{kind} images are not supported; {ALLOWED_HINT}."
    return f"This file is not an image we can read; {ALLOWED_HINT}."


def _sniff_container(data: bytes) -> str | None:
    # HEIC (iPhone photos) and AVIF share the ISO media box layout with MP4 and Pillow does not
    # name them without plugins; telling the member what they sent saves a round trip.
    if data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"):
        return "HEIC"
    if brand in (b"avif", b"avis"):
        return "AVIF"
    return "VIDEO"


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block is common and harmless: ignore it, as viewers do
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageRejected(_bomb((width, height)))


def _check_geometry(width: int, height: int) -> None:
    short = min(width, height)
    if short < MIN_SHORT_SIDE:
        raise ImageRejected(
            f"The image is {width}×{height} px; its short side must be at least "
            f"{MIN_SHORT_SIDE} px."
        )
    # Integer comparisons, so that exactly 2:5 and 5:2 are refused (the bounds are exclusive).
    if 2 * width >= 5 * height:
        raise ImageRejected(
            f"The image is {width}×{height} px, too wide: its aspect ratio must be narrower "
            "than 5:2 (width less than 2.5 × height)."
        )
    if 5 * width <= 2 * height:
        raise ImageRejected(
            f"The image is {width}×{height} px, too tall: its aspect ratio must be wider "
            "than 2:5 (height less than 2.5 × width)."
        )


def _verify_png(data: bytes) -> None:
    # verify() checks every chunk's CRC, which load() does not; strict decoders upstream would
    # reject a file with a bad checksum.
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            im.verify()
    except Exception as exc:
        raise ImageRejected(_DAMAGED) from exc


def _load(im: Image.Image) -> None:
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(_bomb(im.size)) from exc
    except Exception as exc:  # truncated data, bad compressed stream, bad frame
        raise ImageRejected(_DAMAGED) from exc


def _encode(im: Image.Image, *, prefer_jpeg: bool, icc: bytes | None) -> tuple[bytes, str, str]:
    """Encode a still, upright image as JPEG or PNG in a mode every decoder reads."""
    im = _plain_mode(im)
    if not prefer_jpeg:
        png = _save(im, "PNG", optimize=False, icc_profile=icc)
        if len(png) <= MAX_IMAGE_BYTES:
            return png, *_PNG
        del png
    if im.mode in ("RGBA", "LA"):
        # A video frame has no transparency; flatten onto white as viewers show it.
        base = Image.new("RGB", im.size, "white")
        base.paste(im, mask=im.getchannel("A"))
        im = base
    # ICC profiles are kept only for RGB; a CMYK profile would mislabel converted pixels.
    keep_icc = icc if _icc_is_rgb(icc) else None
    jpeg = _save(im, "JPEG", quality=_JPEG_QUALITY, icc_profile=keep_icc)
    return jpeg, "image/jpeg", "first-frame.jpg"


def _plain_mode(im: Image.Image) -> Image.Image:
    if im.mode in ("RGB", "RGBA", "L", "LA"):
        return im
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale: scale down rather than clip to white.
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if im.mode in ("P", "PA"):
        return im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
    if im.mode == "1":
        return im.convert("L")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, F


def _icc_is_rgb(icc: bytes | None) -> bool:
    # The profile header holds the colour space signature at bytes 16-20.
    return icc is not None and icc[16:20] in (b"RGB ", b"GRAY")


def _save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **{k: v for k, v in params.items() if v is not None})
    return buf.getvalue()


_DAMAGED: Final = (
    "The image file is damaged or incomplete and could not be decoded; try saving or exporting "
    "it again."
)


def _too_big(size: int) -> str:
    return f"The image is {_mb(size)}; the limit is 20 MB."


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _bomb(size: tuple[int, int] | None) -> str:
    limit = f"{MAX_PIXELS // 1_000_000} megapixels"
    if size is None:
        return f"The image has too many pixels to decode safely; the limit is {limit}."
    w, h = size
    return (
        f"The image is {w}×{h} px ({w * h / 1_000_000:.0f} megapixels), too many to decode "
        f"safely; the limit is {limit}."
    )
