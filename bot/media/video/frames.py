"""The last frame of a clip, as a PNG: the first frame of the clip's extension."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bot.media.video.probe import VideoError, check_cancel, open_input

if TYPE_CHECKING:
    import av

# FFmpeg's PNG encoder with the Paeth predictor and zlib level 1: about twice as fast as Pillow's
# default PNG writer on a 1080P frame for a file of the same size (a few MB, sent to Wiro once).
# Level 0 (stored) would take 0.03 s instead of 0.19 s on bench/bench_video.py's 1080P frame,
# but make the file 6.2 MB instead of 3.7 MB: the encode runs in the background after delivery
# (bot.media.video.last_frames), at nice 19, while the file is uploaded to Wiro on every Extend and
# kept on disk with its clip, so level 1 stays. Up, Sub or per-row ("mixed") prediction took
# the same time within noise.
PNG_OPTIONS = {"pred": "paeth", "compression_level": "1"}


def last_frame_png(path: Path, *, cancel: threading.Event | None = None) -> bytes:
    """Decode the last displayed frame of `path` and return it as a PNG. Raises VideoError.

    Only what that frame needs is decoded: a first pass over the packets (no decoding) finds
    the last keyframe and the last frame in display order; decoding starts at that keyframe, and
    frames that no other frame refers to (non-reference B-frames) are skipped, except the last
    one itself. A clip whose only keyframe is its first frame is still decoded from the start.
    """
    import av

    try:
        with open_input(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name} has no video stream")
            video = container.streams.video[0]
            last_pts: int | None = None
            keyframe_pts: int | None = None
            slices = 0
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                if last_pts is None or packet.pts > last_pts:
                    last_pts = packet.pts
                if packet.is_keyframe and (keyframe_pts is None or packet.pts > keyframe_pts):
                    keyframe_pts = packet.pts
                    if not slices:
                        slices = h264_slices(bytes(packet), video.codec_context.extradata)
            if last_pts is None:
                raise VideoError(f"{path.name} has no frames")
            if keyframe_pts is not None:
                container.seek(keyframe_pts, stream=video, backward=True)
            ctx = video.codec_context
            ctx.thread_type = _thread_type(slices)
            best: av.VideoFrame | None = None
            for packet in container.demux(video):
                check_cancel(cancel)
                # Set per packet: the decoder drops a skipped non-reference frame at once, and
                # nothing else refers to it, so the frames we keep are decoded exactly.
                ctx.skip_frame = "DEFAULT" if packet.pts in (None, last_pts) else "NONREF"
                for frame in ctx.decode(packet):
                    if best is None or (frame.pts or 0) >= (best.pts or 0):
                        best = frame
            if best is None:
                raise VideoError(f"{path.name}: no frame could be decoded")
            return _png(best)
    except av.FFmpegError as exc:
        raise VideoError(f"cannot decode {path.name}: {exc}") from exc


def _thread_type(slices: int) -> str:
    """How the decoder should use the cores for a clip whose frames have `slices` slices.

    Measured on this 2-core machine (bench/bench_video.py's 10 s 1080P clips, the 121 frames
    the last one needs; wall / CPU): a frame cut into 2 slices (what x264 writes when it runs
    on slice threads, as under PyAV's defaults) decodes fastest on slice threads, 0.43 s /
    0.70 s against 0.57 s / 0.76 s on frame threads ("AUTO"); a frame in one slice (x264 on
    frame threads, as the ffmpeg command line runs it) gets nothing from slice threads, which
    then decode on one thread, 0.71 s / 0.71 s, against 0.57 s / 0.75 s on frame threads. So:
    slice threads for sliced frames, else frame threads (each packet's skip setting travels
    with it to its thread)."""
    return "SLICE" if slices > 1 else "AUTO"


def h264_slices(packet: bytes, extradata: bytes | None) -> int:
    """The number of coded slices in an H.264 packet stored as in MP4 (length-prefixed NAL
    units, the length size given by the avcC `extradata`); 0 when that is not the format."""
    if not extradata or len(extradata) < 5 or extradata[0] != 1:
        return 0
    size = (extradata[4] & 3) + 1
    count = pos = 0
    while pos + size < len(packet):
        length = int.from_bytes(packet[pos : pos + size], "big")
        if (packet[pos + size] & 0x1F) in (1, 5):  # a slice of a non-IDR or an IDR picture
            count += 1
        pos += size + length
    return count


def _png(frame: av.VideoFrame) -> bytes:
    import av

    rgb = frame.reformat(format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.width, rgb.height, "rgb24"
    encoder.options = dict(PNG_OPTIONS)
    packets = [*encoder.encode(rgb), *encoder.encode(None)]
    return b"".join(bytes(p) for p in packets)
