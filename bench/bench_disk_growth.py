"""Benchmark: disk used per 100 delivered 768P clips, with the CLIP_STORE_MB cap on.

The real bot (`stack`) delivers 100 jobs, half of them from a member's image (a 1920×1080 JPEG
photo of noise, 1.3 MB: its first frame is kept as a file for Re-roll), the clip of each a 768P,
6 s sample clip made by the sandbox's own generator (`bot/wiro/sample_clip.py`, 1376×768 at
12 fps; a real Hailuo clip is larger, so the uncapped figure below is a low estimate). The cap
is set to CLIP_STORE_MB=20 so that it acts within the run. Measured: the whole data directory
(database and its WAL, kept clips with their last frames, first frames, scratch) before the
first job and after the last, and what each part holds.

Run: `python bench/bench_disk_growth.py`. Writes bench/results/disk_growth.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MIB, report, run, stack, target
from PIL import Image

from bot.wiro.simulator.sample_clip import make_sample_clip
from bot.wiro.simulator.tasks import TaskScript

JOBS = 100
WAVE = 10
CAP_MB = 20


def _du(path: Path) -> int:
    """Bytes of a file, or of every file under a directory (0 when it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((1920, 1080), 40).convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def main() -> int:
    started = time.monotonic()
    clip = make_sample_clip(width=1376, height=768, seconds=6, caption="disk growth")
    photo = _photo()
    async with stack(members=WAVE, channels=WAVE, env={"CLIP_STORE_MB": str(CAP_MB)}) as st:
        st.sim.default_script = TaskScript(clip=clip)
        data = st.tmp
        db = data / "bot.sqlite3"
        await asyncio.sleep(1.0)
        before = _du(data)
        sent = 0
        while sent < JOBS:
            wave = []
            for n in range(WAVE):
                member, channel = st.members[n], st.channels[n]
                attachments = {"image": ("photo.jpg", photo, "image/jpeg")} if n % 2 else {}
                wave.append(
                    st.dd.slash(
                        "video",
                        {"prompt": f"clip {sent + n}"},
                        user=member,
                        channel=channel,
                        attachments=attachments,
                    )
                )
            await asyncio.gather(*wave)
            sent += WAVE
            await st.dd.wait_for(lambda s=sent: len(st.clip_messages()) >= s, 180)
        await asyncio.sleep(3.0)  # the last keeps, last-frame decodes and sweeps
        after = _du(data)
        parts = {
            "database": _du(db) + _du(Path(f"{db}-wal")),
            "kept clips and last frames": _du(data / "clips"),
            "first frames": _du(Path(f"{db}-frames")),
            "scratch": _du(data / "tmp"),
        }
        kept_clips = len(list((data / "clips").glob("job-*.mp4")))
        notes = st.notes

    growth_mb = (after - before) / MIB
    per_clip = len(clip) / MIB
    uncapped = JOBS * per_clip + (JOBS // 2) * len(photo) / MIB
    targets = [
        target(
            "disk_per_100_clips",
            f"disk per {JOBS} delivered 768P clips, CLIP_STORE_MB={CAP_MB}: ≤ the cap + database",
            growth_mb,
            CAP_MB + parts["database"] / MIB,
            "MiB",
            parts["kept clips and last frames"] + parts["first frames"] <= CAP_MB * MIB,
            measured=f"{growth_mb:.1f} MiB (uncapped ≥ {uncapped:.0f} MiB)",
        )
    ]
    result = {
        "targets": targets,
        "jobs": JOBS,
        "clip_bytes": len(clip),
        "photo_bytes": len(photo),
        "cap_mb": CAP_MB,
        "data_dir_before_bytes": before,
        "data_dir_after_bytes": after,
        "parts_bytes": parts,
        "kept_clips": kept_clips,
        "uncapped_estimate_mib": uncapped,
        "bot": notes,
    }
    print(
        f"{JOBS} clips of {per_clip:.2f} MiB delivered, half from a "
        f"{len(photo) / MIB:.1f} MiB photo"
    )
    print(f"  data directory grew {growth_mb:.1f} MiB; {kept_clips} clips still kept")
    for name, size in parts.items():
        print(f"    {name:<28} {size / MIB:8.2f} MiB")
    print(f"  without the cap: at least {uncapped:.0f} MiB (clips and first frames alone)")
    return report("disk_growth", result, started)


if __name__ == "__main__":
    sys.exit(run(main))
