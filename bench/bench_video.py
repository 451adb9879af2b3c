"""Benchmark 7: the video engine (bot/video) on 1080P H.264 clips.

Targets (2-core machine): last frame of a 10 s 1080P clip < 0.3 s (measured twice: what an
Extend waits for it once the bot has decoded it in the background at delivery, 7a', and the
decode itself, 7a/7b); stitching two 10 s 1080P clips with matching streams < 0.5 s; fitting a
1080P / 6 s clip of about 15 MB under 10 MiB < 6 s with RSS + < 150 MB during the encode; and
the event loop of the process doing the encode stays responsive (the bot's acknowledgement
target is p99 < 100 ms; here the loop's own lag while the worker encodes is measured, with a
5 ms heartbeat).

Every measurement runs in a fresh child process (`--child`), so that one's memory does not
colour the next. Wall time and CPU time (all threads) are both reported: on a shared machine the
wall time depends on the neighbours, the CPU time much less.

The clips are generated once (PyAV/libx264, film-grain-like moving texture, 24 fps) and cached
in bench/results/clips/. "x264 defaults" means one keyframe per 250 frames and 3 B-frames, so a
10 s clip has a single keyframe and its last frame needs every reference frame decoded.

Run: `python bench/bench_video.py [--runs N] [--niceness 19]`. Writes bench/results/video.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

CLIPS = BENCH / "results" / "clips"
MIB = 1024 * 1024
TARGET_LAST_FRAME_S = 0.3
TARGET_STITCH_S = 0.5
TARGET_FIT_S = 6.0
TARGET_FIT_RSS_MB = 150.0
TARGET_LAG_MS = 100.0
# The bot's worker threads run at nice 19 (VideoWorker's default); `--niceness 0` shows the
# engine competing on equal terms with the other work of a shared machine.
NICENESS = int(os.environ.get("BENCH_VIDEO_NICENESS", "19"))


# ---------------------------------------------------------------------------------- the clips
def make_clip(
    path: Path,
    *,
    seconds: float,
    seed: int,
    crf: int,
    gop: int | None = None,
    preset: str = "veryfast",
    grain: int = 4,
) -> Path:
    """A 1920×1080 24 fps H.264 clip with moving grain ('veryfast': 3 B-frames)."""
    if path.exists():
        return path
    import av
    from PIL import Image

    width, height, fps = 1920, 1080, 24
    noise = [
        Image.effect_noise((width // grain, height // grain), 70 + 5 * seed).resize(
            (width * 2, height * 2), Image.Resampling.BICUBIC
        )
        for _ in range(3)
    ]
    base = Image.merge("RGB", noise)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"preset": preset, "crf": str(crf)}
        if gop:
            options |= {"g": str(gop), "keyint_min": str(gop)}
        stream.options = options
        for i in range(round(seconds * fps)):
            x, y = (i * (3 + seed)) % width, (i * 2) % height
            frame = av.VideoFrame.from_image(base.crop((x, y, x + width, y + height)))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(path)
    return path


def clips() -> dict[str, Path]:
    return {
        "ten_a": make_clip(CLIPS / "1080p-10s-a.mp4", seconds=10, seed=0, crf=23),
        "ten_b": make_clip(CLIPS / "1080p-10s-b.mp4", seconds=10, seed=1, crf=23),
        "ten_gop": make_clip(CLIPS / "1080p-10s-gop48.mp4", seconds=10, seed=2, crf=23, gop=48),
        # About 15 MB: a high-bitrate upload (ultrafast at high quality).
        "six_big": make_clip(
            CLIPS / "1080p-6s-15mb.mp4", seconds=6, seed=0, crf=18, preset="ultrafast"
        ),
    }


# ------------------------------------------------------------------------------ child process
def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def child(kind: str, args: list[str]) -> dict[str, Any]:
    """Run one measurement in this (fresh) process and return its numbers."""
    import av  # loaded before the baseline: the bot loads it once, at its first video job

    from bot.media.video.probe import probe
    from bot.media.video.worker import VideoWorker

    del av
    work = Path(args[-1])
    worker = VideoWorker(work, slots=os.cpu_count(), niceness=NICENESS)
    baseline = rss_mb()
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lags: list[float] = []

    async def go() -> Any:
        done = asyncio.Event()

        async def heartbeat() -> None:
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append((time.perf_counter() - before - 0.005) * 1000)

        beat = asyncio.create_task(heartbeat())
        try:
            if kind == "last-frame":
                return len(await worker.last_frame(Path(args[0])))
            if kind == "delivered":
                return await delivered(worker, Path(args[0]), work)
            if kind == "stitch":
                out = work / "stitched.mp4"
                result = await worker.stitch(Path(args[0]), Path(args[1]), out)
                return {"remuxed": result.remuxed, "dropped": result.dropped_frames}
            out = work / "fitted.mp4"
            result = await worker.fit(Path(args[0]), out, int(args[1]))
            return {
                "size": out.stat().st_size,
                "passes": result.passes,
                "width": result.info.width,
                "height": result.info.height,
                "video_kbps": result.plan.video_bit_rate // 1000,
                "duration": result.info.duration,
            }
        finally:
            done.set()
            await beat

    cpu0, wall0 = time.process_time(), time.perf_counter()
    answer = asyncio.run(go())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    stop.set()
    sampler.join()
    info = None
    if kind == "stitch":
        stitched = probe(work / "stitched.mp4")
        info = {"duration": stitched.duration, "size": stitched.size}
    lags.sort()
    return {
        "kind": kind,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_baseline_mb": baseline,
        "rss_plus_mb": peak - baseline,
        "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0,
        "lag_max_ms": lags[-1] if lags else 0.0,
        "answer": answer,
        "output": info,
    }


async def delivered(worker: Any, clip: Path, work: Path) -> dict[str, Any]:
    """A delivered clip as the bot keeps it: its last frame decoded in the background
    (`LastFrames.prepare`, as `_keep_clip` does), then what an Extend waits for that frame
    (`LastFrames.get`, a fresh instance: nothing in memory, the PNG read from the store).
    The rest of Extend's path after the frame (checking it as a first frame, the card's
    thumbnail) is timed too, for context: it is not the decode."""
    from bot.media.images import check_image_async, make_thumbnail
    from bot.media.video.last_frames import LastFrames
    from bot.media.video.store import ClipStore

    store = ClipStore(work / "clips")
    staged = work / "staged.mp4"
    os.link(clip, staged)  # the store moves its clip in by rename, as after a delivery
    store.put(1, staged)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    background = LastFrames(store, worker)
    background.prepare(1)
    png = await background.get(1)  # waits for that same decode
    bg_wall, bg_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert store.frame_path(1).is_file()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    extend = LastFrames(store, worker)
    stored = await extend.get(1)
    wait_wall, wait_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert stored == png
    wall0 = time.perf_counter()
    frame = await check_image_async(stored)
    check_wall = time.perf_counter() - wall0
    wall0 = time.perf_counter()
    await asyncio.to_thread(make_thumbnail, frame.data)
    thumb_wall = time.perf_counter() - wall0
    await background.close()
    return {
        "png_bytes": len(png),
        "background_wall_s": bg_wall,
        "background_cpu_s": bg_cpu,
        "extend_wait_s": wait_wall,
        "extend_wait_cpu_s": wait_cpu,
        "check_image_s": check_wall,
        "thumbnail_s": thumb_wall,
    }


def measure(kind: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    work = CLIPS / "work"
    work.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args, str(work)],
        env={**os.environ, "BENCH_VIDEO_NICENESS": str(NICENESS)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    import shutil

    for leftover in work.iterdir():
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- main
def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall_median_s": statistics.median(r["wall_s"] for r in runs),
        "wall_min_s": min(r["wall_s"] for r in runs),
        "cpu_median_s": statistics.median(r["cpu_s"] for r in runs),
        "rss_plus_max_mb": max(r["rss_plus_mb"] for r in runs),
        "lag_p99_max_ms": max(r["lag_p99_ms"] for r in runs),
        "runs": runs,
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r["answer"][key] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--niceness", type=int, default=19)
    opts = parser.parse_args()
    global NICENESS
    NICENESS = opts.niceness
    from common import report, target

    started = time.monotonic()
    c = clips()
    sizes = {k: p.stat().st_size for k, p in c.items()}
    n = max(1, opts.runs)
    last = summarise([measure("last-frame", str(c["ten_a"])) for _ in range(n)])
    last_gop = summarise([measure("last-frame", str(c["ten_gop"])) for _ in range(n)])
    kept = [measure("delivered", str(c["ten_a"])) for _ in range(n)]
    kept_gop = [measure("delivered", str(c["ten_gop"])) for _ in range(n)]
    wait = statistics.median(r["answer"]["extend_wait_s"] for r in kept + kept_gop)
    stitch = summarise([measure("stitch", str(c["ten_a"]), str(c["ten_b"])) for _ in range(n)])
    fit = summarise(
        [measure("fit", str(c["six_big"]), str(10 * MIB)) for _ in range(max(1, min(n, 3)))]
    )
    fitted = fit["runs"][0]["answer"]
    targets = [
        target(
            "last_frame",
            f"7a. last frame of a 10 s 1080P clip < {TARGET_LAST_FRAME_S} s (x264 defaults)",
            last["wall_median_s"],
            TARGET_LAST_FRAME_S,
            "s",
            last["wall_median_s"] < TARGET_LAST_FRAME_S,
            measured=f"{last['wall_median_s']:.2f} s (cpu {last['cpu_median_s']:.2f} s)",
        ),
        target(
            "last_frame_gop",
            f"7b. the same with a keyframe every 2 s < {TARGET_LAST_FRAME_S} s",
            last_gop["wall_median_s"],
            TARGET_LAST_FRAME_S,
            "s",
            last_gop["wall_median_s"] < TARGET_LAST_FRAME_S,
            measured=f"{last_gop['wall_median_s']:.2f} s (cpu {last_gop['cpu_median_s']:.2f} s)",
        ),
        target(
            "last_frame_extend_wait",
            f"7a'. what Extend waits for the last frame of a delivered 10 s 1080P clip "
            f"< {TARGET_LAST_FRAME_S} s (decoded in the background at delivery, PNG stored)",
            wait,
            TARGET_LAST_FRAME_S,
            "s",
            wait < TARGET_LAST_FRAME_S,
            measured=(
                f"{wait * 1000:.1f} ms; the background decode took "
                f"{_median(kept, 'background_cpu_s'):.2f} s CPU "
                f"({_median(kept_gop, 'background_cpu_s'):.2f} s with a keyframe every 2 s)"
            ),
        ),
        target(
            "stitch",
            f"7c. stitch two 10 s 1080P clips (same streams) < {TARGET_STITCH_S} s",
            stitch["wall_median_s"],
            TARGET_STITCH_S,
            "s",
            stitch["wall_median_s"] < TARGET_STITCH_S and stitch["runs"][0]["answer"]["remuxed"],
            measured=f"{stitch['wall_median_s']:.2f} s (cpu {stitch['cpu_median_s']:.2f} s)",
        ),
        target(
            "fit",
            f"7d. fit 1080P/6 s ({sizes['six_big'] / 1e6:.1f} MB) under 10 MiB < {TARGET_FIT_S} s",
            fit["wall_median_s"],
            TARGET_FIT_S,
            "s",
            fit["wall_median_s"] < TARGET_FIT_S and fitted["size"] <= 10 * MIB,
            measured=f"{fit['wall_median_s']:.2f} s (cpu {fit['cpu_median_s']:.2f} s)",
        ),
        target(
            "fit_rss",
            f"7e. RSS + during that encode < {TARGET_FIT_RSS_MB:.0f} MB",
            fit["rss_plus_max_mb"],
            TARGET_FIT_RSS_MB,
            "MB",
            fit["rss_plus_max_mb"] < TARGET_FIT_RSS_MB,
        ),
        target(
            "fit_loop_lag",
            f"7f. event-loop lag p99 during that encode < {TARGET_LAG_MS:.0f} ms",
            fit["lag_p99_max_ms"],
            TARGET_LAG_MS,
            "ms",
            fit["lag_p99_max_ms"] < TARGET_LAG_MS,
        ),
    ]
    data = {
        "targets": targets,
        "clip_sizes": sizes,
        "last_frame": last,
        "last_frame_gop48": last_gop,
        "delivered": kept,
        "delivered_gop48": kept_gop,
        "stitch": stitch,
        "fit": fit,
        "load_average": os.getloadavg(),
        "worker_niceness": NICENESS,
    }
    print(f"clips: {', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in sizes.items())}")
    print(f"fitted: {fitted}")
    print(f"stitched: {stitch['runs'][0]['answer']} {stitch['runs'][0]['output']}")
    for name, runs in (("one keyframe", kept), ("keyframe every 2 s", kept_gop)):
        print(
            f"delivered clip, {name}: Extend waits {_median(runs, 'extend_wait_s') * 1000:.1f} ms"
            f" for the stored frame ({runs[0]['answer']['png_bytes'] / 1e6:.1f} MB PNG); the"
            f" background decode took {_median(runs, 'background_wall_s'):.2f} s wall /"
            f" {_median(runs, 'background_cpu_s'):.2f} s CPU; after the frame, Extend checks it"
            f" ({_median(runs, 'check_image_s') * 1000:.0f} ms) and makes the card's thumbnail"
            f" ({_median(runs, 'thumbnail_s') * 1000:.0f} ms)"
        )
    print(
        f"decode on demand (no stored frame): {last['wall_median_s']:.2f} s /"
        f" {last['cpu_median_s']:.2f} s CPU (one keyframe), {last_gop['wall_median_s']:.2f} s /"
        f" {last_gop['cpu_median_s']:.2f} s CPU (keyframe every 2 s)"
    )
    print(f"load average during the run: {os.getloadavg()}")
    return report("video", data, started)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3:])))
        sys.exit(0)
    sys.exit(main())
