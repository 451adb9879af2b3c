"""Join two clips into one: the earlier clip, then its extension.

The extension's first frame is the earlier clip's last frame (that is how it was made), so the
boundary would show the same picture twice. A join shows every frame of both clips except, at
most, that one shared frame: never a jump.

When both clips have the same streams (codec, size, frame rate, SPS/PPS, audio set-up) the
packets are copied into the new file without decoding (a remux: fast, lossless). The extension
must keep its first frame (a keyframe everything after it refers to), so the only frame that can
go is the earlier clip's last one, and only when it is also the last one decoded (no B-frames
after it in decode order): then the join has n1 + n2 - 1 frames. When B-frames displayed before
it are decoded after it, they refer to it, so it stays and the shared picture is held for one
frame more (n1 + n2 frames): dropping it would take those B-frames with it, a visible jump.
Re-encoding the tail instead would cost a decode and encode of a whole group of pictures (Hailuo's
clips are one group) to save a hold of 1/24 s. Otherwise (streams differ) both clips are decoded
and re-encoded (H.264 at high quality, AAC when either has sound) at the earlier clip's size and
frame rate, without the earlier clip's last frame.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

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
from bot.media.video.probe import (
    ClipInfo,
    VideoError,
    check_cancel,
    clip_info,
    open_input,
    probe,
    tick,
)

if TYPE_CHECKING:
    import av
    import av.container

STITCH_CRF = 18  # visually lossless for H.264; the stitched clip is the master of the chain
STITCH_PRESET = "veryfast"
STITCH_AUDIO_BIT_RATE = 160_000


@dataclass(frozen=True)
class StitchResult:
    """The joined clip."""

    info: ClipInfo
    remuxed: bool  # True: packets copied; False: re-encoded
    dropped_frames: int  # frames of the earlier clip left out at the boundary: 0 (a hold) or 1


@dataclass(frozen=True)
class _Scan:
    """Where to cut the earlier clip (in its video time base)."""

    keep: int  # video packets kept, in decode order (all of them, or all but the last)
    packets: int
    cut_pts: int  # where a remuxed extension starts: the dropped frame's pts, or the end
    last_pts: int  # the earlier clip's last frame (a re-encode, decoding all, always drops it)
    start_pts: int


def stitch(
    first: Path, second: Path, out: Path, *, cancel: threading.Event | None = None
) -> StitchResult:
    """Write `first` followed by `second` (at most the shared frame left out) to `out`.

    Raises VideoError."""
    import av

    try:
        # Each input is opened once: opening a 1080P clip decodes its first frames.
        with open_input(first) as ca, open_input(second) as cb:
            a, b = clip_info(ca, first), clip_info(cb, second)
            scan = _scan(ca, first, a.fps)
            b_start = _lowest_video_pts(cb, second)
            with atomic_output(out) as tmp:
                if a.same_streams(b):
                    _remux(ca, cb, scan, b_start, tmp, cancel)
                else:
                    _reencode(ca, cb, b, scan, b_start, tmp, cancel)
    except av.FFmpegError as exc:
        raise VideoError(f"cannot stitch {first.name} and {second.name}: {exc}") from exc
    if a.same_streams(b):
        # Same streams as the first clip; only the length changed.
        tb = a.time_base
        length = float((scan.cut_pts - scan.start_pts) * tb) + b.duration
        info = dataclasses.replace(a, duration=length, size=out.stat().st_size)
        return StitchResult(info=info, remuxed=True, dropped_frames=scan.packets - scan.keep)
    return StitchResult(info=probe(out), remuxed=False, dropped_frames=1)


def _scan(container: av.container.InputContainer, path: Path, fps: Fraction) -> _Scan:
    metas: list[tuple[int, int]] = []  # (pts, duration) of each video packet, in decode order
    video = container.streams.video[0]
    for packet in container.demux(video):
        if packet.pts is None or packet.size == 0:
            continue
        metas.append((packet.pts, packet.duration or 0))
    container.seek(0)
    if len(metas) < 2:
        raise VideoError(f"{path.name} is too short to extend")
    last = max(range(len(metas)), key=lambda i: metas[i][0])
    start_pts = min(p for p, _ in metas)
    if last == len(metas) - 1:
        # Nothing decoded after the last frame refers to it: it alone goes.
        pts = metas[last][0]
        return _Scan(keep=last, packets=len(metas), cut_pts=pts, last_pts=pts, start_pts=start_pts)
    # B-frames decoded after it refer to it: keep everything, hold the shared picture.
    step = metas[last][1] or round(1 / (fps * tick(video.time_base)))
    return _Scan(
        keep=len(metas),
        packets=len(metas),
        cut_pts=metas[last][0] + step,
        last_pts=metas[last][0],
        start_pts=start_pts,
    )


def _remux(
    ca: av.container.InputContainer,
    cb: av.container.InputContainer,
    scan: _Scan,
    b_start: int,
    tmp: Path,
    cancel: threading.Event | None,
) -> None:
    import av

    with av.open(str(tmp), mode="w", format="mp4", options=MP4_OPTIONS) as out:
        va = ca.streams.video[0]
        aa = ca.streams.audio[0] if ca.streams.audio else None
        out_v = out.add_stream_from_template(va)
        out_a = out.add_stream_from_template(aa) if aa is not None else None
        cut = scan.cut_pts * tick(va.time_base)  # seconds on the earlier clip's timeline

        last_dts: dict[str, int] = {}
        video_index = 0
        for packet in ca.demux(*(s for s in (va, aa) if s is not None)):
            check_cancel(cancel)
            if packet.dts is None or packet.size == 0:
                continue
            kind = packet.stream.type
            if kind == "video":
                video_index += 1
                if video_index > scan.keep:
                    continue
            elif (packet.pts or 0) * tick(packet.time_base) >= cut:
                continue  # sound after the cut belongs to the dropped frame
            last_dts[kind] = packet.dts
            packet.stream = out_v if kind == "video" else out_a  # type: ignore[assignment]
            out.mux(packet)

        # The extension, shifted so that its first frame lands on the cut; its sound moves
        # with it. Same streams means same time bases, so the earlier dts compare directly.
        vb = cb.streams.video[0]
        ab = cb.streams.audio[0] if cb.streams.audio else None
        shift = cut - b_start * tick(vb.time_base)
        offsets: dict[str, int] = {}
        for packet in cb.demux(*(s for s in (vb, ab) if s is not None)):
            check_cancel(cancel)
            if packet.dts is None or packet.size == 0:
                continue
            kind = packet.stream.type
            if kind not in offsets:
                offset = round(shift / tick(packet.time_base))
                prev = last_dts.get(kind)
                if prev is not None and packet.dts + offset <= prev:
                    offset = prev + 1 - packet.dts  # decode order must keep increasing
                offsets[kind] = offset
            packet.dts += offsets[kind]
            if packet.pts is not None:
                packet.pts += offsets[kind]
            packet.stream = out_v if kind == "video" else out_a  # type: ignore[assignment]
            out.mux(packet)


def _lowest_video_pts(container: av.container.InputContainer, path: Path) -> int:
    """The first displayed frame's pts (among the first packets: reordering is shallow)."""
    video = container.streams.video[0]
    seen: list[int] = []
    for packet in container.demux(video):
        if packet.pts is not None and packet.size:
            seen.append(packet.pts)
        if len(seen) >= 32:
            break
    container.seek(0)
    if not seen:
        raise VideoError(f"{path.name} has no frames")
    return min(seen)


def _reencode(
    ca: av.container.InputContainer,
    cb: av.container.InputContainer,
    b: ClipInfo,
    scan: _Scan,
    b_start: int,
    tmp: Path,
    cancel: threading.Event | None,
) -> None:
    """Decode both clips and encode one at the first clip's size and frame rate."""
    import av

    va, vb = ca.streams.video[0], cb.streams.video[0]
    spec = X264(
        width=va.codec_context.width,
        height=va.codec_context.height,
        fps=Fraction(va.average_rate or 25),
        crf=STITCH_CRF,
        preset=STITCH_PRESET,
    )
    with av.open(str(tmp), mode="w", format="mp4", options=MP4_OPTIONS) as out:
        stream = add_video_stream(out, spec)
        has_sound = bool(ca.streams.audio or cb.streams.audio)
        sound = AudioWriter(out, STITCH_AUDIO_BIT_RATE) if has_sound else None
        tb = tick(va.time_base)
        start = float(scan.start_pts * tb)
        cut = float(scan.last_pts * tb) - start
        _copy_decoded(ca, out, stream, sound, start=start, at=0.0, until=cut, cancel=cancel)
        if sound is not None:
            sound.pad_to(cut)
        start_b = float(b_start * tick(vb.time_base))
        _copy_decoded(cb, out, stream, sound, start=start_b, at=cut, until=None, cancel=cancel)
        if sound is not None:
            sound.pad_to(cut + b.duration)
            sound.close()
        flush(out, stream)


def _copy_decoded(
    src: av.container.InputContainer,
    out: av.container.OutputContainer,
    stream: av.VideoStream,
    sound: AudioWriter | None,
    *,
    start: float,
    at: float,
    until: float | None,
    cancel: threading.Event | None,
) -> None:
    """Decode `src` and encode its frames from `at` on, up to `until` (excluded).

    Times are measured from `start` (the clip's first video frame); sound keeps its place
    relative to the picture."""
    video = src.streams.video[0]
    audio = src.streams.audio[0] if (src.streams.audio and sound is not None) else None
    for packet in src.demux(*(s for s in (video, audio) if s is not None)):
        check_cancel(cancel)
        for frame in packet.decode():
            seconds = frame_seconds(frame)  # type: ignore[arg-type]
            if seconds is None:
                continue
            offset = seconds - start
            if until is not None and offset >= until - 1e-6:
                continue
            if packet.stream is video:
                encode_frame(out, stream, frame, at + offset)  # type: ignore[arg-type]
            elif sound is not None:
                sound.write(frame)  # type: ignore[arg-type]
