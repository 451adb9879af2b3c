"""The video engine on real H.264 clips: last frame, stitching, fitting an upload limit."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.media.video import fit as fit_module
from bot.media.video.fit import MIN_BITS_PER_PIXEL, FitImpossible, fit, plan_fit
from bot.media.video.frames import last_frame_png
from bot.media.video.probe import VideoError, probe
from bot.media.video.stitch import stitch
from bot.wiro.simulator.sample_clip import make_sample_clip
from tests.video.clips import audio_seconds, decode_all, mean_abs_diff, write_clip


def test_importing_the_engine_does_not_import_pyav():
    code = "import sys, bot.media.video, bot.media.video.worker; print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_probe_reads_the_streams(with_sound: Path):
    info = probe(with_sound)
    assert (info.codec, info.width, info.height, info.pix_fmt) == ("h264", 320, 180, "yuv420p")
    assert info.fps == 12
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.audio is not None and info.audio.codec == "aac"
    assert info.size == with_sound.stat().st_size


def test_a_file_that_is_not_a_video_is_refused(tmp_path: Path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(VideoError):
        probe(junk)
    with pytest.raises(VideoError):
        last_frame_png(junk)


# ------------------------------------------------------------------------------- last frame
@pytest.mark.parametrize("name", ["plain", "bframes", "with_sound"])
def test_last_frame_is_the_last_displayed_frame_exactly(name: str, request: pytest.FixtureRequest):
    clip: Path = request.getfixturevalue(name)
    png = last_frame_png(clip)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (320, 180)
    frames = decode_all(clip)
    # Decoding everything gives the reference; skipping non-reference frames must not change it.
    assert mean_abs_diff(image, frames[-1].to_image()) == 0
    assert mean_abs_diff(image, frames[-2].to_image()) > 1


def test_last_frame_of_a_sandbox_sample_clip(tmp_path: Path):
    clip = tmp_path / "sample.mp4"
    clip.write_bytes(make_sample_clip(width=640, height=360, seconds=2, caption="a fox"))
    image = Image.open(io.BytesIO(last_frame_png(clip)))
    assert image.size == (640, 360)
    assert mean_abs_diff(image, decode_all(clip)[-1].to_image()) == 0


def test_last_frame_of_a_clip_with_several_keyframes(tmp_path: Path):
    # 3 s at 24 fps with a keyframe every 12 frames: decoding starts at the last one.
    import av

    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"preset": "veryfast", "g": "12", "keyint_min": "12"}
        from tests.video.clips import frame_image

        for i in range(72):
            for packet in stream.encode(av.VideoFrame.from_image(frame_image(i, 320, 180))):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    image = Image.open(io.BytesIO(last_frame_png(path)))
    assert mean_abs_diff(image, decode_all(path)[-1].to_image()) == 0


@pytest.mark.parametrize("slices", [1, 3])
def test_last_frame_of_a_clip_in_slices_picks_the_decoder_threads(
    slices: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Sliced frames are decoded on slice threads, whole frames on frame threads (measured:
    # bot/media/video/frames.py `_thread_type`); the frame is the same either way.
    import av

    from bot.media.video import frames
    from tests.video.clips import frame_image

    path = tmp_path / f"slices{slices}.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.thread_type = "FRAME"  # else x264 writes one slice per thread
        stream.options = {"preset": "veryfast", "x264-params": f"slices={slices}"}
        for i in range(30):
            for packet in stream.encode(av.VideoFrame.from_image(frame_image(i, 320, 180))):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with av.open(str(path)) as clip:
        video = clip.streams.video[0]
        packet = next(p for p in clip.demux(video) if p.is_keyframe)
        assert frames.h264_slices(bytes(packet), video.codec_context.extradata) == slices
        assert frames.h264_slices(bytes(packet), None) == 0  # not length-prefixed: unknown
    chosen: list[str] = []
    real = frames._thread_type
    monkeypatch.setattr(frames, "_thread_type", lambda n: chosen.append(real(n)) or chosen[-1])
    image = Image.open(io.BytesIO(last_frame_png(path)))
    assert chosen == ["SLICE" if slices > 1 else "AUTO"]
    assert mean_abs_diff(image, decode_all(path)[-1].to_image()) == 0


# ------------------------------------------------------------------------------------ stitch
def _times(path: Path) -> list[float]:
    return [float(f.pts * f.time_base) for f in decode_all(path)]


def test_stitch_of_matching_clips_is_a_remux_without_the_duplicate_frame(
    plain: Path, plain2: Path, tmp_path: Path
):
    out = tmp_path / "joined.mp4"
    result = stitch(plain, plain2, out)
    assert result.remuxed is True
    assert result.dropped_frames == 1  # no B-frames: exactly the boundary frame
    first, second, joined = decode_all(plain), decode_all(plain2), decode_all(out)
    assert len(joined) == len(first) - 1 + len(second)
    # Lossless: the picture data are the very same frames, in order.
    assert mean_abs_diff(joined[len(first) - 2].to_image(), first[-2].to_image()) == 0
    assert mean_abs_diff(joined[len(first) - 1].to_image(), second[0].to_image()) == 0
    assert mean_abs_diff(joined[-1].to_image(), second[-1].to_image()) == 0
    times = _times(out)
    assert all(b > a for a, b in itertools.pairwise(times))
    # The extension starts where the dropped frame was: no gap, no overlap.
    assert times[len(first) - 1] == pytest.approx((len(first) - 1) / 12, abs=1e-3)
    assert result.info.duration == pytest.approx(2.0 + 1.5 - 1 / 12, abs=0.02)
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it


@pytest.mark.parametrize("bframes", [False, True], ids=["no-b-frames", "b-frames"])
@pytest.mark.parametrize("frames", [12, 13, 24])
def test_a_join_shows_every_frame_of_both_parts_but_at_most_the_shared_one(
    bframes: bool, frames: int, tmp_path: Path
):
    a = write_clip(tmp_path / "a.mp4", seconds=frames / 12, bframes=bframes)
    b = write_clip(tmp_path / "b.mp4", seconds=1.0, bframes=bframes)
    out = tmp_path / "joined.mp4"
    result = stitch(a, b, out)
    assert result.remuxed is True
    first, second, joined = decode_all(a), decode_all(b), decode_all(out)
    n1, n2 = len(first), len(second)
    assert len(joined) in (n1 + n2 - 1, n1 + n2)  # never fewer: no jump at the join
    assert len(joined) == n1 + n2 - result.dropped_frames
    kept = n1 - result.dropped_frames
    # Lossless, in order: every kept frame of the first part, then every frame of the second.
    for i in range(kept):
        assert mean_abs_diff(joined[i].to_image(), first[i].to_image()) == 0, i
    for i in range(n2):
        assert mean_abs_diff(joined[kept + i].to_image(), second[i].to_image()) == 0, i
    times = _times(out)
    assert all(b > a for a, b in itertools.pairwise(times))
    # Evenly spaced across the join: a hold is one frame long, never a gap.
    assert times[kept] - times[kept - 1] == pytest.approx(1 / 12, abs=1e-3)
    assert result.info.duration == pytest.approx(len(joined) / 12, abs=0.02)


def test_a_join_of_b_frame_clips_holds_the_shared_frame_rather_than_drop_others(
    bframes: Path, tmp_path: Path
):
    out = tmp_path / "joined.mp4"
    result = stitch(bframes, bframes, out)
    # x264's B-frames end the clip decoded after its last frame: it stays, a one-frame hold.
    assert (result.remuxed, result.dropped_frames) == (True, 0)
    assert len(decode_all(out)) == 2 * len(decode_all(bframes))


def test_stitch_keeps_sound_in_step(with_sound: Path, with_sound2: Path, tmp_path: Path):
    out = tmp_path / "joined.mp4"
    result = stitch(with_sound, with_sound2, out)
    assert result.remuxed is True
    assert result.info.audio is not None
    assert audio_seconds(out) == pytest.approx(result.info.duration, abs=0.1)


def test_stitch_of_different_streams_re_encodes_at_the_first_clips_size(
    plain: Path, with_sound: Path, tmp_path: Path
):
    other = write_clip(tmp_path / "big.mp4", width=480, height=270, fps=24, seconds=1.0)
    out = tmp_path / "joined.mp4"
    result = stitch(plain, other, out)
    assert result.remuxed is False
    assert (result.info.codec, result.info.width, result.info.height) == ("h264", 320, 180)
    assert result.dropped_frames == 1
    assert result.info.duration == pytest.approx(2.0 - 1 / 12 + 1.0, abs=0.1)
    joined = decode_all(out)
    # 23 frames of the first (12 fps) then 24 of the second (its own 24 fps timing kept).
    assert len(joined) == 23 + 24
    assert mean_abs_diff(joined[0].to_image(), decode_all(plain)[0].to_image()) < 4
    # One part with sound and one without: sound throughout, silence where there was none.
    mixed = tmp_path / "mixed.mp4"
    result = stitch(plain, with_sound, mixed)
    assert result.remuxed is False and result.info.audio is not None
    assert audio_seconds(mixed) == pytest.approx(result.info.duration, abs=0.1)


def test_stitch_refuses_a_single_frame_clip(tmp_path: Path, plain: Path):
    one = write_clip(tmp_path / "one.mp4", seconds=1 / 12)
    with pytest.raises(VideoError):
        stitch(one, plain, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


# --------------------------------------------------------------------------------------- fit
def test_plan_keeps_the_size_when_the_bitrate_allows():
    info = probe_like(1920, 1080, seconds=6, fps=24)
    plan = plan_fit(info, 10 * 1024 * 1024)
    assert (plan.width, plan.height) == (1920, 1080)
    assert plan.audio_bit_rate == 0
    total = plan.video_bit_rate * 6 / 8
    assert 0.85 * 10 * 1024 * 1024 < total < 0.95 * 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (6, (1920, 1080)),
        (60, (1280, 720)),
        (120, (960, 540)),
        (180, (640, 360)),
        (300, (480, 270)),
    ],
)
def test_plan_steps_down_only_when_the_bitrate_would_be_too_low(seconds, expected):
    plan = plan_fit(probe_like(1920, 1080, seconds=seconds, fps=24), 10 * 1024 * 1024)
    assert (plan.width, plan.height) == expected
    bpp = plan.video_bit_rate / (plan.width * plan.height * 24)
    assert bpp >= MIN_BITS_PER_PIXEL


def test_plan_keeps_portrait_clips_portrait():
    plan = plan_fit(probe_like(1080, 1920, seconds=60, fps=24), 10 * 1024 * 1024)
    assert (plan.width, plan.height) == (720, 1280)


def test_plan_reserves_room_for_sound():
    silent = plan_fit(probe_like(1366, 768, seconds=10, fps=24), 10 * 1024 * 1024)
    sound = plan_fit(probe_like(1366, 768, seconds=10, fps=24, audio=True), 10 * 1024 * 1024)
    assert sound.audio_bit_rate > 0
    assert sound.video_bit_rate == silent.video_bit_rate - sound.audio_bit_rate


def test_plan_gives_up_when_the_clip_would_be_mush():
    with pytest.raises(FitImpossible):
        plan_fit(probe_like(1920, 1080, seconds=600, fps=24), 10 * 1024 * 1024)


def test_fit_makes_a_clip_that_fits(tmp_path: Path):
    src = write_clip(tmp_path / "src.mp4", seconds=3, fps=24, crf=12, grain=True, audio=True)
    limit = 1_000_000
    assert src.stat().st_size > 2 * limit
    out = tmp_path / "fitted.mp4"
    result = fit(src, out, limit)
    assert out.stat().st_size <= limit
    assert result.passes in (1, 2)  # noise at this tiny size can make x264 overshoot once
    assert (result.info.codec, result.info.width, result.info.height) == ("h264", 320, 180)
    assert result.info.audio is not None and result.info.audio.codec == "aac"
    assert result.info.duration == pytest.approx(3.0, abs=0.1)
    assert len(decode_all(out)) == 72
    assert audio_seconds(out) == pytest.approx(3.0, abs=0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fitted.mp4", "src.mp4"]


def test_fit_runs_a_second_pass_when_the_first_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    src = write_clip(tmp_path / "src.mp4", seconds=3, fps=24, crf=12, grain=True)
    limit = 1_000_000
    # A first aim 60 % over the limit: the first pass must miss, the second must correct it.
    monkeypatch.setattr(fit_module, "SAFETY_MARGIN", -0.6)
    result = fit(src, tmp_path / "fitted.mp4", limit)
    assert result.passes == 2
    assert (tmp_path / "fitted.mp4").stat().st_size <= limit


def test_fit_that_cannot_fit_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = write_clip(tmp_path / "src.mp4", seconds=3, fps=24, crf=12, grain=True)
    limit = 1_000_000
    monkeypatch.setattr(fit_module, "SAFETY_MARGIN", -3.0)  # both passes aim far too high
    monkeypatch.setattr(fit_module, "SECOND_PASS_MARGIN", 2.0)
    with pytest.raises(FitImpossible):
        fit(src, tmp_path / "fitted.mp4", limit)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4"]


def probe_like(width: int, height: int, *, seconds: float, fps: int, audio: bool = False):
    from fractions import Fraction

    from bot.media.video.probe import AudioInfo, ClipInfo

    return ClipInfo(
        width=width,
        height=height,
        fps=Fraction(fps),
        duration=seconds,
        codec="h264",
        pix_fmt="yuv420p",
        time_base=Fraction(1, 12288),
        extradata=None,
        size=50_000_000,
        audio=AudioInfo("aac", 48_000, 2, None) if audio else None,
    )
