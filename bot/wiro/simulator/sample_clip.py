"""Generate small real H.264 MP4 clips for the sandbox (they play inline in Discord)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


def _even(value: int) -> int:
    return max(2, value - value % 2)


def make_sample_clip(
    *, width: int, height: int, seconds: float, fps: int = 12, caption: str = ""
) -> bytes:
    """Return an MP4 (H.264, yuv420p) with a moving gradient and a SANDBOX caption."""
    width, height = _even(width), _even(height)
    frames = max(1, round(seconds * fps))
    font = ImageFont.load_default(size=max(10, height // 9))
    small = ImageFont.load_default(size=max(8, height // 16))
    excerpt = " ".join(caption.split())
    if len(excerpt) > 60:
        excerpt = excerpt[:59] + "…"
    # A horizontal gradient twice as wide as the frame; each frame crops a shifted window.
    ramp = Image.linear_gradient("L").rotate(90, expand=True).resize((width * 2, height))
    base = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp))
    # faststart puts the index first so players start before the download ends; the muxer
    # rewrites the file to do it, so it needs a real file rather than a BytesIO.
    with tempfile.TemporaryDirectory(prefix="sample-clip-") as tmp:
        path = Path(tmp) / "clip.mp4"
        _encode(path, base, width, height, frames, fps, font, small, excerpt)
        return path.read_bytes()


def _encode(
    path: Path,
    base: Image.Image,
    width: int,
    height: int,
    frames: int,
    fps: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    small: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    excerpt: str,
) -> None:
    # PyAV (and its FFmpeg libraries, tens of MB) is loaded with the first clip, not at start.
    import av

    options = {"movflags": "+faststart"}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for index in range(frames):
            shift = int((width) * (0.5 + 0.5 * math.sin(2 * math.pi * index / frames)))
            frame_img = base.crop((shift, 0, shift + width, height))
            draw = ImageDraw.Draw(frame_img)
            draw.text((width // 20, height // 3), "SANDBOX", fill="white", font=font)
            if excerpt:
                draw.text((width // 20, height * 2 // 3), excerpt, fill="white", font=small)
            frame = av.VideoFrame.from_image(frame_img)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
