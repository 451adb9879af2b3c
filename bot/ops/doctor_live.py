"""`python -m bot doctor --live`: the first real run, recorded and checked.

The pieces live in `bot/wiro/live/check.py` (recording, the run, the report) and
`bot/wiro/live/assumptions.py` (the checks); this module wires them to Settings and prints
where the record went. Exit status 0 when the run succeeded and no assumption came out ✗.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from bot.settings import Settings
from bot.wiro.live.check import TraceRecorder, ask_on_terminal, live_run, print_report, trace_path


async def run_live_check(
    settings: Settings,
    out: TextIO,
    *,
    yes: bool,
    confirm: Callable[[str], bool] = ask_on_terminal,
) -> int:
    """Make one real run after confirmation, record it, check every assumption; 0 if all hold."""
    from bot.app.startup import build_wiro

    key = settings.wiro_api_key.get_secret_value() if settings.wiro_api_key else None
    secret = settings.wiro_api_secret.get_secret_value() if settings.wiro_api_secret else None
    recorder = TraceRecorder(secrets=[key, secret])
    recorder.note(
        "meta",
        signed=bool(key and secret),
        key_only=bool(key and not secret),
        sandbox=settings.wiro_sandbox,
        started_unix=int(time.time()),
    )
    print("", file=out)
    print("Live check", file=out)
    if settings.wiro_sandbox:
        print(
            "  (WIRO_SANDBOX=true: the run goes to the local simulator; it costs nothing and "
            "proves nothing about Wiro)",
            file=out,
        )
    if yes:
        confirm = _always_yes
    elif confirm is ask_on_terminal:
        if sys.stdin.isatty():
            print("  (answer y to go on; add --yes to skip this question)", file=out, flush=True)
        else:
            print("  (no terminal to ask on: add --yes to make the run)", file=out, flush=True)
    wiro, simulator = await build_wiro(settings)
    wiro.trace = recorder
    path = trace_path(settings.database_path)
    try:
        await wiro.start()
        outcome = await live_run(
            wiro,
            recorder,
            out,
            timeout_seconds=settings.job_timeout_minutes * 60,
            confirm=confirm,
        )
    finally:
        wiro.trace = None
        await wiro.close()
        if simulator is not None:
            await simulator.stop()
        ran = any("/Run/" in str(r.get("path", "")) for r in recorder.records)
        if ran:  # a record without a run holds nothing worth keeping
            recorder.write(path)
    if ran:
        print(
            f"Recorded {len(recorder.records)} Wiro answers and socket frames to {path} "
            "(keys, secrets and task tokens removed).",
            file=out,
        )
    if outcome is None:
        return 1
    print(
        f"The run ended: {outcome.kind}" + (f" ({outcome.reason})" if outcome.reason else ""),
        file=out,
    )
    # The hosts this client downloads from: WIRO_OUTPUT_HOSTS, or the simulator's in sandbox mode.
    verdicts = print_report(recorder.records, wiro.output_hosts, out)
    failed = [v for v in verdicts if v.mark == "✗"]
    if failed:
        print(f"{len(failed)} assumption(s) do not hold: see the change lines above.", file=out)
    return 0 if outcome.kind == "succeeded" and not failed else 1


def _always_yes(question: str) -> bool:
    return True
