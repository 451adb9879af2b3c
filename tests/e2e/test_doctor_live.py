"""`python -m bot doctor --live --yes` as an operator runs it: one real run, recorded, checked.

Against the simulator as Wiro documents itself (every line ✓ or "not seen"), and against a
simulator that contradicts some assumptions, so that the ✗ lines and their fixes are proven.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.wiro.simulator.server import WiroSimulator
from tests.discord_double import DiscordDouble
from tests.e2e.harness import BotProcess
from tests.factories import serving, wiro_env

KEY, SECRET = "live-key-0123456789", "live-secret-0123456789"
LINE = re.compile(r"^\s+(✓|✗|not seen)\s+(\d+)\. (.*)$")


async def _doctor_live(sim: WiroSimulator, tmp: Path) -> tuple[int, str, list[Path]]:
    async with DiscordDouble() as dd:
        env = {**dd.env(), **wiro_env(sim, tmp / "data" / "bot.sqlite3")}
        async with BotProcess("bot", "doctor", "--live", "--yes", env=env, cwd=tmp) as bot:
            assert bot.proc is not None
            code = await bot.proc.wait()
            await bot.wait_for_line("", timeout=1)  # let the reader drain the last lines
            bot.assert_clean()
            out = bot.output
    return code, out, sorted((tmp / "data").glob("wiro-live-*.jsonl"))


def _marks(out: str) -> dict[int, tuple[str, str]]:
    marks = {}
    for line in out.splitlines():
        found = LINE.match(line)
        if found:
            marks[int(found.group(2))] = (found.group(1), found.group(3))
    return marks


async def test_live_check_against_wiro_as_documented(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    async with serving(sim):
        code, out, traces = await _doctor_live(sim, tmp_path)
    assert code == 0, out
    assert "The live check makes one real Wiro run: 768P, 6 s" in out
    # Exactly one run, of the cheapest setting.
    accepted = [r for r in sim.runs if r.task_id]
    assert len(accepted) == 1 and accepted[0].fields["resolution"] == "768P"
    assert accepted[0].fields["duration"] == "6"
    marks = _marks(out)
    assert sorted(marks) == list(range(1, 27)), out
    assert not [n for n, (m, _) in marks.items() if m == "✗"], out
    for number in (1, 3, 4, 5, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22, 25, 26):
        assert marks[number][0] == "✓", (number, out)
    assert "keyed by id" in marks[11][1]
    assert "The run cost $0.2800 (Wiro's totalcost)." in out
    # The record: every answer and frame, no secrets, no task token.
    assert len(traces) == 1
    text = traces[0].read_text()
    token = next(iter(sim.tasks.values())).token
    for secret in (KEY, SECRET, token):
        assert secret not in text and secret not in out
    records = [json.loads(line) for line in text.splitlines()]
    kinds = {r["kind"] for r in records}
    assert {"meta", "rest", "socket_open", "socket_send", "socket_frame", "download"} <= kinds
    frames = [r["frame"] for r in records if r["kind"] == "socket_frame"]
    assert any(f.get("type") == "task_postprocess_end" for f in frames)
    assert f"Recorded {len(records)} Wiro answers and socket frames to" in out


async def test_live_check_says_what_to_change_when_wiro_differs(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    sim.contradict |= {
        "nested_run",
        "no_terminal_flag",
        "ms_timestamps",
        "cost_missing",
        "output_content_type",
    }
    async with serving(sim):
        code, out, traces = await _doctor_live(sim, tmp_path)
    assert code == 1, out
    marks = _marks(out)
    crossed = {n for n, (m, _) in marks.items() if m == "✗"}
    assert crossed == {4, 12, 16, 19, 21}, out
    lines = out.splitlines()
    for number in crossed:
        at = next(i for i, line in enumerate(lines) if LINE.match(line) and f" {number}. " in line)
        assert lines[at + 1].strip().startswith("change: "), (number, out)
    assert "ms" not in marks[21][1] or "milliseconds" in marks[21][1]
    assert "divide by 1000" in out and "widen TaskOutput.is_video" in out
    assert "The run ended: failed" in out  # no video/* output: the bot would refund it
    assert len(traces) == 1


async def test_live_check_without_yes_and_no_terminal_makes_no_run(tmp_path: Path) -> None:
    import asyncio
    import os
    import sys

    from tests.e2e.harness import LAUNCHER

    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    async with serving(sim), DiscordDouble() as dd:
        env = {**os.environ, **dd.env(), **wiro_env(sim, tmp_path / "data" / "bot.sqlite3")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            "bot",
            "doctor",
            "--live",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=str(tmp_path),
        )
        raw, _ = await asyncio.wait_for(proc.communicate(), 60)
    out = raw.decode()
    assert proc.returncode == 1, out
    assert "add --yes to make the run" in out and "No run made." in out
    assert sim.runs == []  # nothing spent
    assert list((tmp_path / "data").glob("wiro-live-*.jsonl")) == []
    assert "Traceback" not in out
