"""Writing clips: an MP4 with H.264 video (libx264) and, when there is sound, AAC audio.

Frames are streamed from decoder to encoder one at a time; nothing holds a whole clip. Outputs
are written under a temporary name beside the target and renamed into place only when complete,
so a crash or a cancel never leaves a truncated clip under the real name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av
    import av.container

# Timestamps of re-encoded video: fine enough for any frame rate (the MPEG clock).
VIDEO_TIME_BASE = Fraction(1, 90_000)
AUDIO_SAMPLE_RATE = 48_000
AUDIO_LAYOUT = "stereo"
AAC_FRAME = 1024
# Put the index first: Discord's player (and browsers) start playing before the download ends.
MP4_OPTIONS = {"movflags": "+faststart"}


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` if the block succeeds.

    A block that deletes the temporary file itself (a rejected attempt) commits nothing."""
    tmp = target.with_name(f".{target.stem}-{secrets.token_hex(4)}.part{target.suffix}")
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class X264:
    """Encoder settings for one output."""

    width: int
    height: int
    fps: Fraction
    crf: int | None = None  # constant quality (stitching) …
    bit_rate: int | None = None  # … or an average bitrate (fitting a size)
    preset: str = "superfast"
    # Two threads: one encode alone uses both cores of a small VPS; the worker runs at most one
    # encode per CPU, so several at once share the machine rather than multiply the memory.
    threads: int = 2


def add_video_stream(out: av.container.OutputContainer, spec: X264) -> av.VideoStream:
    """Add an H.264 stream configured by `spec` (yuv420p: what every player decodes)."""
    stream = out.add_stream("libx264", rate=spec.fps)
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
    stream.codec_context.time_base = VIDEO_TIME_BASE
    options: dict[str, str] = {"preset": spec.preset, "threads": str(spec.threads)}
    if spec.bit_rate is not None:
        stream.bit_rate = spec.bit_rate
        # A VBV cap keeps the average honest over short clips without starving hard scenes.
        options["maxrate"] = str(int(spec.bit_rate * 1.5))
        options["bufsize"] = str(int(spec.bit_rate * 2))
    else:
        options["crf"] = str(spec.crf if spec.crf is not None else 18)
    stream.options = dict(options)
    return stream


class AudioWriter:
    """Resample any decoded audio to 48 kHz stereo and encode it as AAC in 1024-sample frames."""

    def __init__(self, out: av.container.OutputContainer, bit_rate: int) -> None:
        import av

        self.stream = out.add_stream("aac", rate=AUDIO_SAMPLE_RATE)
        self.stream.bit_rate = bit_rate
        self.stream.layout = AUDIO_LAYOUT
        self._out = out
        self._resampler = av.AudioResampler(
            format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_SAMPLE_RATE
        )
        self._fifo = av.AudioFifo()
        self.samples = 0  # written so far, at 48 kHz

    def write(self, frame: av.AudioFrame) -> None:
        """Queue a decoded frame (any format) and encode what fills whole AAC frames."""
        frame.pts = None
        for resampled in self._resampler.resample(frame):
            self._push(resampled)

    def silence(self, seconds: float) -> None:
        """Queue `seconds` of silence (for a part of a stitch that has no sound)."""
        import av

        left = round(seconds * AUDIO_SAMPLE_RATE)
        while left > 0:
            n = min(left, AAC_FRAME * 8)
            frame = av.AudioFrame(format="fltp", layout=AUDIO_LAYOUT, samples=n)
            frame.sample_rate = AUDIO_SAMPLE_RATE
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            self._push(frame)
            left -= n

    def pad_to(self, seconds: float) -> None:
        """Add silence until `seconds` of audio are queued (keeps sound in step with video)."""
        queued = self.samples + self._fifo.samples
        missing = seconds - queued / AUDIO_SAMPLE_RATE
        if missing > 0:
            self.silence(missing)

    def _push(self, frame: av.AudioFrame) -> None:
        frame.pts = None
        self._fifo.write(frame)
        while self._fifo.samples >= AAC_FRAME:
            chunk = self._fifo.read(AAC_FRAME)
            self._encode(chunk)

    def _encode(self, chunk: av.AudioFrame | None) -> None:
        if chunk is not None:
            chunk.pts = self.samples
            chunk.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
            self.samples += chunk.samples
        for packet in self.stream.encode(chunk):
            self._out.mux(packet)

    def close(self) -> None:
        """Encode what is queued and flush the encoder."""
        for resampled in self._resampler.resample(None):
            self._fifo.write(resampled)
        if self._fifo.samples:
            self._encode(self._fifo.read())
        self._encode(None)


def encode_frame(
    out: av.container.OutputContainer,
    stream: av.VideoStream,
    frame: av.VideoFrame,
    seconds: float,
) -> None:
    """Scale/convert `frame` to the stream's picture and encode it at `seconds`."""
    if (frame.width, frame.height, frame.format.name) != (stream.width, stream.height, "yuv420p"):
        frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
    frame.pts = round(seconds / VIDEO_TIME_BASE)
    frame.time_base = VIDEO_TIME_BASE
    for packet in stream.encode(frame):
        out.mux(packet)


def flush(out: av.container.OutputContainer, stream: av.VideoStream) -> None:
    """Drain the video encoder."""
    for packet in stream.encode(None):
        out.mux(packet)


def frame_seconds(frame: av.VideoFrame | av.AudioFrame) -> float | None:
    """A decoded frame's presentation time in seconds (None when it has none)."""
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base)
