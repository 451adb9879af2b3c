"""Run a bot module against the Discord double: `python tests/e2e/launch_bot.py [module] [args...]`.

Points discord.py at DISCORD_API_BASE / DISCORD_GATEWAY_URL before any Route is built, then runs
the module as __main__; the production bot code is never modified for tests. With
E2E_TIME_SCALE set (a test-only variable, read here and nowhere in the bot), the bot's per-channel
Discord pacing windows are scaled by it, as the test scales the double's rate-limit buckets, and
so are the stages of the sandbox simulator, the Wiro client's Task/Detail poll pace while the
socket is silent, Discord's identify window (5 s per shard bucket; the e2e Stack scales the
double's alike), and every job's deadline (JOB_TIMEOUT_MINUTES still names the deadline in what
members read: "after 1 minute" is 12 s of real time at 0.2).
With E2E_VIDEO_NICENESS set (test-only too), the bot's video worker threads run at that
niceness instead of 19, as the suite's own do (tests/conftest.py). With E2E_MAX_FILE_BYTES set,
the bot cannot write a file larger than that (RLIMIT_FSIZE: the write fails with EFBIG, as on a
full disk it fails with ENOSPC), without the privileges a small mounted file system would need.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import yarl

ROOT = Path(__file__).resolve().parents[2]


def scale_pacing(factor: float) -> None:
    """Shorten the bot's pacing windows (card edits, new messages) by `factor`, the stages of the
    sandbox's own simulator (WIRO_SANDBOX=true: about half a minute per job), the poll pace of a
    silent socket and the real length of every job's deadline alike."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import bot.wiro.simulator.tasks as sandbox
    from bot.app.shards import IdentifySchedule
    from bot.jobs.service import JobService
    from bot.wiro import client
    from cogs.cards import pacing

    JobService.deadline_scale = factor
    IdentifySchedule.interval_scale = factor  # the double's identify window is scaled alike
    client.POLL_SECONDS *= factor

    pacing.PACING = pacing.PACING.scaled(factor)
    real = sandbox.Timings.realistic()
    scaled = sandbox.Timings(
        queue=real.queue * factor,
        start=real.start * factor,
        generate=real.generate * factor,
        finish=real.finish * factor,
    )
    sandbox.Timings.realistic = classmethod(lambda cls: scaled)  # type: ignore[method-assign,assignment]


def main() -> None:
    """Patch discord.py's REST base and default gateway, then run the module."""
    import discord.gateway
    import discord.http

    # Route builds its URL from BASE at construction, so this must precede any request.
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    if scale := os.environ.get("E2E_TIME_SCALE"):
        scale_pacing(float(scale))
    if niceness := os.environ.get("E2E_VIDEO_NICENESS"):
        # The suite's workers run at niceness 0; the bot's encodes at 19 would starve behind
        # them (bot/media/video/worker.py DEFAULT_NICENESS). Benchmarks leave it unset.
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from bot.media.video import worker

        worker.DEFAULT_NICENESS = int(niceness)
    if max_file := os.environ.get("E2E_MAX_FILE_BYTES"):
        import resource

        # Python ignores SIGXFSZ, so a write past the limit raises OSError(EFBIG).
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(max_file), int(max_file)))
    module = sys.argv[1] if len(sys.argv) > 1 else "bot"
    sys.argv = [module, *sys.argv[2:]]
    # sys.path[0] is tests/e2e when run as a script; the bot lives at the project root.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
