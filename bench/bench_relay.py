"""Benchmark 5: relaying a 90 MiB clip raises the bot's RSS by < 20 MB.

The guild has boost tier 3 (100 MiB uploads), so the clip is attached, not linked. After a
warm-up job with a 1 MB clip (so code paths and buffers that every relay needs are loaded),
the peak RSS is reset (/proc/<pid>/clear_refs = 5) and the 90 MiB job runs while RSS is sampled
every 10 ms; the rise is max(sampled peak, VmHWM) − RSS just before the job.

Run: `python bench/bench_relay.py`. Writes bench/results/relay.json.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RssSampler, peak_rss_mb, report, reset_peak_rss, rss_mb, run, stack, target

from bot.wiro.simulator.tasks import TaskScript

CLIP_BYTES = 90 * 1024 * 1024
WARM_BYTES = 1_000_000
RISE_TARGET_MB = 20.0


async def relay(st, clip: bytes, prompt: str) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Run one job with `clip`; return (job id, seconds until the clip message existed)."""
    st.sim.script_next(TaskScript(clip=clip))
    before = set(st.clip_messages())
    t0 = time.monotonic()
    await st.video(st.members[0], prompt=prompt)
    await st.dd.wait_for(lambda: set(st.clip_messages()) - before, 180, interval=0.01)
    job_id = (set(st.clip_messages()) - before).pop()
    return job_id, time.monotonic() - t0


async def main() -> int:
    started = time.monotonic()
    clip = os.urandom(CLIP_BYTES)
    async with stack(members=1, premium_tier=3) as st:
        pid = st.pid
        start_rss = rss_mb(pid)
        warm_job, _ = await relay(st, os.urandom(WARM_BYTES), "warm-up")
        await asyncio.sleep(2.0)  # let the warm-up's card edits settle
        cleared = reset_peak_rss(pid)
        baseline = rss_mb(pid)
        sampler = RssSampler(pid, interval=0.01)
        sampler.start()
        job_id, seconds = await relay(st, clip, "ninety mebibytes")
        await asyncio.sleep(1.0)
        await sampler.stop()
        hwm = peak_rss_mb(pid)
        after = rss_mb(pid)
        msg = st.clip_messages()[job_id]
        attached = [a.get("size") for a in msg.attachments]
        upload_call = next(
            c
            for c in st.dd.calls("POST", f"/channels/{msg.channel_id}/messages")
            if c.files and isinstance(c.json, dict) and f"(job {job_id})" in c.json["content"]
        )
        notes = st.notes

    peak = max(sampler.peak, hwm if cleared else sampler.peak)
    rise = peak - baseline
    ok = rise < RISE_TARGET_MB and attached == [CLIP_BYTES]
    targets = [
        target(
            "relay_rise",
            f"5. relay of a {CLIP_BYTES / 2**20:.0f} MiB clip raises RSS < {RISE_TARGET_MB:.0f} MB",
            rise,
            RISE_TARGET_MB,
            "MB",
            ok,
            measured=f"+{rise:.1f} MB (peak {peak:.1f})",
        )
    ]
    data = {
        "targets": targets,
        "clip_bytes": CLIP_BYTES,
        "attached_sizes": attached,
        "upload_files": upload_call.files,
        "rss_at_start_mb": start_rss,
        "rss_before_mb": baseline,
        "peak_sampled_mb": sampler.peak,
        "vmhwm_mb": hwm,
        "vmhwm_reset": cleared,
        "rss_after_mb": after,
        "rise_mb": rise,
        "retained_mb": after - baseline,
        "relay_seconds": seconds,
        "samples": len(sampler.samples),
        "warm_job": warm_job,
        "bot": notes,
    }
    print(
        f"relay of {CLIP_BYTES / 2**20:.0f} MiB (attached {attached}) in {seconds:.2f} s: RSS "
        f"{baseline:.1f} MB before, peak {peak:.1f} MB (sampled {sampler.peak:.1f}, VmHWM "
        f"{hwm:.1f}{'' if cleared else ', not reset'}), {after:.1f} MB after"
    )
    return report("relay", data, started)


if __name__ == "__main__":
    sys.exit(run(main))
