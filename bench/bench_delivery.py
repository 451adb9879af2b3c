"""Benchmark 2: Wiro task finished → clip message posted, for a 5 MB clip on loopback.

"Finished" is when the simulator emits `task_postprocess_end` (it stamps its own events);
"posted" is when the double stored the clip message (after reading the whole upload). The
transfer part is measured separately by bench/transfer_probe.py in its own process: the same
5 MB downloaded from the simulator and uploaded to the double, with nothing else around it.
Target: median(finished → posted) < 0.5 s + median(transfer).

Run: `python bench/bench_delivery.py`. Writes bench/results/delivery.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, report, run, stack, target

from bot.wiro.simulator.tasks import TaskScript

CLIP_BYTES = 5 * 1000 * 1000
JOBS = 10
OVERHEAD_TARGET_S = 0.5
PROBE = Path(__file__).resolve().parent / "transfer_probe.py"


async def probe_transfer(url: str, api_base: str, channel_id: int, token: str) -> list[dict]:
    """Run the transfer probe in its own process; return its per-repeat timings."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE),
        url,
        api_base,
        str(channel_id),
        token,
        "7",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return json.loads(out)


async def main() -> int:
    started = time.monotonic()
    clip = os.urandom(CLIP_BYTES)
    rows = []
    async with stack(members=1) as st:
        st.sim.default_script = TaskScript(clip=clip)
        member = st.members[0]
        for i in range(JOBS):
            before = set(st.clip_messages())
            inter = await st.video(member, prompt=f"delivery {i}")
            await st.dd.wait_for(lambda b=before: set(st.clip_messages()) - b, 60)
            job_id = (set(st.clip_messages()) - before).pop()
            msg = st.clip_messages()[job_id]
            run_rec = st.sim.runs[-1]
            task = st.sim.tasks[run_rec.task_id]  # type: ignore[index]
            finished = st.sim.first_event(task.task_id, "task_postprocess_end")
            assert finished is not None
            offset = time.time() - time.monotonic()
            posted = msg.created_at - offset
            polls = [t for t, k in st.sim.detail_polls if k == task.token and t >= finished.mono]
            gets = [t for t, k in st.sim.file_gets if k == task.task_id]
            post_calls = [
                c
                for c in st.dd.calls("POST", f"/channels/{msg.channel_id}/messages")
                if c.files and isinstance(c.json, dict) and f"(job {job_id})" in c.json["content"]
            ]
            size = msg.attachments[0]["size"] if msg.attachments else None
            rows.append(
                {
                    "job": job_id,
                    "task": task.task_id,
                    "attached_bytes": size,
                    "finished_to_posted_s": posted - finished.mono,
                    "finished_to_detail_poll_s": polls[0] - finished.mono if polls else None,
                    "finished_to_file_get_s": gets[0] - finished.mono if gets else None,
                    "file_get_to_upload_start_s": (
                        post_calls[0].at - gets[0] if gets and post_calls else None
                    ),
                    "upload_start_to_posted_s": posted - post_calls[0].at if post_calls else None,
                    "interaction": str(inter.id),
                }
            )
            # Let the final card edit go out so every job starts from a quiet bot.
            await st.dd.wait_for(
                lambda j=job_id: (c := st.card_of(j)) and "ready" in c.embeds[0].get("title", ""),
                15,
            )
            await asyncio.sleep(1.2)
        url = st.sim.tasks[st.sim.runs[-1].task_id].outputs[0]["url"]  # type: ignore[index]
        probe = await probe_transfer(url, st.dd.api_base, st.channels[0].id, st.dd.token)
        notes = st.notes

    latencies = [r["finished_to_posted_s"] for r in rows]
    transfer = median([p["total_s"] for p in probe])
    limit = OVERHEAD_TARGET_S + transfer
    med = median(latencies)
    attached = all(r["attached_bytes"] == CLIP_BYTES for r in rows)
    targets = [
        target(
            "delivery_median",
            f"2. finished → clip posted median < {OVERHEAD_TARGET_S} s + transfer (5 MB)",
            med,
            limit,
            "s",
            med < limit and attached,
            measured=f"{med * 1000:.0f} ms (transfer {transfer * 1000:.0f} ms)",
        )
    ]
    stage_medians = {
        k: median([r[k] for r in rows if r[k] is not None])
        for k in (
            "finished_to_detail_poll_s",
            "finished_to_file_get_s",
            "file_get_to_upload_start_s",
            "upload_start_to_posted_s",
        )
    }
    data = {
        "targets": targets,
        "clip_bytes": CLIP_BYTES,
        "jobs": rows,
        "median_s": med,
        "min_s": min(latencies),
        "max_s": max(latencies),
        "transfer_probe": probe,
        "transfer_median_s": transfer,
        "overhead_median_s": med - transfer,
        "breakdown_medians_s": stage_medians,
        "bot": notes,
    }
    print(f"finished → posted, {JOBS} jobs with a {CLIP_BYTES / 1e6:.0f} MB clip:")
    print(
        f"  median {med * 1000:.0f} ms  min {min(latencies) * 1000:.0f}  "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"  bare transfer (download + upload, own process): median {transfer * 1000:.0f} ms; "
        f"overhead {1000 * (med - transfer):.0f} ms"
    )
    for k, v in stage_medians.items():
        print(f"  {k:<28} {v * 1000:8.1f} ms")
    return report("delivery", data, started)


if __name__ == "__main__":
    sys.exit(run(main))
