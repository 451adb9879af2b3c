"""Turn a member's image into a first frame Hailuo accepts: fix what can be fixed, refuse the rest.

What the check decides, and why (README, Members' commands; Wiro's input limits):

- The format comes from decoding with Pillow, never from the file name or the content type
  Discord reports. Any raster format Pillow decodes in-process is read (`DECODABLE`); formats
  that hand the file to an outside program (EPS runs Ghostscript) or that Pillow only identifies
  are refused, naming the format when it is recognisable.
- Fixed instead of refused, each fix recorded in `FirstFrame.fixes` for the job card:
  an EXIF orientation is applied; GIF, BMP, TIFF, AVIF, WebP and the like are converted to PNG
  (photo formats to JPEG); an animation gives its first frame; an aspect ratio outside 2:5–5:2
  is centre-cropped to the nearest ratio strictly inside those bounds; a frame over 20 MB is
  re-encoded (lower JPEG quality, then smaller) until it fits.
- Still refused: an empty or undecodable file, a decompression bomb (the pixel count is read
  from the header and refused above `MAX_PIXELS` before any pixel is decoded; Pillow's own bomb
  guard is caught too), a short side under 300 px (cropping never shortens it), and a file over
  `MAX_SOURCE_BYTES`, which the bot does not download at all.
- The whole image is decoded once, so a truncated or corrupt file is refused here rather than
  by Wiro after credits were reserved. PNG chunk checksums are verified as well.
- What goes to Wiro: the original bytes when they are a plain RGB or greyscale JPEG, or a still
  PNG, that needs no fix. Otherwise an upright, cropped re-encoding (`bot.media._image_encoding`).
  `FirstFrame.data` is exactly the frame sent, and the card's thumbnail is made from it, so the
  member sees what Hailuo gets.

How many images are downloaded and decoded at once is `bot.media.image_slots`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from bot import i18n
from bot.media import _image_refusals as reasons
from bot.media._image_encoding import JPEG, PNG, encode_to_fit, flatten, plain_mode, replace, save

log = logging.getLogger(__name__)

# Hailuo's limits for the frame it is sent.
MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MIN_SHORT_SIDE: Final = 300
# The largest file the bot downloads and shrinks to fit MAX_IMAGE_BYTES. A 48 MP phone photo
# saved as PNG stays below it; anything bigger is refused before it is downloaded.
MAX_SOURCE_BYTES: Final = 50 * 1024 * 1024
# Far above any first frame worth sending (a 48 MP phone photo fits), far below what would let one
# upload eat the memory of a small VPS: 50 MP of RGBA is 200 MB once decoded. A JPEG that large
# is decoded at a reduced scale (`Image.draft`), to at most FIX_PIXELS.
MAX_PIXELS: Final = 50_000_000
# Other formats cannot be decoded at a reduced scale: every pixel takes 4 bytes in memory (1 for
# palette and greyscale images, which are then converted). 20 MP is 80 MB decoded, so that the two
# decodes allowed at once (`bot.media.image_slots`) stay within a small VPS's memory; a 6K
# screenshot fits.
MAX_DECODE_PIXELS: Final = 20_000_000
# A JPEG that needs a fix is decoded at 1/2, 1/4 or 1/8 scale until it has at most this many
# pixels (about 4600×3450), still far more than a 1080P clip shows.
FIX_PIXELS: Final = 16_000_000

# Pillow formats read in-process, stills and animations. Not EPS (it runs Ghostscript), nor the
# formats Pillow only identifies (MPEG, WMF stubs, scientific containers).
DECODABLE: Final = (
    "JPEG",
    "PNG",
    "WEBP",
    "GIF",
    "BMP",
    "DIB",
    "TIFF",
    "AVIF",
    "HEIF",  # only when a plugin registers it
    "JPEG2000",
    "ICO",
    "TGA",
    "PPM",
    "QOI",
    "PCX",
    "SGI",
    "DDS",
    "PSD",
    "ICNS",
)
# How each format is named to members. MPO is what Pillow calls a JPEG with extra pictures
# (phone cameras add depth maps and previews); its first picture is an ordinary JPEG.
_LABELS: Final = {
    "MPO": "JPEG",
    "WEBP": "WebP",
    "DIB": "BMP",
    "JPEG2000": "JPEG 2000",
}
# Lossy photo formats become JPEG (a PNG of a photo is several times bigger); the rest PNG.
_PHOTO_FORMATS: Final = frozenset({"JPEG", "AVIF", "HEIF", "JPEG2000"})
# Modes any JPEG decoder reads; CMYK and friends are not accepted everywhere.
_PLAIN_JPEG_MODES: Final = frozenset({"RGB", "L"})

# Each decode may hold up to about 100 MB: one at a time in the whole process, also for callers
# that do not take an `ImageSlots` turn first (Re-roll's check of a stored frame, the card's and
# the review's thumbnails), which then wait in their thread.
_DECODE_SLOTS = threading.BoundedSemaphore(1)


class ImageRejected(ValueError):
    """The image cannot be used as a first frame; ``text`` is a sentence for the member, put in
    their language by whoever answers (`text.render(locale)`); ``reason``: English (logs)."""

    def __init__(self, reason: str | i18n.Text) -> None:
        self.text = reason if isinstance(reason, i18n.Text) else i18n.Text(reason)
        self.reason = str(self.text)
        super().__init__(self.reason)


@dataclass(frozen=True)
class FirstFrame:
    """An image that passed the checks, as it is sent to Wiro (`data`), and what was done to it."""

    data: bytes
    content_type: str
    filename: str
    width: int
    height: int
    sha256: str  # of the member's original file
    source_format: str  # the member's file as decoded: "JPEG", "GIF", "AVIF"...
    fixes: tuple[str, ...] = ()  # one sentence per fix, for the card

    @property
    def note(self) -> str | None:
        """What was done to the image, in one line for the card (None when it was sent as is)."""
        return " ".join(self.fixes) or None

    def __repr__(self) -> str:
        # Keep megabytes of image out of logs and tracebacks.
        return (
            f"FirstFrame({self.source_format}->{self.content_type}, {self.width}x{self.height}, "
            f"{len(self.data)} bytes, sha256={self.sha256[:12]}…, fixes={len(self.fixes)})"
        )


def check_image(data: bytes, *, declared_size: int | None = None) -> FirstFrame:
    """Fix an image for use as a first frame; raise ImageRejected with the reason if unfit."""
    # Size first: cheap, and it spares downloading or decoding anything far too big.
    if declared_size is not None:
        check_declared_size(declared_size)
    check_declared_size(len(data))
    if not data:
        raise ImageRejected(i18n.Text("The file is empty."))
    with _DECODE_SLOTS:
        return _check(data)


def check_declared_size(size: int) -> None:
    """Refuse, before downloading it, a file too big for the bot to read."""
    if size > MAX_SOURCE_BYTES:
        raise ImageRejected(reasons.too_big(size, MAX_SOURCE_BYTES))


async def check_image_async(data: bytes, *, declared_size: int | None = None) -> FirstFrame:
    """Check an image in a worker thread, so decoding never blocks the event loop."""
    return await asyncio.to_thread(check_image, data, declared_size=declared_size)


THUMBNAIL_SIDE: Final = 320


def make_thumbnail(data: bytes, *, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """Return a small JPEG of a checked first frame (``FirstFrame.data``) for the job card."""
    with _DECODE_SLOTS, _opened(data) as im:
        _check_pixels(*im.size, jpeg=im.format in ("JPEG", "MPO"))
        if im.format in ("JPEG", "MPO"):
            # Decode at 1/2..1/8 scale straight away: a thumbnail never needs the full picture.
            im.draft("RGB", (max_side, max_side))
        upright = _orientation(im) == 1
        _load(im)
        # Shrunk in place first, so that no second full-size copy is ever made.
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        small = im if upright else ImageOps.exif_transpose(im)
        return save(flatten(plain_mode(small)), "JPEG", quality=85)


def allowed_crop(width: int, height: int) -> tuple[int, int, int, int] | None:
    """The centred box that brings an aspect ratio strictly inside 2:5–5:2, or None if it is.

    Only the long side is shortened, to the nearest whole pixel inside the bound."""
    # Integer comparisons, so that exactly 2:5 and 5:2 count as outside (the bounds are exclusive).
    if 2 * width >= 5 * height:
        new_width = (5 * height - 1) // 2  # the largest w with 2w < 5h
        left = (width - new_width) // 2
        return left, 0, left + new_width, height
    if 5 * width <= 2 * height:
        new_height = (5 * width - 1) // 2
        top = (height - new_height) // 2
        return 0, top, width, top + new_height
    return None


def _check(data: bytes) -> FirstFrame:
    digest = hashlib.sha256(data).hexdigest()
    with _opened(data) as im:
        fmt = "JPEG" if im.format == "MPO" else (im.format or "")
        label = _LABELS.get(fmt, fmt)
        raw_w, raw_h = im.size
        # From the header, before a single pixel is decoded.
        _check_pixels(raw_w, raw_h, jpeg=fmt == "JPEG", label=label)
        orientation = _orientation(im)
        turned = orientation in (5, 6, 7, 8)
        width, height = (raw_h, raw_w) if turned else (raw_w, raw_h)
        _check_short_side(width, height)
        # MPO files report several frames but are not animations.
        animated = fmt != "JPEG" and bool(getattr(im, "is_animated", False))
        crop = allowed_crop(width, height)
        passthrough = (
            orientation == 1
            and not animated
            and crop is None
            and len(data) <= MAX_IMAGE_BYTES
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
            ctype, name = JPEG if fmt == "JPEG" else PNG
            return FirstFrame(data, ctype, name, width, height, digest, fmt)
        fixes: list[str] = []
        if fmt == "JPEG" and _draft_within(im, FIX_PIXELS):
            # A large photo is decoded straight at 1/2..1/8 scale: a fraction of the memory.
            scaled_w, scaled_h = (im.size[1], im.size[0]) if turned else im.size
            fixes.append(
                str(
                    i18n.Text(
                        "Scaled from {width}×{height} to {scaled_width}×{scaled_height} px (a "
                        "photo this large is read at a reduced size).",
                        width=width,
                        height=height,
                        scaled_width=scaled_w,
                        scaled_height=scaled_h,
                    )
                )
            )
            width, height = scaled_w, scaled_h
            crop = allowed_crop(width, height)
        _load(im)  # an animation's first frame only
        icc = im.info.get("icc_profile")
        if animated:
            fixes.append(
                str(i18n.Text("Animated {format}: its first frame is used.", format=label))
            )
        frame: Image.Image = im
        if orientation != 1:
            frame = replace(frame, ImageOps.exif_transpose(im))
            fixes.append(str(i18n.Text("Turned upright, as the photo's orientation tag says.")))
        if crop is not None:
            frame = replace(frame, frame.crop(crop))
            fixes.append(
                str(
                    i18n.Text(
                        "Centre-cropped from {width}×{height} to {cropped_width}×{cropped_height}"
                        " px: Hailuo takes aspect ratios between 2:5 and 5:2.",
                        width=width,
                        height=height,
                        cropped_width=crop[2] - crop[0],
                        cropped_height=crop[3] - crop[1],
                    )
                )
            )
        # A lossless source over 20 MB would be as big again as a PNG: go straight to JPEG.
        out, (ctype, name), size, shrunk = encode_to_fit(
            frame,
            prefer_jpeg=fmt in _PHOTO_FORMATS or len(data) > MAX_IMAGE_BYTES,
            icc=icc,
            max_bytes=MAX_IMAGE_BYTES,
            min_short_side=MIN_SHORT_SIDE,
        )
        frame.close()
        if len(out) > MAX_IMAGE_BYTES:
            raise ImageRejected(
                i18n.Text(
                    "Even re-encoded, the image is {size}; Hailuo's limit is 20 MB. "
                    "Send a smaller picture.",
                    size=reasons.mb(len(out)),
                )
            )
    out_label = "JPEG" if ctype == "image/jpeg" else "PNG"
    if shrunk:
        fixes.append(
            str(
                i18n.Text(
                    "Re-encoded from {before} to a {after} {format}, scaled to {width}×{height} "
                    "px, to fit Hailuo's 20 MB limit.",
                    before=i18n.megabytes(None, len(data)),
                    after=i18n.megabytes(None, len(out)),
                    format=out_label,
                    width=size[0],
                    height=size[1],
                )
            )
        )
    elif len(data) > MAX_IMAGE_BYTES:
        fixes.append(
            str(
                i18n.Text(
                    "Re-encoded from {before} to a {after} {format} to fit Hailuo's 20 MB limit.",
                    before=i18n.megabytes(None, len(data)),
                    after=i18n.megabytes(None, len(out)),
                    format=out_label,
                )
            )
        )
    elif fmt not in ("JPEG", "PNG") or (fmt != out_label):
        fixes.append(
            str(i18n.Text("Converted from {source} to {target}.", source=label, target=out_label))
        )
    log.debug("first frame fixed: %s %dx%d -> %s %dx%d", fmt, width, height, ctype, *size)
    return FirstFrame(out, ctype, name, size[0], size[1], digest, fmt, tuple(fixes))


@contextlib.contextmanager
def _opened(data: bytes) -> Iterator[ImageFile.ImageFile]:
    """The image, opened lazily; its decoded pixels are freed on leaving the block (Pillow's own
    `with` leaves that to the garbage collector, which may keep 100 MB alive a while)."""
    im = _open(data)
    try:
        yield im
    finally:
        im.close()


def _draft_within(im: ImageFile.ImageFile, max_pixels: int) -> bool:
    """Have a JPEG decode at the smallest 1/2, 1/4 or 1/8 scale that brings it under
    `max_pixels`, never with a short side under MIN_SHORT_SIDE; True when it was scaled."""
    w, h = im.size
    scale = 1
    while (
        scale < 8
        and (w // scale) * (h // scale) > max_pixels
        and min(w, h) // (scale * 2) >= MIN_SHORT_SIDE
    ):
        scale *= 2
    if scale == 1:
        return False
    im.draft(im.mode, (w // scale, h // scale))
    return im.size != (w, h)


def _open(data: bytes) -> ImageFile.ImageFile:
    """Open the header of a decodable format, or raise ImageRejected naming what the file is."""
    Image.init()  # registers every plugin once; before that OPEN holds only the common few
    formats: list[str] = [f for f in DECODABLE if f in Image.OPEN]
    try:
        return Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses by itself above twice its own limit, before our check sees the size
        # (and raises the warning as an error when warnings are set to "error").
        raise ImageRejected(reasons.bomb(None, MAX_PIXELS)) from exc
    except UnidentifiedImageError:
        pass
    except Exception as exc:  # a parser choking on a damaged header
        raise ImageRejected(reasons.DAMAGED) from exc
    raise ImageRejected(_unsupported(data))


def _unsupported(data: bytes) -> i18n.Text:
    kind = _sniff_container(data)
    if kind is None:
        try:
            # Only the header is parsed here (every plugin may look), never the pixels.
            with Image.open(io.BytesIO(data)) as other:
                kind = other.format
        except Exception:
            kind = None
    return reasons.unsupported(kind)


def _sniff_container(data: bytes) -> str | None:
    # HEIC (iPhone photos) shares the ISO media box layout with MP4 and Pillow does not read it
    # without a plugin; telling the member what they sent saves a round trip. (AVIF is decoded.)
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


def _check_pixels(width: int, height: int, *, jpeg: bool, label: str = "") -> None:
    """Refuse from the header's size: a bomb, or an image that cannot be decoded at a reduced
    scale and would take too much memory at full size."""
    if width * height > MAX_PIXELS:
        raise ImageRejected(reasons.bomb((width, height), MAX_PIXELS))
    if not jpeg and width * height > MAX_DECODE_PIXELS:
        raise ImageRejected(
            reasons.too_many_to_read(width, height, label, MAX_DECODE_PIXELS, MAX_PIXELS)
        )


def _check_short_side(width: int, height: int) -> None:
    if min(width, height) < MIN_SHORT_SIDE:
        raise ImageRejected(reasons.short_side(width, height, MIN_SHORT_SIDE))


def _verify_png(data: bytes) -> None:
    # verify() checks every chunk's CRC, which load() does not; strict decoders upstream would
    # reject a file with a bad checksum.
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            im.verify()
    except Exception as exc:
        raise ImageRejected(reasons.DAMAGED) from exc


def _load(im: Image.Image) -> None:
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(reasons.bomb(im.size, MAX_PIXELS)) from exc
    except Exception as exc:  # truncated data, bad compressed stream, bad frame
        raise ImageRejected(reasons.DAMAGED) from exc
