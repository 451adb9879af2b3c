"""`python -m bot doctor --live`: one real run, every Wiro answer recorded, each guess checked.

The run is the cheapest setting Tool/Detail prices (768P/6 s otherwise) with a harmless prompt.
Every REST answer and socket frame is recorded (`TraceRecorder`, secrets and task tokens
removed) to a JSONL file; `check_assumptions` then reads only that record, so an operator's file
can be checked again, or replayed through the client in a test, later. Each line of
docs/wiro-assumptions.md ("Still guesses") has one check with the same number.

This module holds the recording (`TraceRecorder`, `load_trace`), the run itself (`live_run`,
the probe, the download) and the report; the checks and their table (`CHECKS`,
`check_assumptions`, `Verdict`) are in `assumptions.py`, reading the record through
`record.Trace`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.wiro.client import WiroClient
from bot.wiro.errors import WiroError
from bot.wiro.live.assumptions import Verdict, check_assumptions, run_cost
from bot.wiro.live.record import PROBE_TOKEN
from bot.wiro.models import RunAccepted, TaskOutcome
from bot.wiro.schema import ToolInfo

HARMLESS_PROMPT = "White clouds drifting slowly over green hills on a calm sunny day"
MAX_DOWNLOAD_BYTES = 500 * 1024 * 1024
# An 8×8 PNG for the File/Upload probe (uploads are not billed).
PROBE_IMAGE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGOs2PKBARtgwio6aCUAqEcCLBDatZcAAAAASUVORK5CYII="
)
TOKEN_KEYS = ("socketaccesstoken", "tasktoken")
# Keys whose values identify the Wiro account or grant access: never written to the file.
PRIVATE_KEYS = ("uuid", "accesskey", "projectid", "guestid", "x-api-key", "x-signature")

# ---------------------------------------------------------------- recording


class TraceRecorder:
    """Collect the client's trace records with secrets and task tokens removed."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.records: list[dict[str, Any]] = []
        self._secrets = [s for s in secrets if s and len(s) >= 4]
        self._tokens: dict[str, str] = {}
        self._started = time.monotonic()

    def __call__(self, record: dict[str, Any]) -> None:
        """Record one event (the client's `trace` hook)."""
        self._learn_tokens(record)
        clean = self._scrub(record)
        clean["t"] = round(time.monotonic() - self._started, 3)
        self.records.append(clean)

    def note(self, kind: str, **fields: Any) -> None:
        """Record an event of the live check itself (meta, download)."""
        self({"kind": kind, **fields})

    def _learn_tokens(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in TOKEN_KEYS and isinstance(item, str) and item:
                    self._tokens.setdefault(item, f"<task-token-{len(self._tokens) + 1}>")
                else:
                    self._learn_tokens(item)
        elif isinstance(value, list):
            for item in value:
                self._learn_tokens(item)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: ("<removed>" if k in PRIVATE_KEYS and v else self._scrub(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "<secret>")
            for token, placeholder in self._tokens.items():
                value = value.replace(token, placeholder)
            return value
        return value

    def write(self, path: Path) -> None:
        """Write the records as JSONL (one event per line)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for record in self.records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def load_trace(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL trace written by `TraceRecorder.write`."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ---------------------------------------------------------------- the live run


def cheapest_setting(tool: ToolInfo) -> tuple[str, int, float | None]:
    """Return the cheapest resolution/duration Wiro prices (768P/6 s when none is priced)."""
    options = [
        (r, int(d), tool.price_for(r, int(d)))
        for r in tool.resolutions
        for d in tool.durations
        if d.isdigit() and not (r == "1080P" and d == "10")
    ]
    priced = [o for o in options if o[2] is not None]
    if priced:
        return min(priced, key=lambda o: (o[2], o[1]))
    return "768P", 6, None


async def live_run(
    wiro: WiroClient,
    recorder: TraceRecorder,
    out: TextIO,
    *,
    timeout_seconds: float,
    confirm: Callable[[str], bool],
) -> TaskOutcome | None:
    """Make the one real run (after `confirm`), follow it, fetch the clip, probe stop bodies.

    Returns the outcome, or None when the operator declined or the run could not be made."""
    resolution, duration, price = cheapest_setting(wiro.tool)
    recorder.note("meta", resolution=resolution, duration=duration, expected_usd=price)
    cost = f"about ${price:.2f} by Wiro's prices" if price is not None else "price not published"
    plan = (
        f"The live check makes one real Wiro run: {resolution}, {duration} s, prompt "
        f"{HARMLESS_PROMPT!r} ({cost})."
    )
    print(plan, file=out, flush=True)
    if not confirm("Make this run? [y/N] "):
        print("No run made.", file=out, flush=True)
        return None
    try:
        accepted = await wiro.run(
            prompt=HARMLESS_PROMPT,
            resolution=resolution,
            duration=duration,
            prompt_optimizer=False,
        )
    except WiroError as exc:
        print(f"✗ Wiro refused the run: {exc}", file=out, flush=True)
        return None
    print(f"  task {accepted.task_id} submitted; following it…", file=out, flush=True)
    outcome: TaskOutcome | None = None
    try:
        deadline = time.monotonic() + timeout_seconds
        async for event in wiro.follow(accepted.task_id, accepted.task_token, deadline=deadline):
            if isinstance(event, TaskOutcome):
                outcome = event
            else:
                note = " (Wiro is retrying)" if event.retrying else ""
                progress = f" {event.progress}%" if event.progress is not None else ""
                print(f"  {event.stage}{progress}{note}", file=out, flush=True)
    except (WiroError, asyncio.CancelledError, KeyboardInterrupt) as exc:
        print(f"  stopping the task ({type(exc).__name__})…", file=out, flush=True)
        with contextlib.suppress(WiroError):
            await asyncio.shield(wiro.stop(accepted.task_id, accepted.task_token))
        if not isinstance(exc, WiroError):
            raise
    if outcome is not None and outcome.video is not None:
        await _fetch(wiro, recorder, outcome.video.url)
    await _probe(wiro, recorder, accepted)
    return outcome


async def _fetch(wiro: WiroClient, recorder: TraceRecorder, url: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            size = await wiro.download(url, Path(folder) / "clip.mp4", max_bytes=MAX_DOWNLOAD_BYTES)
        except WiroError as exc:
            recorder.note("download", url=url, error=str(exc))
            return
        recorder.note("download", url=url, bytes=size)


async def _probe(wiro: WiroClient, recorder: TraceRecorder, accepted: RunAccepted) -> None:
    """Ask questions whose answers cost nothing: an unknown task, stop bodies on a done task,
    an upload of a tiny image (File/Upload is not billed; the bot uploads first frames)."""
    original = wiro.trace

    def marked(record: dict[str, Any]) -> None:
        recorder({**record, "probe": True})

    wiro.trace = marked
    try:
        with contextlib.suppress(WiroError):
            await wiro.detail(task_token=PROBE_TOKEN)
        # The task has ended: a refusal here says the body was understood ("not cancellable").
        with contextlib.suppress(WiroError):
            await wiro.cancel(accepted.task_id)
        with contextlib.suppress(WiroError):
            await wiro.kill(accepted.task_id)  # no token: only the {taskid} body is tried
        with contextlib.suppress(WiroError):
            await wiro.upload(PROBE_IMAGE, filename="doctor-probe.png", content_type="image/png")
    finally:
        wiro.trace = original


def ask_on_terminal(question: str) -> bool:
    """Ask a yes/no question on the terminal; anything but y/yes is no."""
    if not sys.stdin.isatty():
        return False
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def print_report(
    records: list[dict[str, Any]], output_hosts: tuple[str, ...], out: TextIO
) -> list[Verdict]:
    """Print one line per assumption and the cost; return the verdicts."""
    verdicts = check_assumptions(records, output_hosts)
    print("", file=out)
    print("Assumptions (docs/wiro-assumptions.md) against this run:", file=out)
    for verdict in verdicts:
        for line in verdict.lines():
            print(f"  {line}", file=out)
    cost = run_cost(records)
    if cost is not None:
        print(f"The run cost ${cost:.4f} (Wiro's totalcost).", file=out)
    else:
        print("The run's cost is not known (no final Task/Detail in the record).", file=out)
    out.flush()
    return verdicts


def trace_path(database_path: Path) -> Path:
    """Return where the record of a live run goes (next to the database)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path(database_path).parent / f"wiro-live-{stamp}.jsonl"
