"""First-frame image checks, on images generated in memory with Pillow."""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageFile

import bot.media.images as media
from bot.media.images import (
    MAX_IMAGE_BYTES,
    FirstFrame,
    ImageRejected,
    check_image,
    check_image_async,
)

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def solid(size: tuple[int, int], fmt: str, mode: str = "RGB", **params: object) -> bytes:
    color: object = RED if mode in ("RGB", "RGBA", "CMYK") else 128
    if mode == "RGBA":
        color = (*RED, 128)
    return encode(Image.new(mode, size, color), fmt, **params)  # type: ignore[arg-type]


def animated(fmt: str, size: tuple[int, int] = (640, 360)) -> bytes:
    first, second = Image.new("RGB", size, RED), Image.new("RGB", size, BLUE)
    return encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0)


def exif_rotated(stored: tuple[int, int], orientation: int) -> bytes:
    # Left half red, right half blue as stored, so the turn shows in the pixels.
    im = Image.new("RGB", stored, RED)
    im.paste(BLUE, (stored[0] // 2, 0, stored[0], stored[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", exif=exif, quality=95)


def png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_bytes(width: int, height: int, idat: bytes, bit_depth: int = 1, color: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims huge dimensions, with almost no pixel data behind it."""
    return png_bytes(width, height, zlib.compress(b"\0" * 64))


def real_bit_bomb(side: int = 20000) -> bytes:
    """A complete, valid 1-bit PNG of side×side white-and-black nothing: a few tens of KB."""
    row = b"\0" * (1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return png_bytes(side, side, body)


def decoded(frame: FirstFrame) -> Image.Image:
    im = Image.open(io.BytesIO(frame.data))
    im.load()
    return im


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=False))


# --- accepted -------------------------------------------------------------------------------

# id, factory, source_format, content_type, sent (w, h), original bytes sent, words in the note
# (None: sent as is, no note)
Row = tuple[str, Callable[[], bytes], str, str, tuple[int, int], bool, tuple[str, ...] | None]
ACCEPTED: list[Row] = [
    ("jpeg", lambda: solid((640, 480), "JPEG"), "JPEG", "image/jpeg", (640, 480), True, None),
    (
        "jpeg-grey",
        lambda: solid((480, 640), "JPEG", "L"),
        "JPEG",
        "image/jpeg",
        (480, 640),
        True,
        None,
    ),
    ("png", lambda: solid((640, 480), "PNG"), "PNG", "image/png", (640, 480), True, None),
    (
        "png-rgba",
        lambda: solid((640, 480), "PNG", "RGBA"),
        "PNG",
        "image/png",
        (640, 480),
        True,
        None,
    ),
    (
        "png-palette",
        lambda: solid((640, 480), "PNG", "P"),
        "PNG",
        "image/png",
        (640, 480),
        True,
        None,
    ),
    (
        "png-16bit-grey",
        lambda: solid((640, 480), "PNG", "I;16"),
        "PNG",
        "image/png",
        (640, 480),
        True,
        None,
    ),
    (
        "short-side-300",
        lambda: solid((300, 600), "PNG"),
        "PNG",
        "image/png",
        (300, 600),
        True,
        None,
    ),
    (
        "just-under-5:2",
        lambda: solid((999, 400), "PNG"),
        "PNG",
        "image/png",
        (999, 400),
        True,
        None,
    ),
    ("just-over-2:5", lambda: solid((300, 749), "PNG"), "PNG", "image/png", (300, 749), True, None),
    (
        "jpeg-bytes-named-png",
        lambda: solid((640, 480), "JPEG"),
        "JPEG",
        "image/jpeg",
        (640, 480),
        True,
        None,
    ),
    (
        "mpo-camera-jpeg",
        lambda: encode(
            Image.new("RGB", (640, 480), RED),
            "MPO",
            save_all=True,
            append_images=[Image.new("RGB", (640, 480), BLUE)],
        ),
        "JPEG",
        "image/jpeg",
        (640, 480),
        True,
        None,
    ),
    (
        "cmyk-jpeg",
        lambda: solid((640, 480), "JPEG", "CMYK"),
        "JPEG",
        "image/jpeg",
        (640, 480),
        False,
        (),
    ),
    # Converted: anything Pillow decodes becomes PNG (photo formats JPEG).
    (
        "webp",
        lambda: solid((640, 480), "WEBP"),
        "WEBP",
        "image/png",
        (640, 480),
        False,
        ("Converted from WebP to PNG",),
    ),
    (
        "webp-lossless-alpha",
        lambda: solid((640, 480), "WEBP", "RGBA", lossless=True),
        "WEBP",
        "image/png",
        (640, 480),
        False,
        ("Converted from WebP to PNG",),
    ),
    (
        "gif-still",
        lambda: solid((640, 480), "GIF"),
        "GIF",
        "image/png",
        (640, 480),
        False,
        ("Converted from GIF to PNG",),
    ),
    (
        "gif-animated",
        lambda: animated("GIF"),
        "GIF",
        "image/png",
        (640, 360),
        False,
        ("Animated GIF", "first frame", "to PNG"),
    ),
    (
        "apng",
        lambda: animated("PNG"),
        "PNG",
        "image/png",
        (640, 360),
        False,
        ("Animated PNG", "first frame"),
    ),
    (
        "webp-animated",
        lambda: animated("WEBP"),
        "WEBP",
        "image/png",
        (640, 360),
        False,
        ("Animated WebP", "first frame"),
    ),
    (
        "bmp",
        lambda: solid((640, 480), "BMP"),
        "BMP",
        "image/png",
        (640, 480),
        False,
        ("Converted from BMP to PNG",),
    ),
    (
        "tiff",
        lambda: solid((640, 480), "TIFF"),
        "TIFF",
        "image/png",
        (640, 480),
        False,
        ("Converted from TIFF to PNG",),
    ),
    (
        "tiff-cmyk",
        lambda: solid((640, 480), "TIFF", "CMYK"),
        "TIFF",
        "image/png",
        (640, 480),
        False,
        ("from TIFF",),
    ),
    (
        "avif",
        lambda: solid((640, 480), "AVIF"),
        "AVIF",
        "image/jpeg",
        (640, 480),
        False,
        ("Converted from AVIF to JPEG",),
    ),
    (
        "qoi",
        lambda: solid((640, 480), "QOI"),
        "QOI",
        "image/png",
        (640, 480),
        False,
        ("Converted from QOI to PNG",),
    ),
    ("tga", lambda: solid((640, 480), "TGA"), "TGA", "image/png", (640, 480), False, ("from TGA",)),
    (
        "jpeg2000",
        lambda: solid((640, 480), "JPEG2000"),
        "JPEG2000",
        "image/jpeg",
        (640, 480),
        False,
        ("from JPEG 2000 to JPEG",),
    ),
    # Turned upright.
    (
        "exif-6-portrait",
        lambda: exif_rotated((800, 400), 6),
        "JPEG",
        "image/jpeg",
        (400, 800),
        False,
        ("Turned upright",),
    ),
    (
        "exif-1-unchanged",
        lambda: exif_rotated((800, 400), 1),
        "JPEG",
        "image/jpeg",
        (800, 400),
        True,
        None,
    ),
    (
        "exif-3-upside-down",
        lambda: exif_rotated((800, 400), 3),
        "JPEG",
        "image/jpeg",
        (800, 400),
        False,
        ("Turned upright",),
    ),
    # Cropped to the nearest ratio strictly inside 2:5–5:2 (the long side only).
    (
        "exactly-5:2",
        lambda: solid((1000, 400), "PNG"),
        "PNG",
        "image/png",
        (999, 400),
        False,
        ("Centre-cropped from 1000×400 to 999×400", "2:5 and 5:2"),
    ),
    (
        "exactly-2:5",
        lambda: solid((400, 1000), "PNG"),
        "PNG",
        "image/png",
        (400, 999),
        False,
        ("400×1000 to 400×999",),
    ),
    (
        "exactly-2:5-min",
        lambda: solid((300, 750), "PNG"),
        "PNG",
        "image/png",
        (300, 749),
        False,
        ("Centre-cropped",),
    ),
    (
        "very-wide-jpeg",
        lambda: solid((3000, 400), "JPEG"),
        "JPEG",
        "image/jpeg",
        (999, 400),
        False,
        ("3000×400 to 999×400",),
    ),
    (
        "panorama-gif",
        lambda: solid((2000, 301), "GIF"),
        "GIF",
        "image/png",
        (752, 301),
        False,
        ("Centre-cropped", "Converted from GIF"),
    ),
    # The crop happens upright: a stored 400×1200 turned to 1200×400 is too wide, not too tall.
    (
        "exif-6-then-crop",
        lambda: exif_rotated((400, 1200), 6),
        "JPEG",
        "image/jpeg",
        (999, 400),
        False,
        ("Turned upright", "1200×400 to 999×400"),
    ),
]


@pytest.mark.parametrize(
    ("factory", "fmt", "ctype", "size", "original", "words"),
    [pytest.param(*row[1:], id=row[0]) for row in ACCEPTED],
)
def test_accepted(
    factory: Callable[[], bytes],
    fmt: str,
    ctype: str,
    size: tuple[int, int],
    original: bool,
    words: tuple[str, ...] | None,
) -> None:
    data = factory()
    frame = check_image(data, declared_size=len(data))
    assert frame.source_format == fmt
    assert frame.content_type == ctype
    assert frame.filename == ("first-frame.jpg" if ctype == "image/jpeg" else "first-frame.png")
    assert (frame.width, frame.height) == size
    assert (frame.data == data) is original
    assert frame.sha256 == hashlib.sha256(data).hexdigest()
    if words is None:
        assert frame.note is None and frame.fixes == ()
    else:
        for word in words:
            assert word in (frame.note or ""), frame.note
    # Whatever is sent is a still JPEG/PNG of the stated size, with nothing left to turn, and a
    # ratio strictly inside Hailuo's bounds.
    out = decoded(frame)
    assert {"MPO": "JPEG"}.get(out.format, out.format) == ctype.removeprefix("image/").upper()
    assert out.size == size
    assert 2 * size[0] < 5 * size[1] and 2 * size[1] < 5 * size[0]
    assert len(frame.data) <= MAX_IMAGE_BYTES
    if not original:
        assert out.mode in ("RGB", "RGBA", "L", "LA")
        assert not getattr(out, "is_animated", False)
        assert out.getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize(
    ("width", "height"),
    [(1000, 400), (1001, 400), (5000, 1999), (400, 1000), (301, 3000), (12345, 4321), (300, 751)],
)
def test_crop_box_is_centred_and_strictly_inside(width: int, height: int) -> None:
    box = media.allowed_crop(width, height)
    assert box is not None
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    assert 2 * w < 5 * h and 2 * h < 5 * w  # strictly inside 2:5–5:2
    assert min(w, h) == min(width, height)  # the short side is never shortened
    # Nearest: one more pixel on the cut side would touch the bound.
    if w < width:
        assert 2 * (w + 1) >= 5 * h
        assert abs(left - (width - right)) <= 1
    else:
        assert 2 * (h + 1) >= 5 * w
        assert abs(top - (height - bottom)) <= 1


def test_crop_keeps_the_centre() -> None:
    # 1500×400: red outer thirds, blue centre; the crop to 999 wide keeps the blue middle.
    im = Image.new("RGB", (1500, 400), RED)
    im.paste(BLUE, (500, 0, 1000, 400))
    out = decoded(check_image(encode(im, "PNG"))).convert("RGB")
    assert out.size == (999, 400)
    assert close(out.getpixel((499, 200)), BLUE)
    assert close(out.getpixel((10, 200)), RED)
    assert close(out.getpixel((988, 200)), RED)


def test_animated_uses_the_first_frame() -> None:
    for fmt in ("PNG", "WEBP", "GIF"):
        out = decoded(check_image(animated(fmt)))
        assert close(out.convert("RGB").getpixel((10, 10)), RED), fmt


def test_exif_rotation_turns_the_pixels() -> None:
    # Stored 800×400, left red / right blue; orientation 6 means "turn 90° clockwise to view",
    # so the viewer sees red on top and blue at the bottom.
    out = decoded(check_image(exif_rotated((800, 400), 6))).convert("RGB")
    assert out.size == (400, 800)
    assert close(out.getpixel((200, 100)), RED)
    assert close(out.getpixel((200, 700)), BLUE)


def test_cmyk_becomes_rgb_with_the_same_colour() -> None:
    frame = check_image(solid((640, 480), "JPEG", "CMYK"))
    out = decoded(frame)
    assert out.mode == "RGB"
    expected = Image.new("CMYK", (1, 1), RED).convert("RGB").getpixel((0, 0))
    assert close(out.getpixel((5, 5)), expected)


def test_lossless_pixels_survive_conversion() -> None:
    src = Image.effect_noise((400, 400), 60).convert("RGB")
    for fmt, params in (("WEBP", {"lossless": True}), ("BMP", {}), ("TIFF", {}), ("GIF", {})):
        im = src.convert("L") if fmt == "GIF" else src
        frame = check_image(encode(im, fmt, **params))
        assert decoded(frame).convert(im.mode).tobytes() == im.tobytes(), fmt


def test_transparent_gif_keeps_its_transparency_as_png() -> None:
    im = Image.new("P", (400, 400), 0)
    im.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    im.paste(1, (0, 0, 200, 400))
    frame = check_image(encode(im, "GIF", transparency=1))
    out = decoded(frame)
    assert out.mode == "RGBA"
    assert out.getpixel((10, 10))[3] == 0
    assert out.getpixel((300, 10)) == (255, 0, 0, 255)


def noisy(size: tuple[int, int]) -> Image.Image:
    return Image.effect_noise(size, 90).convert("RGB")


def test_reencoded_png_over_the_limit_falls_back_to_jpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    src = noisy((600, 600))
    data = encode(src, "WEBP", quality=30)
    png_size = len(encode(src, "PNG"))
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", png_size - 1)
    assert len(data) < png_size - 1
    frame = check_image(data)
    assert frame.content_type == "image/jpeg"
    assert frame.filename == "first-frame.jpg"
    assert decoded(frame).size == (600, 600)
    assert "Converted from WebP to JPEG" in (frame.note or "")


def test_source_over_the_limit_is_reencoded_to_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit scaled down so the test stays fast: a PNG over it becomes a JPEG under it.
    data = encode(noisy((800, 600)), "PNG")
    limit = len(data) // 3
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", limit)
    frame = check_image(data, declared_size=len(data))
    assert len(frame.data) <= limit
    assert frame.content_type == "image/jpeg"
    assert (frame.width, frame.height) == (800, 600)
    assert "Re-encoded from" in (frame.note or "") and "20 MB" in (frame.note or "")
    assert decoded(frame).size == (800, 600)


def test_plain_jpeg_over_the_limit_is_not_sent_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(noisy((800, 600)), "JPEG", quality=100)
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", len(data) - 1)
    frame = check_image(data)
    assert frame.data != data
    assert len(frame.data) < len(data)
    assert frame.content_type == "image/jpeg"


def test_a_frame_that_only_fits_smaller_is_scaled_down(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(noisy((1600, 1200)), "PNG")
    q75 = len(encode(Image.open(io.BytesIO(data)), "JPEG", quality=75))
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", q75 // 3)
    frame = check_image(data)
    assert len(frame.data) <= q75 // 3
    assert frame.width < 1600 and frame.height < 1200
    assert abs(frame.width / frame.height - 4 / 3) < 0.01
    assert min(frame.width, frame.height) >= media.MIN_SHORT_SIDE
    assert f"scaled to {frame.width}×{frame.height}" in (frame.note or "")
    assert decoded(frame).size == (frame.width, frame.height)


def test_a_frame_that_cannot_fit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(noisy((600, 400)), "PNG")
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", 2000)  # not even 400×300 of noise fits
    with pytest.raises(ImageRejected) as err:
        check_image(data)
    assert "Even re-encoded" in err.value.reason
    assert "20 MB" in err.value.reason


# --- refused --------------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = encode(Image.effect_noise((800, 600), 60).convert("RGB"), "JPEG", quality=90)
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = encode(Image.effect_noise((800, 600), 60).convert("RGB"), "PNG")
    return data[: len(data) // 2]


def png_with_bad_crc() -> bytes:
    data = bytearray(solid((640, 480), "PNG"))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # first byte of the IDAT checksum
    return bytes(data)


def iso_media(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\0\0\0\0" + brand + b"isom" + b"\0" * 64


def eps() -> bytes:
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 640 480\n" + b"%% nothing\n" * 20


# id, factory, declared_size, words the reason must contain
REFUSED: list[tuple[str, Callable[[], bytes], int | None, tuple[str, ...]]] = [
    ("short-side-299", lambda: solid((299, 600), "PNG"), None, ("299×600", "at least 300")),
    ("short-side-299-wide", lambda: solid((600, 299), "JPEG"), None, ("600×299", "short side")),
    # Cropping only shortens the long side, so a thin strip stays too small.
    ("thin-strip", lambda: solid((3000, 200), "GIF"), None, ("3000×200", "at least 300")),
    ("short-after-turning", lambda: exif_rotated((600, 299), 6), None, ("299×600",)),
    ("heic", lambda: iso_media(b"heic"), None, ("HEIC", "not supported")),
    ("mp4", lambda: iso_media(b"isom"), None, ("video", "not an image")),
    ("eps-runs-ghostscript", eps, None, ("EPS", "not supported")),
    (
        "text-named-png",
        lambda: b"just some notes, saved as picture.png\n" * 10,
        None,
        ("not an image", "JPEG, PNG"),
    ),
    ("empty", lambda: b"", None, ("empty",)),
    ("truncated-jpeg", truncated_jpeg, None, ("damaged or incomplete",)),
    ("truncated-png", truncated_png, None, ("damaged or incomplete",)),
    ("png-bad-crc", png_with_bad_crc, None, ("damaged or incomplete",)),
    (
        "declared-too-big",
        lambda: solid((640, 480), "PNG"),
        media.MAX_SOURCE_BYTES + 1,
        ("50.0 MB", "up to 50 MB"),
    ),
    (
        "data-too-big",
        lambda: b"\xff\xd8\xff" + b"\0" * media.MAX_SOURCE_BYTES,
        None,
        ("50.0 MB", "up to 50 MB"),
    ),
    (
        "60-megapixels",
        lambda: png_header_claiming(12000, 5000),
        None,
        ("12000×5000", "60 megapixels", "limit is 50 megapixels"),
    ),
    (
        "header-claims-10-gigapixels",
        lambda: png_header_claiming(100_000, 100_000),
        None,
        ("too many pixels", "50 megapixels"),
    ),
]


@pytest.mark.parametrize(
    ("factory", "declared", "words"), [pytest.param(*row[1:], id=row[0]) for row in REFUSED]
)
def test_refused(
    factory: Callable[[], bytes], declared: int | None, words: tuple[str, ...]
) -> None:
    data = factory()
    with pytest.raises(ImageRejected) as err:
        check_image(data, declared_size=declared)
    for word in words:
        assert word in err.value.reason
    assert str(err.value) == err.value.reason
    assert isinstance(err.value, ValueError)


def test_declared_size_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded an image whose declared size was already too big")

    monkeypatch.setattr(Image, "open", no_decoding)
    with pytest.raises(ImageRejected, match=r"55\.0 MB"):
        check_image(b"\x89PNG\r\n\x1a\n", declared_size=55 * 1024 * 1024)


@pytest.mark.parametrize("warnings_as_errors", [False, True])
def test_bombs_are_refused_fast(warnings_as_errors: bool) -> None:
    # 20000×20000 is refused by Pillow itself; 10000×10000 only warns in Pillow and is refused
    # by our own cap (or by catching the warning when warnings are errors).
    bombs = [real_bit_bomb(20000), real_bit_bomb(10000)]
    assert all(len(b) < 200_000 for b in bombs)
    for bomb in bombs:
        with warnings.catch_warnings():
            warnings.simplefilter("error" if warnings_as_errors else "ignore")
            started = time.perf_counter()
            with pytest.raises(ImageRejected) as err:
                check_image(bomb)
            assert time.perf_counter() - started < 0.5
        assert "megapixels" in err.value.reason
        assert "decode safely" in err.value.reason


def test_rejection_hides_the_cause_chain_from_members_but_keeps_it_for_logs() -> None:
    with pytest.raises(ImageRejected) as err:
        check_image(truncated_jpeg())
    assert "truncated" not in err.value.reason  # Pillow's words stay out of the answer
    assert err.value.__cause__ is not None


def test_repr_does_not_dump_the_bytes() -> None:
    frame = check_image(solid((640, 480), "PNG"))
    assert len(repr(frame)) < 200
    assert "640x480" in repr(frame)


async def test_async_check_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = media._check

    def spy(data: bytes) -> FirstFrame:
        seen.append(threading.get_ident())
        return real(data)

    monkeypatch.setattr(media, "_check", spy)
    data = solid((640, 480), "JPEG")
    frame = await check_image_async(data, declared_size=len(data))
    assert frame.content_type == "image/jpeg"
    assert seen and seen[0] != threading.get_ident()
    with pytest.raises(ImageRejected, match="short side"):
        await check_image_async(solid((640, 200), "GIF"))


@pytest.mark.parametrize(
    ("factory", "size"),
    [
        pytest.param(lambda: solid((4000, 3000), "JPEG"), (320, 240), id="jpeg"),
        pytest.param(lambda: solid((600, 1200), "PNG", "RGBA"), (160, 320), id="png-alpha"),
        pytest.param(lambda: solid((400, 300), "PNG", "P"), (320, 240), id="palette"),
        pytest.param(lambda: exif_rotated((800, 400), 6), (160, 320), id="exif-rotated"),
    ],
)
def test_thumbnail_is_a_small_upright_jpeg(
    factory: Callable[[], bytes], size: tuple[int, int]
) -> None:
    frame = check_image(factory())
    thumb = Image.open(io.BytesIO(media.make_thumbnail(frame.data)))
    assert thumb.format == "JPEG"
    assert thumb.mode == "RGB"
    assert thumb.size == size


def test_formats_are_read_in_a_fresh_process() -> None:
    # Pillow registers most plugins lazily; the bot must not depend on a test having done it.
    import subprocess
    import sys

    code = (
        "import io; from PIL import Image; from bot.media.images import check_image\n"
        "for f in ('PNG', 'BMP', 'TIFF'):\n"
        "    b = io.BytesIO(); Image.new('RGB', (640, 480)).save(b, f)\n"
        "    print(check_image(b.getvalue()).source_format)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["PNG", "BMP", "TIFF"], out.stderr


# --- memory: refused by the header, decoded at reduced scale, first frame only ----------------


def _no_pixels_decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every full decode (ImageFile.load) the check makes."""
    loads: list[str] = []
    real = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        loads.append(f"{self.format} {self.size}")
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return loads


def test_a_huge_png_is_refused_from_its_header_without_decoding_a_pixel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 50 MP PNG is a 200 KB file that would take 200 MB to decode."""
    data = solid((8660, 5773), "PNG")
    assert len(data) < 1_000_000
    loads = _no_pixels_decoded(monkeypatch)
    with pytest.raises(ImageRejected) as err:
        check_image(data)
    assert loads == []
    assert "8660×5773 px (50 megapixels)" in err.value.reason
    assert "PNG images up to 20 megapixels" in err.value.reason
    assert "JPEG" in err.value.reason
    with pytest.raises(ImageRejected):
        media.make_thumbnail(data)
    assert loads == []


def test_an_animated_gif_decodes_its_first_frame_only(monkeypatch: pytest.MonkeyPatch) -> None:
    data = animated("GIF", (1200, 800))
    seeks: list[int] = []
    real_seek = Image.Image.seek

    def spy(self: Image.Image, frame: int) -> None:
        seeks.append(frame)
        real_seek(self, frame)

    monkeypatch.setattr(Image.Image, "seek", spy)
    frame = check_image(data)
    assert decoded(frame).convert("RGB").getpixel((10, 10)) == RED
    assert all(n == 0 for n in seeks)  # never moved to the second frame to decode it


def test_a_large_photo_that_needs_a_fix_is_decoded_at_reduced_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = exif_rotated((8000, 6000), 6)  # 48 MP, stored sideways
    loads = _no_pixels_decoded(monkeypatch)
    frame = check_image(data)
    assert set(loads) == {"JPEG (4000, 3000)"}  # 12 MP decoded, not 48
    assert (frame.width, frame.height) == (3000, 4000)  # upright
    assert "Scaled from 6000×8000 to 3000×4000 px" in (frame.note or "")
    out = decoded(frame).convert("RGB")
    assert out.getpixel((10, 10)) == pytest.approx(RED, abs=12)  # turned as the tag says


def test_a_large_photo_sent_as_is_keeps_its_full_size() -> None:
    data = solid((8000, 6000), "JPEG")  # plain, upright, small: sent untouched
    frame = check_image(data)
    assert frame.data == data and (frame.width, frame.height) == (8000, 6000)
