"""Shared plumbing for the end-to-end benchmarks: the real bot against the Wiro simulator and the
Discord double, all on 127.0.0.1, plus /proc readers, percentiles and the result files.

Every benchmark script runs on its own (`python bench/bench_ack.py`) and writes
bench/results/<name>.json with a `targets` list that bench/run_all.py gathers into one table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.wiro.simulator.incoming import json_of  # noqa: E402
from bot.wiro.simulator.server import WiroSimulator  # noqa: E402
from bot.wiro.simulator.tasks import SimTask, Timings  # noqa: E402
from tests.discord_double import DiscordDouble  # noqa: E402
from tests.discord_double.world import Config, Member, Message  # noqa: E402
from tests.e2e.harness import BotProcess  # noqa: E402

log = logging.getLogger(__name__)

RESULTS_DIR = ROOT / "bench" / "results"
WIRO_KEY = "bench-key-0123456789"
WIRO_SECRET = "bench-secret-0123456789"
MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Wall clock minus monotonic clock, to put the double's wall-clock stamps on the monotonic axis.
WALL_OFFSET = time.time() - time.monotonic()


# ----------------------------------------------------------------------------------------------
# The machine, numbers, results
# ----------------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """Describe the machine the numbers come from (CPU model, cores, Python, library versions)."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_total = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) // 1024
    import aiohttp
    import discord

    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_mib": mem_total,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "discord.py": discord.__version__,
        "aiohttp": aiohttp.__version__,
    }


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1): p99 of 50 samples is the largest one."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n*q), at least 1
    return ordered[int(min(rank, len(ordered))) - 1]


def median(samples: list[float]) -> float:
    """Return the median, or NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def target(
    key: str,
    description: str,
    value: float | None,
    limit: float | None,
    unit: str,
    passed: bool,
    measured: str | None = None,
) -> dict[str, Any]:
    """One row of the summary table."""
    if measured is None:
        measured = "n/a" if value is None else f"{value:.3g} {unit}".strip()
    return {
        "key": key,
        "target": description,
        "measured": measured,
        "value": value,
        "limit": limit,
        "unit": unit,
        "pass": bool(passed),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json (with the machine) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": machine_info(), **data}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def print_targets(title: str, targets: list[dict[str, Any]]) -> None:
    """Print the benchmark's targets as a small table."""
    print(f"\n{title}")
    width = max(len(t["target"]) for t in targets)
    for t in targets:
        verdict = "pass" if t["pass"] else "MISS"
        print(f"  {t['target']:<{width}}  {t['measured']:>24}  {verdict}")


def report(name: str, data: dict[str, Any], started: float) -> int:
    """Write bench/results/<name>.json with the run's duration, print the targets and the file;
    return the exit status: 0 when every target passed."""
    path = save(name, {**data, "duration_s": time.monotonic() - started})
    targets = data["targets"]
    print_targets("targets", targets)
    print(f"wrote {path}")
    return 0 if all(t["pass"] for t in targets) else 1


# ----------------------------------------------------------------------------------------------
# /proc readers for the bot process
# ----------------------------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """Return VmRSS, VmHWM etc. (kB) from /proc/<pid>/status."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Vm") or line.startswith("Rss"):
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                found[name] = int(parts[0])
    return found


def rss_mb(pid: int) -> float:
    """Return the resident set size in MB (10^6 bytes; /proc reports KiB)."""
    return proc_status(pid)["VmRSS"] * 1024 / 1e6


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size (VmHWM) in MB."""
    return proc_status(pid)["VmHWM"] * 1024 / 1e6


def cpu_seconds(pid: int) -> float:
    """Return utime + stime of the process in seconds (/proc/<pid>/stat fields 14 and 15)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Sample a process's RSS every `interval` seconds in the background; keep the peak."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError, KeyError):
                self.samples.append((time.monotonic(), rss_mb(self.pid)))
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def peak(self) -> float:
        return max((s[1] for s in self.samples), default=float("nan"))


# ----------------------------------------------------------------------------------------------
# Instrumented simulator and bot process
# ----------------------------------------------------------------------------------------------
@dataclass
class SimEvent:
    task_id: str
    kind: str
    mono: float
    wall: float


class RecordingSim(WiroSimulator):
    """The Wiro simulator, with a timestamp for every socket event, Detail poll and file GET."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[SimEvent] = []
        self.detail_polls: list[tuple[float, str]] = []  # (monotonic, task token or id)
        self.file_gets: list[tuple[float, str]] = []  # (monotonic, task id)

    async def emit(self, task: SimTask, kind: str, message: Any, **kwargs: Any) -> None:
        self.events.append(SimEvent(task.task_id, kind, time.monotonic(), time.time()))
        await super().emit(task, kind, message, **kwargs)

    async def _detail(self, request: Any) -> Any:
        data = json_of(request)
        key = str(data.get("tasktoken") or data.get("taskid") or "")
        self.detail_polls.append((time.monotonic(), key))
        return await super()._detail(request)

    async def _file(self, request: Any) -> Any:
        self.file_gets.append((time.monotonic(), request.match_info["task_id"]))
        return await super()._file(request)

    def first_event(self, task_id: str, kind: str) -> SimEvent | None:
        """Return the first event of this kind for the task."""
        return next((e for e in self.events if e.task_id == task_id and e.kind == kind), None)

    def task_for_token(self, token: str) -> str | None:
        return next((t.task_id for t in self.tasks.values() if t.token == token), None)


class _StampedLines(list[str]):
    """A process's output lines, noting when each arrived (monotonic) in `times`."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, line: str) -> None:
        self.times.append(time.monotonic())
        super().append(line)


class TimedBotProcess(BotProcess):
    """BotProcess that also stamps each output line with its arrival time (monotonic)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: _StampedLines = _StampedLines()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def lines_with(self, substring: str) -> list[tuple[float, str]]:
        """Return (arrival time, line) for every line containing `substring`."""
        return [
            (t, s) for t, s in zip(self.lines.times, self.lines, strict=False) if substring in s
        ]


@dataclass
class Stack:
    """A running bench setup: simulator, Discord double, bot process and the members."""

    sim: RecordingSim
    dd: DiscordDouble
    bot: TimedBotProcess
    members: list[Member]
    channels: list[Any]
    tmp: Path
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.bot.pid

    async def video(self, member: Member, channel: Any = None, prompt: str = "a lighthouse") -> Any:
        """Send one /video from `member` (the interaction id is minted now)."""
        return await self.dd.slash(
            "video", {"prompt": prompt}, user=member, channel=channel or self.channels[0]
        )

    def card_of(self, job_id: int) -> Message | None:
        """Return the job card message of job `job_id` (its footer says "Job N")."""
        for msg in self.dd.world.messages.values():
            if msg.embeds and _footer_job(msg.embeds[0]) == job_id and not msg.ephemeral:
                return msg
        return None

    def cards(self) -> dict[int, Message]:
        """Return {job id: card message} for every card in the double."""
        found: dict[int, Message] = {}
        for msg in self.dd.world.messages.values():
            if msg.embeds and not msg.ephemeral and not msg.deleted:
                job = _footer_job(msg.embeds[0])
                if job is not None:
                    found[job] = msg
        return found

    def clip_messages(self) -> dict[int, Message]:
        """Return {job id: message} for every posted clip ("... your video is ready (job N).")."""
        found: dict[int, Message] = {}
        for msg in self.dd.world.messages.values():
            if "your video is ready (job " in msg.content and not msg.deleted:
                job = int(msg.content.split("(job ", 1)[1].split(")", 1)[0])
                found[job] = msg
        return found

    def accepted(self, interactions: list[Any]) -> int:
        """Count interactions whose ephemeral answer says the video is on its way."""
        count = 0
        for inter in interactions:
            if any("on its way" in m.content for m in self.dd.replies(inter)):
                count += 1
        return count

    def refusals(self, interactions: list[Any]) -> list[str]:
        """Return ephemeral answers that are not "on its way" (refusals, errors)."""
        texts = []
        for inter in interactions:
            for m in self.dd.replies(inter):
                if m.content and "on its way" not in m.content:
                    texts.append(m.content)
        return texts


def _footer_job(embed: dict[str, Any]) -> int | None:
    text = (embed.get("footer") or {}).get("text") or ""
    if not text.startswith("Job "):
        return None
    head = text[4:].split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def bot_environment(dd: DiscordDouble, sim: RecordingSim, tmp: Path) -> dict[str, str]:
    """The bot's environment against the doubles, its database in `tmp`, with limits that no
    benchmark reaches."""
    return {
        **dd.env(),
        "WIRO_API_KEY": WIRO_KEY,
        "WIRO_API_SECRET": WIRO_SECRET,
        "WIRO_API_BASE": sim.api_base,
        "WIRO_SOCKET_URL": sim.socket_url,
        "WIRO_OUTPUT_HOSTS": sim.output_host,
        "DATABASE_PATH": str(tmp / "bot.sqlite3"),
        "LOG_LEVEL": "INFO",
        "MAX_JOBS_PER_USER": "100",
        "MAX_JOBS_PER_GUILD": "1000",
        "DEFAULT_QUOTA_CREDITS": "100000",
    }


@contextlib.asynccontextmanager
async def stack(
    *,
    members: int = 1,
    channels: int = 1,
    premium_tier: int = 0,
    config: Config | None = None,
    timings: Timings | None = None,
    env: dict[str, str] | None = None,
    echo: bool = False,
    module: str = "bot",
) -> AsyncIterator[Stack]:
    """Start the simulator, the double (with members and channels) and the real bot; stop all."""
    sim = RecordingSim(api_key=WIRO_KEY, api_secret=WIRO_SECRET, timings=timings)
    await sim.start()
    tmp = Path(tempfile.mkdtemp(prefix="hailuo-bench-"))
    try:
        async with DiscordDouble(config=config, premium_tier=premium_tier) as dd:
            chans = [dd.channel] + [dd.add_channel(f"bench-{i}") for i in range(1, channels)]
            people = [dd.add_member(name=f"bench{i}") for i in range(members)]
            bot_env = {
                **bot_environment(dd, sim, tmp),
                "DEV_GUILD_ID": str(dd.guild.id),  # type: ignore[union-attr]
                **(env or {}),
            }
            bot = TimedBotProcess(module, env=bot_env, cwd=tmp, echo=echo)
            async with bot:
                await bot.wait_for_line("Ready:", 60)
                # Commands are synced before the gateway connects; give on_ready's tasks a beat.
                await dd.wait_for(lambda: "video" in dd.world.commands_for(dd.guild.id), 10)  # type: ignore[union-attr]
                await asyncio.sleep(0.5)
                st = Stack(sim, dd, bot, people, chans, tmp)
                try:
                    yield st
                finally:
                    if bot.returncode is None:
                        with contextlib.suppress(AssertionError, TimeoutError):
                            code, secs = await bot.terminate(15)
                            st.notes["exit"] = {"code": code, "seconds": secs}
                    bad = [m for m in ("Traceback", "Ignoring exception") if m in bot.output]
                    st.notes["bot_output_clean"] = not bad
                    if bad:
                        print(f"warning: bot output contains {bad}", file=sys.stderr)
                        (RESULTS_DIR / "last-bot-output.log").write_text(bot.output)
    finally:
        await sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def wait_quiet(dd: DiscordDouble, method: str, quiet: float, timeout: float) -> float:
    """Wait until no `method` call reached the double for `quiet` seconds; return when it was."""
    deadline = time.monotonic() + timeout
    while True:
        calls = [c for c in dd.world.calls if c.method == method]
        last = calls[-1].at if calls else 0.0
        now = time.monotonic()
        if now - last >= quiet:
            return last
        if now >= deadline:
            raise TimeoutError(f"{method} calls did not stop within {timeout} s")
        await asyncio.sleep(0.1)


def run(main: Any) -> int:
    """Run an async main() with quiet library logging; return its exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main())
