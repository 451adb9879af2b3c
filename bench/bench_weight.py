"""Benchmark 9: the bot's weight at rest: import time and idle memory, normal and sandbox mode.

- `import bot.app.video_bot`: wall time of the import alone (perf_counter around it) in a fresh
  interpreter, median of IMPORT_RUNS runs (the first, which may compile bytecode, is dropped).
- Idle RSS: the real bot (`tests/e2e/launch_bot.py bot`) against the Discord double and the Wiro
  simulator, connected, no jobs, IDLE_SETTLE_S after Ready: VmRSS of the process. Once with a
  Wiro account configured (the simulator stands in for Wiro), once with WIRO_SANDBOX=true (the
  bot runs its own in-process simulator; PyAV is loaded only with the first sample clip).
- The floor of the chosen stack: the same two numbers for a fresh interpreter that imports only
  the libraries every start of the bot needs (STACK: asyncio, aiohttp, discord.py with its
  command extension, pydantic, pydantic-settings, sqlite-utils, python-dotenv) and none of the
  bot's code. No bot built on that stack imports faster or idles smaller than this.
Targets (issue 13): import ≤ 350 ms; idle RSS ≤ 60 MB, ≤ 70 MB in sandbox mode. MB = 10^6 bytes.

Run: `python bench/bench_weight.py`. Writes bench/results/weight.json.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import proc_status, report, rss_mb, run, stack, target

ROOT = Path(__file__).resolve().parents[1]
IMPORT_RUNS = 7
IDLE_SETTLE_S = 5.0
IMPORT_MS = 350.0
IDLE_RSS_MB = 60.0
SANDBOX_RSS_MB = 70.0
STACK = (
    "asyncio",
    "aiohttp",
    "discord",
    "discord.ext.commands",
    "pydantic",
    "pydantic_settings",
    "sqlite_utils",
    "dotenv",
)
PROBE = (
    "import importlib, time; t, c = time.perf_counter(), time.process_time(); "
    "[importlib.import_module(m) for m in {modules!r}]; "
    "w, u = time.perf_counter() - t, time.process_time() - c; "
    "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]; "
    "print(w, u, int(rss) * 1024 / 1e6)"
)


def import_runs(modules: tuple[str, ...]) -> list[tuple[float, float, float]]:
    """(wall s, CPU s, RSS MB after) of importing `modules` in fresh interpreters, after one
    warm-up run."""
    runs = []
    for _ in range(IMPORT_RUNS + 1):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(modules=list(modules))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        wall, cpu, rss = out.stdout.split()
        runs.append((float(wall), float(cpu), float(rss)))
    return runs[1:]


async def idle_rss(env: dict[str, str]) -> tuple[float, dict[str, int], bool]:
    """Idle VmRSS (MB) of the bot started with `env`, its /proc status, and whether av loaded."""
    async with stack(env=env) as st:
        await asyncio.sleep(IDLE_SETTLE_S)
        pid = st.pid
        maps = await asyncio.to_thread(Path(f"/proc/{pid}/maps").read_text)
        return rss_mb(pid), proc_status(pid), "/av/" in maps or "libavcodec" in maps


async def main() -> int:
    started = time.monotonic()
    imports = import_runs(("bot.app.video_bot",))
    import_ms = 1000 * statistics.median(wall for wall, _, _ in imports)
    import_cpu_ms = 1000 * statistics.median(cpu for _, cpu, _ in imports)
    floor = import_runs(STACK)
    floor_ms = 1000 * statistics.median(wall for wall, _, _ in floor)
    floor_rss = statistics.median(rss for _, _, rss in floor)
    normal_rss, normal_status, normal_av = await idle_rss({})
    sandbox_rss, sandbox_status, sandbox_av = await idle_rss({"WIRO_SANDBOX": "true"})
    targets = [
        target(
            "import_bot_app",
            f"9a. import bot.app.video_bot ≤ {IMPORT_MS:.0f} ms",
            import_ms,
            IMPORT_MS,
            "ms",
            import_ms <= IMPORT_MS,
            measured=f"{import_ms:.0f} ms (CPU {import_cpu_ms:.0f} ms; median of {IMPORT_RUNS})",
        ),
        target(
            "idle_rss",
            f"9b. idle RSS ≤ {IDLE_RSS_MB:.0f} MB",
            normal_rss,
            IDLE_RSS_MB,
            "MB",
            normal_rss <= IDLE_RSS_MB,
            measured=f"{normal_rss:.1f} MB",
        ),
        target(
            "idle_rss_sandbox",
            f"9c. idle RSS in sandbox mode ≤ {SANDBOX_RSS_MB:.0f} MB",
            sandbox_rss,
            SANDBOX_RSS_MB,
            "MB",
            sandbox_rss <= SANDBOX_RSS_MB and not sandbox_av,
            measured=f"{sandbox_rss:.1f} MB (PyAV {'loaded' if sandbox_av else 'not loaded'})",
        ),
    ]
    data = {
        "targets": targets,
        "import_seconds": imports,
        "stack_floor": {
            "modules": STACK,
            "runs": floor,
            "import_ms": floor_ms,
            "rss_mb": floor_rss,
        },
        "idle": {"rss_mb": normal_rss, "status_kb": normal_status, "av_loaded": normal_av},
        "idle_sandbox": {
            "rss_mb": sandbox_rss,
            "status_kb": sandbox_status,
            "av_loaded": sandbox_av,
        },
    }
    print(
        f"import bot.app.video_bot: median {import_ms:.0f} ms wall, {import_cpu_ms:.0f} ms CPU "
        f"over {IMPORT_RUNS} runs"
    )
    print(f"idle RSS: {normal_rss:.1f} MB; sandbox mode: {sandbox_rss:.1f} MB")
    print(
        f"floor of the chosen stack (its libraries imported, no bot code): "
        f"{floor_ms:.0f} ms, {floor_rss:.1f} MB RSS"
    )
    return report("weight", data, started)


if __name__ == "__main__":
    sys.exit(run(main))
