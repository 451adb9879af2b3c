"""Import weight: PyAV (FFmpeg's libraries, tens of MB of memory) loads only where it is used.

The idle bot must stay small (README, Benchmarks: idle RSS), so no module of the bot imports `av` at
module level: code that makes or processes a clip imports it inside the function that needs it
(`bot/wiro/simulator/sample_clip.py`, `bot/media/video/*`). Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> object:
    """Run `code` in a fresh interpreter at the project root; return what it printed (JSON)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_module_of_the_bot_loads_av_when_imported() -> None:
    offenders = run_python(
        """
import importlib, json, pkgutil, sys
offenders = []
for package in ("bot", "cogs", "storage"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
        if "av" in sys.modules and not offenders:
            offenders.append(info.name)  # the first module that pulled PyAV in
print(json.dumps(offenders))
"""
    )
    assert offenders == [], f"{offenders} imports av at module level: import it where it is used"


def test_sandbox_mode_loads_av_with_the_first_clip_not_at_start() -> None:
    loaded = run_python(
        """
import asyncio, json, sys
from bot.app.video_bot import VideoBot
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.sample_clip import make_sample_clip

async def main():
    sim = WiroSimulator(sandbox=True)
    await sim.start()
    at_start = "av" in sys.modules
    await sim.stop()
    clip = make_sample_clip(width=64, height=36, seconds=0.2)
    return [at_start, "av" in sys.modules, clip[4:8].decode()]

print(json.dumps(asyncio.run(main())))
"""
    )
    # Not at start; with the first sample clip, which is a real MP4 made by PyAV.
    assert loaded == [False, True, "ftyp"]
