"""Real H.264 test clips with known content: each frame shows its number as a colour band.

`write_clip` covers what the sandbox's sample clips do not: B-frames (x264's default GOP shape),
an AAC sound track, and any size or rate.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw


def frame_image(index: int, width: int, height: int, *, grain: bool = False) -> Image.Image:
    """A picture that differs clearly from frame to frame (a moving bar on a tinted field).

    With `grain`, film-like noise makes it expensive to encode (a big file to fit)."""
    img = Image.new("RGB", (width, height), ((index * 37) % 256, (index * 11) % 256, 90))
    if grain:
        noise = Image.effect_noise((width, height), 40 + index % 7).convert("RGB")
        img = Image.blend(img, noise, 0.5)
    draw = ImageDraw.Draw(img)
    x = (index * 7) % max(1, width - 20)
    draw.rectangle((x, 0, x + 20, height), fill=(255, 255, 255))
    return img


def write_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 180,
    seconds: float = 2.0,
    fps: int = 12,
    bframes: bool = False,
    audio: bool = False,
    crf: int = 23,
    grain: bool = False,
) -> Path:
    """Write an MP4 (H.264 yuv420p, AAC 48 kHz stereo if `audio`) and return its path."""
    frames = round(seconds * fps)
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        # veryfast uses 3 B-frames; ultrafast none (like the sandbox's sample clips).
        video.options = {"preset": "veryfast" if bframes else "ultrafast", "crf": str(crf)}
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=48_000)
            sound.layout = "stereo"
        for index in range(frames):
            frame = av.VideoFrame.from_image(frame_image(index, width, height, grain=grain))
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            total = round(seconds * 48_000)
            for start in range(0, total, 1024):
                n = min(1024, total - start)
                samples = [
                    0.3 * math.sin(2 * math.pi * 440 * (start + i) / 48_000) for i in range(n)
                ]
                data = struct.pack(f"{n}f", *samples)
                chunk = av.AudioFrame(format="fltp", layout="stereo", samples=n)
                chunk.sample_rate = 48_000
                for plane in chunk.planes:
                    plane.update(data + bytes(plane.buffer_size - len(data)))
                chunk.pts = start
                chunk.time_base = Fraction(1, 48_000)
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def clip_parts(folder: Path, count: int) -> list[bytes]:
    """`count` real H.264 parts with the same streams (as one model's outputs are): each 1 s at
    12 fps, 640×360 (a first frame needs a 300 px short side)."""
    return [
        write_clip(folder / f"part{i}.mp4", width=640, height=360, seconds=1).read_bytes()
        for i in range(count)
    ]


def grainy_720p_clip(folder: Path) -> bytes:
    """A real H.264 clip over Discord's base 10 MiB (lossless film grain, 720p)."""
    path = write_clip(
        folder / "big.mp4", width=1280, height=720, seconds=1.25, fps=12, crf=0, grain=True
    )
    return path.read_bytes()


def decode_all(path: Path) -> list[av.VideoFrame]:
    """Every frame of the first video stream, in display order."""
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def audio_seconds(path: Path) -> float:
    """How much sound the clip holds (decoded samples / rate); 0 without an audio stream."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        samples = sum(f.samples for f in container.decode(audio=0))
        return samples / container.streams.audio[0].codec_context.sample_rate


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute per-channel difference (0 = identical) between two same-size images."""
    from PIL import ImageChops, ImageStat

    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3
