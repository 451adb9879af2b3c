"""Re-encode a clip so that it fits an upload limit (Discord's 10 MiB by default).

The plan is pure arithmetic (`plan_fit`): the bitrate the limit allows over the clip's duration,
minus a safety margin for the container and the encoder's aim, minus the sound; the picture keeps
its size unless that bitrate would spread too thin over its pixels (below ``MIN_BITS_PER_PIXEL``
per frame, where H.264 turns to mush), and then steps down a ladder of sizes until it would not.
The encode is one pass of x264's average-bitrate mode with a VBV cap. If the file still comes
out over the limit, a second pass runs at a rate lowered by the miss (and a further margin);
if that misses too, the clip cannot be fitted and the caller links it instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bot.media.video.encode import (
    MP4_OPTIONS,
    X264,
    AudioWriter,
    add_video_stream,
    atomic_output,
    encode_frame,
    flush,
    frame_seconds,
)
from bot.media.video.probe import ClipInfo, VideoError, check_cancel, open_input, probe

# Share of the limit kept free for the MP4 index and the encoder missing its aim.
SAFETY_MARGIN = 0.06
CONTAINER_BYTES = 32 * 1024
# Below this many bits per pixel per frame, H.264 at a fast preset looks blocky: use fewer pixels.
MIN_BITS_PER_PIXEL = 0.05
# Under this the clip is not worth attaching: link the original instead.
MIN_VIDEO_BIT_RATE = 150_000
AUDIO_BIT_RATE = 96_000
AUDIO_BIT_RATE_LOW = 48_000
# Short sides tried, largest first (never above the source's own).
SIZE_LADDER = (1080, 720, 540, 480, 360, 270, 240)
SECOND_PASS_MARGIN = 0.92


class FitImpossible(VideoError):
    """The clip cannot be made small enough to be worth attaching."""


@dataclass(frozen=True)
class FitPlan:
    """How one encode aims at the limit."""

    width: int
    height: int
    video_bit_rate: int
    audio_bit_rate: int  # 0: no sound


@dataclass(frozen=True)
class FitResult:
    """The fitted clip."""

    info: ClipInfo
    plan: FitPlan
    passes: int
    source: ClipInfo

    @property
    def resized(self) -> bool:
        return (self.info.width, self.info.height) != (self.source.width, self.source.height)


def preset_for(bits_per_pixel: float) -> str:
    """The x264 preset for a budget: speed where bits are plenty, efficiency where they are not.

    At 0.2 bits per pixel and above (a Hailuo-length clip fitted to 10 MiB) even "ultrafast"
    looks clean, and it encodes a 1080P frame in a fraction of the time (and memory) of the
    slower presets; tight budgets (long chains) get the better compression of "veryfast"."""
    if bits_per_pixel >= 0.2:
        return "ultrafast"
    if bits_per_pixel >= 0.1:
        return "superfast"
    return "veryfast"


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def plan_fit(info: ClipInfo, limit: int, *, video_bit_rate: int | None = None) -> FitPlan:
    """Choose the picture size and bitrates that fit `info` into `limit` bytes."""
    if info.duration <= 0:
        raise FitImpossible("the clip has no duration")
    budget_bits = max(0.0, (limit * (1 - SAFETY_MARGIN) - CONTAINER_BYTES) * 8)
    total = budget_bits / info.duration
    audio = 0
    if info.has_audio:
        audio = AUDIO_BIT_RATE if total >= 8 * AUDIO_BIT_RATE else AUDIO_BIT_RATE_LOW
    video = int(total - audio) if video_bit_rate is None else video_bit_rate
    if video < MIN_VIDEO_BIT_RATE:
        raise FitImpossible(
            f"{info.duration:.0f} s in {limit / 1048576:.1f} MiB leaves {video // 1000} kbit/s"
        )
    fps = float(info.fps) or 25.0
    short = min(info.width, info.height)
    sizes = [short, *(s for s in SIZE_LADDER if s < short)]
    width, height = info.width, info.height
    for side in sizes:
        scale = side / short
        width, height = _even(info.width * scale), _even(info.height * scale)
        if video / (width * height * fps) >= MIN_BITS_PER_PIXEL:
            break
    return FitPlan(width=width, height=height, video_bit_rate=video, audio_bit_rate=audio)


def fit(src: Path, out: Path, limit: int, *, cancel: threading.Event | None = None) -> FitResult:
    """Write a re-encoded copy of `src` that is at most `limit` bytes to `out`.

    Raises FitImpossible when even the second pass misses, VideoError when `src` is unreadable.
    """
    import av

    source = probe(src)
    plan = plan_fit(source, limit)
    try:
        for attempt in (1, 2):
            with atomic_output(out) as tmp:
                _encode(src, tmp, source, plan, cancel)
                size = tmp.stat().st_size
                if size > limit:
                    if attempt == 2:
                        raise FitImpossible(f"still {size} bytes after two passes (limit {limit})")
                    # Aim lower by as much as we missed, with a further margin.
                    rate = int(plan.video_bit_rate * (limit / size) * SECOND_PASS_MARGIN)
                    plan = plan_fit(source, limit, video_bit_rate=rate)
                    tmp.unlink()  # not committed
                    continue
            return FitResult(info=probe(out), plan=plan, passes=attempt, source=source)
    except av.FFmpegError as exc:
        raise VideoError(f"cannot re-encode {src.name}: {exc}") from exc
    raise AssertionError("unreachable")


def _encode(
    src: Path, tmp: Path, source: ClipInfo, plan: FitPlan, cancel: threading.Event | None
) -> None:
    import av

    spec = X264(
        width=plan.width,
        height=plan.height,
        fps=source.fps,
        bit_rate=plan.video_bit_rate,
        preset=preset_for(
            plan.video_bit_rate / (plan.width * plan.height * float(source.fps or 25))
        ),
    )
    with (
        open_input(src) as inp,
        av.open(str(tmp), mode="w", format="mp4", options=MP4_OPTIONS) as out,
    ):
        stream = add_video_stream(out, spec)
        sound = AudioWriter(out, plan.audio_bit_rate) if plan.audio_bit_rate else None
        video = inp.streams.video[0]
        video.thread_type = "AUTO"
        audio = inp.streams.audio[0] if (inp.streams.audio and sound is not None) else None
        start: float | None = None
        for packet in inp.demux(*(s for s in (video, audio) if s is not None)):
            check_cancel(cancel)
            for frame in packet.decode():
                if packet.stream is video:
                    seconds = frame_seconds(frame)  # type: ignore[arg-type]
                    if seconds is None:
                        continue
                    if start is None:
                        start = seconds
                    encode_frame(out, stream, frame, max(0.0, seconds - start))  # type: ignore[arg-type]
                elif sound is not None:
                    sound.write(frame)  # type: ignore[arg-type]
        if sound is not None:
            sound.close()
        flush(out, stream)
