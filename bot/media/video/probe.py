"""What a clip is made of: size, frame rate, duration, codecs (read with PyAV, lazily imported)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if (
    TYPE_CHECKING
):  # PyAV is imported inside the functions: `import bot.app.video_bot` must stay light.
    import av
    import av.container


class VideoError(Exception):
    """A clip could not be read or written (corrupt file, unsupported codec, I/O)."""


class VideoCancelled(VideoError):
    """The work was stopped on request (shutdown, the job went away)."""


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a clip."""

    codec: str
    sample_rate: int
    channels: int
    extradata: bytes | None


@dataclass(frozen=True)
class ClipInfo:
    """The first video stream of a clip (and its first audio stream, if any)."""

    width: int
    height: int
    fps: Fraction
    duration: float  # seconds
    codec: str
    pix_fmt: str | None
    time_base: Fraction
    extradata: bytes | None
    size: int  # bytes on disk
    audio: AudioInfo | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def same_streams(self, other: ClipInfo) -> bool:
        """Whether packets of both clips can share one stream (a remux, no re-encode).

        Same codec, picture size, pixel format, frame rate, time base and codec private data
        (for H.264: the SPS/PPS), and the same audio set-up or no audio in either."""
        video = (
            self.codec == other.codec
            and (self.width, self.height) == (other.width, other.height)
            and self.pix_fmt == other.pix_fmt
            and self.fps == other.fps
            and self.time_base == other.time_base
            and self.extradata == other.extradata
        )
        return video and self.audio == other.audio


def tick(time_base: Fraction | None) -> Fraction:
    """A stream's or packet's time base (an MP4 always has one; 1/90000 if it were missing)."""
    return Fraction(time_base) if time_base else Fraction(1, 90_000)


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise VideoCancelled when `cancel` is set (called once per frame or packet)."""
    if cancel is not None and cancel.is_set():
        raise VideoCancelled("stopped on request")


def open_input(path: Path) -> av.container.InputContainer:
    """Open a clip for reading.

    Opening decodes the first frames to learn the streams' details; a single decoder thread
    makes that cheaper for a 1080P clip (our own decoders choose their threads later)."""
    import av

    return av.open(str(path), options={"threads": "1"})


def probe(path: Path) -> ClipInfo:
    """Read a clip's streams without decoding it. Raises VideoError."""
    import av

    try:
        with open_input(path) as container:
            return clip_info(container, path)
    except av.FFmpegError as exc:
        raise VideoError(f"cannot read {path.name}: {exc}") from exc


def clip_info(container: av.container.InputContainer, path: Path) -> ClipInfo:
    if not container.streams.video:
        raise VideoError(f"{path.name} has no video stream")
    video = container.streams.video[0]
    ctx = video.codec_context
    fps = video.average_rate or video.guessed_rate or Fraction(25)
    audio = None
    if container.streams.audio:
        a = container.streams.audio[0]
        audio = AudioInfo(
            codec=a.codec_context.name,
            sample_rate=a.codec_context.sample_rate,
            channels=a.codec_context.channels,
            extradata=a.codec_context.extradata,
        )
    return ClipInfo(
        width=ctx.width,
        height=ctx.height,
        fps=Fraction(fps),
        duration=_duration(container, video, fps),
        codec=ctx.name,
        pix_fmt=ctx.pix_fmt,
        time_base=tick(video.time_base),
        extradata=ctx.extradata,
        size=path.stat().st_size,
        audio=audio,
    )


def _duration(
    container: av.container.InputContainer, video: av.VideoStream, fps: Fraction
) -> float:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if video.frames and fps:
        return float(video.frames / fps)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0
