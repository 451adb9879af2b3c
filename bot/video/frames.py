"""The last frame of a clip, as a PNG: the first frame of the clip's extension."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .probe import VideoError, check_cancel, open_input

if TYPE_CHECKING:
    import av

# FFmpeg's PNG encoder with the Paeth predictor and zlib level 1: about twice as fast as Pillow's
# default PNG writer on a 1080P frame for a file of the same size (a few MB, sent to Wiro once).
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
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                if last_pts is None or packet.pts > last_pts:
                    last_pts = packet.pts
                if packet.is_keyframe and (keyframe_pts is None or packet.pts > keyframe_pts):
                    keyframe_pts = packet.pts
            if last_pts is None:
                raise VideoError(f"{path.name} has no frames")
            if keyframe_pts is not None:
                container.seek(keyframe_pts, stream=video, backward=True)
            ctx = video.codec_context
            # Frame threads: each packet's skip setting travels with it to its thread.
            ctx.thread_type = "AUTO"
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


def _png(frame: av.VideoFrame) -> bytes:
    import av

    rgb = frame.reformat(format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.width, rgb.height, "rgb24"
    encoder.options = dict(PNG_OPTIONS)
    packets = [*encoder.encode(rgb), *encoder.encode(None)]
    return b"".join(bytes(p) for p in packets)
