"""Run a bot module against the Discord double: `python tests/e2e/launch_bot.py [module] [args...]`.

Points discord.py at DISCORD_API_BASE / DISCORD_GATEWAY_URL before any Route is built, then runs
the module as __main__; the production bot code is never modified for tests. With
E2E_TIME_SCALE set (a test-only variable, read here and nowhere in the bot), the bot runs with a
`bot.timing.Timing` scaled by it: its per-channel Discord pacing windows, as the test scales the
double's rate-limit buckets, the stages of the sandbox simulator, the Wiro client's Task/Detail
poll pace while the socket is silent, Discord's identify window (5 s per shard bucket; the e2e
Stack scales the double's alike), and every job's deadline (JOB_TIMEOUT_MINUTES still names the
deadline in what members read: "after 1 minute" is 12 s of real time at 0.2).
With E2E_VIDEO_NICENESS set (test-only too), the bot's video worker threads run at that
niceness instead of 19, as the suite's own do (tests/factories.py TEST_TIMING). The timing is
handed to the bot's entry point (`bot.__main__.main`); no product global is patched. With
E2E_MAX_FILE_BYTES set, the bot cannot write a file larger than that (RLIMIT_FSIZE: the write
fails with EFBIG, as on a full disk it fails with ENOSPC), without the privileges a small mounted
file system would need.
"""

from __future__ import annotations

import dataclasses
import os
import runpy
import sys
from pathlib import Path

import yarl

ROOT = Path(__file__).resolve().parents[2]
# sys.path[0] is tests/e2e when run as a script; the bot lives at the project root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.timing import Timing  # noqa: E402  (after the project root is on the path)


def bot_timing() -> Timing | None:
    """The bot's `Timing` from E2E_TIME_SCALE and E2E_VIDEO_NICENESS (None when neither is set).

    E2E_TIME_SCALE shortens the bot's pacing windows (card edits, new messages), the stages of
    the sandbox's own simulator (WIRO_SANDBOX=true: about half a minute per job), the poll pace
    of a silent socket, Discord's identify window and the real length of every job's deadline
    alike."""
    scale = os.environ.get("E2E_TIME_SCALE")
    niceness = os.environ.get("E2E_VIDEO_NICENESS")
    if scale is None and niceness is None:
        return None
    timing = Timing()
    if scale:
        timing = timing.scaled(float(scale))
    if niceness:
        # The suite's workers run at niceness 0; the bot's encodes at 19 would starve behind
        # them (bot/media/video/worker.py DEFAULT_NICENESS). Benchmarks leave it unset.
        timing = dataclasses.replace(timing, video_niceness=int(niceness))
    return timing


def main() -> None:
    """Patch discord.py's REST base and default gateway, then run the module."""
    import discord.gateway
    import discord.http

    # Route builds its URL from BASE at construction, so this must precede any request.
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    timing = bot_timing()
    if max_file := os.environ.get("E2E_MAX_FILE_BYTES"):
        import resource

        # Python ignores SIGXFSZ, so a write past the limit raises OSError(EFBIG).
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(max_file), int(max_file)))
    module = sys.argv[1] if len(sys.argv) > 1 else "bot"
    sys.argv = [module, *sys.argv[2:]]
    if module == "bot" and timing is not None:
        # The bot's own entry point, given the test's timing (what `python -m bot` runs).
        from bot.__main__ import main as bot_main

        raise SystemExit(bot_main(sys.argv[1:], timing=timing))
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
