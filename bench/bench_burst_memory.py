"""Benchmark: peak memory of the bot while 5 members at once send the worst images it accepts.

The real bot process (`stack`) gets 5 `/video` with an image attachment at the same moment, from
5 members, 3 rounds. The images are the worst of each kind: a 50 MP PNG (a 160 KB file that
decodes to 200 MB; refused from its header since this change), a 20 MP PNG of noise (29 MB, the
largest lossless picture accepted: decoded, re-encoded to JPEG), two 50 MP JPEGs of noise (about
20 MB: decoded at reduced scale, re-encoded) and a 20 MP animated GIF (its first frame). Each goes
through the real path: Discord's CDN (the double) → download → check and fix → thumbnail →
reservation and card. The simulator keeps every task queued, so only the images compete.
Peak RSS is the larger of VmHWM (reset before each round) and a 10 ms sampler.
Target: peak RSS ≤ 300 MB. MB here is 10^6 bytes.

Run: `python bench/bench_burst_memory.py`. Writes bench/results/burst_memory.json.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RssSampler, peak_rss_mb, report, reset_peak_rss, rss_mb, run, stack, target
from PIL import Image

from bot.wiro.simulator.tasks import TaskScript

ROUNDS = int(os.environ.get("BURST_ROUNDS", "3"))
PEAK_TARGET_MB = 300.0


def _encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def worst_images() -> list[tuple[str, bytes, str]]:
    """(file name, bytes, content type) of the five images, one per member."""
    png50 = _encode(Image.new("RGB", (8660, 5773), (10, 120, 200)), "PNG")
    png20 = _encode(Image.effect_noise((5400, 3700), 30).convert("RGB"), "PNG", compress_level=1)
    noise50 = Image.effect_noise((8660, 5773), 60).convert("RGB")
    jpeg50 = _encode(noise50, "JPEG", quality=60)
    del noise50
    frames = [Image.new("P", (5000, 4000), 40 * i) for i in range(3)]
    gif = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    return [
        ("png50.png", png50, "image/png"),
        ("png20.png", png20, "image/png"),
        ("jpeg50-a.jpg", jpeg50, "image/jpeg"),
        ("jpeg50-b.jpg", jpeg50, "image/jpeg"),
        ("animated.gif", gif, "image/gif"),
    ]


async def main() -> int:
    started = time.monotonic()
    images = worst_images()
    for name, data, _ in images:
        print(f"  {name:<14} {len(data) / 1e6:6.1f} MB file")
    rounds = []
    extra = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    async with stack(members=len(images), env=extra) as st:
        st.sim.default_script = TaskScript(queue=3600)  # held at Wiro: only images compete
        await asyncio.sleep(2.0)
        idle = rss_mb(st.pid)
        for n in range(ROUNDS):
            reset_peak_rss(st.pid)
            sampler = RssSampler(st.pid, interval=0.01)
            sampler.start()
            t0 = time.monotonic()
            inters = await asyncio.gather(
                *(
                    st.dd.slash(
                        "video",
                        {"prompt": f"burst {n} {name}"},
                        user=member,
                        channel=st.channels[0],
                        attachments={"image": (name, data, ctype)},
                    )
                    for member, (name, data, ctype) in zip(st.members, images, strict=True)
                )
            )

            def answered(inters: list = inters) -> bool:
                return all(
                    any(m.content and not m.loading for m in st.dd.ephemeral_replies(i))
                    for i in inters
                )

            await st.dd.wait_for(answered, 300)
            elapsed = time.monotonic() - t0
            await asyncio.sleep(0.5)
            await sampler.stop()
            peak = max(sampler.peak, peak_rss_mb(st.pid))
            answers = {}
            for (name, _, _), inter in zip(images, inters, strict=True):
                texts = [m.content for m in st.dd.ephemeral_replies(inter) if m.content]
                answers[name] = texts[-1][:160] if texts else ""
            rounds.append({"round": n, "peak_rss_mb": peak, "seconds": elapsed, "answers": answers})
            print(f"round {n}: peak RSS {peak:.1f} MB, all answered in {elapsed:.1f} s")
            for name, text in answers.items():
                print(f"    {name:<14} {text[:110]}")
        after = rss_mb(st.pid)
        notes = st.notes

    peak = max(r["peak_rss_mb"] for r in rounds)
    targets = [
        target(
            "burst_peak_rss",
            f"5 members send the worst images at once: peak RSS ≤ {PEAK_TARGET_MB:.0f} MB",
            peak,
            PEAK_TARGET_MB,
            "MB",
            peak <= PEAK_TARGET_MB,
            measured=f"{peak:.1f} MB (idle {idle:.1f} MB)",
        )
    ]
    data = {
        "targets": targets,
        "images": [{"name": n, "bytes": len(d), "content_type": c} for n, d, c in images],
        "idle_rss_mb": idle,
        "rss_after_mb": after,
        "rounds": rounds,
        "bot": notes,
    }
    return report("burst_memory", data, started)


if __name__ == "__main__":
    sys.exit(run(main))
