"""Sample clips are real H.264 MP4s, fast to make."""

from __future__ import annotations

import io
import time

import av

from bot.wiro.simulator.sample_clip import make_sample_clip


def probe(data: bytes) -> tuple[str, int, int, str, float]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return (
            stream.codec_context.name,
            stream.width,
            stream.height,
            stream.codec_context.pix_fmt,
            frames / float(stream.average_rate),
        )


def test_small_clip_is_fast_and_valid():
    started = time.perf_counter()
    data = make_sample_clip(width=320, height=180, seconds=2, caption="a fox in snow")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    assert probe(data) == ("h264", 320, 180, "yuv420p", 2.0)
    # faststart: the index (moov) comes before the media data (mdat).
    assert data.index(b"moov") < data.index(b"mdat")


def test_odd_dimensions_become_even():
    data = make_sample_clip(width=201, height=357, seconds=0.5, fps=8)
    codec, width, height, pix_fmt, _ = probe(data)
    assert (codec, width, height, pix_fmt) == ("h264", 200, 356, "yuv420p")
