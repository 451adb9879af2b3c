"""Benchmark 4: footprint of the bot process, idle and with 200 jobs in flight.

Reads /proc/<pid>/status (VmRSS) and /proc/<pid>/stat (utime + stime) of the real bot.
Idle: connected, no jobs. Loaded: 200 `/video` from 200 members spread over 20 channels (so the
card editor's per-channel pacing drains in seconds), every task held at "queued" by the
simulator for an hour; once the cards stop changing, CPU is measured over a quiet window in which
Wiro sends no events (the bot's own Task/Detail polling still runs, and counts).
Targets: idle RSS < 80 MB; 200 in flight < 150 MB and < 5 % of one core between events.
MB here is 10^6 bytes (the stricter reading).

Run: `python bench/bench_footprint.py`. Writes bench/results/footprint.json.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    RssSampler,
    cpu_seconds,
    proc_status,
    report,
    rss_mb,
    run,
    stack,
    target,
    wait_quiet,
)

from bot.wiro.simulator.tasks import TaskScript

JOBS = 200
CHANNELS = 20
BURST = 50
IDLE_SETTLE_S = 5.0
IDLE_WINDOW_S = 10.0
QUIET_WINDOW_S = 30.0
IDLE_RSS_MB = 80.0
LOADED_RSS_MB = 150.0
LOADED_CPU_PCT = 5.0


async def cpu_window(pid: int, seconds: float) -> tuple[float, float]:
    """Return (% of one core, peak RSS MB) over `seconds`."""
    sampler = RssSampler(pid, interval=0.1)
    sampler.start()
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    await sampler.stop()
    return 100 * (c1 - c0) / (t1 - t0), sampler.peak


async def main() -> int:
    started = time.monotonic()
    async with stack(members=JOBS, channels=CHANNELS) as st:
        pid = st.pid
        st.sim.default_script = TaskScript(queue=3600)
        await asyncio.sleep(IDLE_SETTLE_S)
        idle_rss = rss_mb(pid)
        idle_cpu, idle_peak = await cpu_window(pid, IDLE_WINDOW_S)
        idle_status = proc_status(pid)

        inters = []
        t_submit = time.monotonic()
        for b in range(0, JOBS, BURST):
            batch = await asyncio.gather(
                *(
                    st.video(m, channel=st.channels[(b + i) % CHANNELS], prompt=f"held {b + i}")
                    for i, m in enumerate(st.members[b : b + BURST])
                )
            )
            inters += batch
            await st.dd.wait_for(lambda x=batch: st.accepted(x) == len(x), 60)
        submit_s = time.monotonic() - t_submit
        await wait_quiet(st.dd, "PATCH", quiet=3.0, timeout=120)
        await asyncio.sleep(2.0)

        in_flight = len([t for t in st.sim.tasks.values() if not t.is_terminal])
        events_before = len(st.sim.events)
        polls_before = len(st.sim.detail_polls)
        calls_before = len(st.dd.world.calls)
        loaded_cpu, loaded_peak = await cpu_window(pid, QUIET_WINDOW_S)
        loaded_rss = rss_mb(pid)
        loaded_status = proc_status(pid)
        events_in_window = len(st.sim.events) - events_before
        polls_in_window = len(st.sim.detail_polls) - polls_before
        discord_calls_in_window = len(st.dd.world.calls) - calls_before
        accepted = st.accepted(inters)
        refusals = st.refusals(inters)[:3]
        notes = st.notes

    targets = [
        target(
            "idle_rss",
            f"4a. idle RSS < {IDLE_RSS_MB:.0f} MB",
            idle_rss,
            IDLE_RSS_MB,
            "MB",
            idle_rss < IDLE_RSS_MB,
            measured=f"{idle_rss:.1f} MB",
        ),
        target(
            "loaded_rss",
            f"4b. {JOBS} jobs in flight: RSS < {LOADED_RSS_MB:.0f} MB",
            max(loaded_rss, loaded_peak),
            LOADED_RSS_MB,
            "MB",
            max(loaded_rss, loaded_peak) < LOADED_RSS_MB and in_flight == JOBS,
            measured=f"{max(loaded_rss, loaded_peak):.1f} MB ({in_flight} in flight)",
        ),
        target(
            "loaded_cpu",
            f"4c. {JOBS} jobs in flight: CPU < {LOADED_CPU_PCT:.0f} % of a core between events",
            loaded_cpu,
            LOADED_CPU_PCT,
            "%",
            loaded_cpu < LOADED_CPU_PCT and events_in_window == 0,
            measured=f"{loaded_cpu:.2f} % ({QUIET_WINDOW_S:.0f} s)",
        ),
    ]
    data = {
        "targets": targets,
        "idle": {
            "rss_mb": idle_rss,
            "peak_rss_in_window_mb": idle_peak,
            "cpu_pct": idle_cpu,
            "window_s": IDLE_WINDOW_S,
            "status_kb": idle_status,
        },
        "loaded": {
            "jobs_in_flight": in_flight,
            "accepted": accepted,
            "refusals": refusals,
            "channels": CHANNELS,
            "submit_all_s": submit_s,
            "rss_mb": loaded_rss,
            "peak_rss_in_window_mb": loaded_peak,
            "cpu_pct": loaded_cpu,
            "window_s": QUIET_WINDOW_S,
            "wiro_events_in_window": events_in_window,
            "wiro_detail_polls_in_window": polls_in_window,
            "discord_calls_in_window": discord_calls_in_window,
            "status_kb": loaded_status,
        },
        "bot": notes,
    }
    print(f"idle: RSS {idle_rss:.1f} MB, CPU {idle_cpu:.2f} % over {IDLE_WINDOW_S:.0f} s")
    print(
        f"{in_flight} jobs in flight: RSS {loaded_rss:.1f} MB (peak {loaded_peak:.1f}), "
        f"CPU {loaded_cpu:.2f} % over {QUIET_WINDOW_S:.0f} s; in that window Wiro sent "
        f"{events_in_window} events, the bot polled Task/Detail {polls_in_window} times and "
        f"made {discord_calls_in_window} Discord calls"
    )
    return report("footprint", data, started)


if __name__ == "__main__":
    sys.exit(run(main))
