"""Run every benchmark in turn, print one summary table, write bench/results/summary.json.

Each benchmark runs as its own process (a fresh interpreter, like a fresh bot host) and writes
bench/results/<name>.json; this script gathers their `targets`. The storage benchmark
(bench/bench_storage.py) is run as it is and its storage.json is read here.

Run: `python bench/run_all.py [--only ack,relay] [--markdown PATH]`. Exits 1 if a target is
missed or a benchmark failed to produce results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, machine_info, target

BENCH = Path(__file__).resolve().parent
# (name, timeout seconds): each runs bench/bench_<name>.py, which writes results/<name>.json.
BENCHMARKS = [
    ("ack", 180),
    ("delivery", 180),
    ("card_edits", 300),
    ("footprint", 240),
    ("relay", 180),
    ("storage", 240),
    ("video", 900),
    ("wiro_protocol", 240),
    ("weight", 240),
    ("burst_memory", 300),
    ("disk_growth", 300),
    ("growth", 900),
]
STORAGE_TARGET_MS = 5.0


def storage_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Turn bench_storage.py's storage.json into summary rows."""
    conc = data["concurrent"]
    p99 = data["queries"]["jobs_in_flight()"]["p99_ms"]
    exact = conc["over_grants"] == 0 and conc["granted"] == conc["expected_granted"]
    return [
        target(
            "reservations",
            f"6a. {conc['attempts']:,} concurrent reservations: zero over-grants",
            conc["over_grants"],
            0,
            "",
            exact,
            measured=(
                f"{conc['over_grants']} over ({conc['granted']}/{conc['expected_granted']} granted)"
            ),
        ),
        target(
            "in_flight_query",
            f"6b. in-flight query < {STORAGE_TARGET_MS:.0f} ms with "
            f"{data['past_jobs']:,} past jobs",
            p99,
            STORAGE_TARGET_MS,
            "ms",
            p99 < STORAGE_TARGET_MS,
            measured=f"p99 {p99:.3f} ms",
        ),
    ]


def run_one(name: str, timeout: int) -> dict[str, Any]:
    """Run one benchmark script; return its targets, exit code and wall time."""
    script = f"bench_{name}.py"
    path = RESULTS_DIR / f"{name}.json"
    path.unlink(missing_ok=True)  # never report a previous run's numbers
    print(f"\n=== {name}: {script}", flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(BENCH / script)], timeout=timeout, cwd=BENCH.parent, check=False
        )
        code: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    seconds = time.monotonic() - started
    if not path.exists():
        row = target(name, f"{name}: benchmark produced no results", None, None, "", False)
        row["measured"] = f"failed (exit {code})"
        return {"name": name, "exit": code, "seconds": seconds, "targets": [row]}
    data = json.loads(path.read_text())
    targets = storage_targets(data) if name == "storage" else data["targets"]
    return {"name": name, "exit": code, "seconds": seconds, "targets": targets}


def markdown(summary: dict[str, Any]) -> str:
    """Render the summary as a Markdown table."""
    m = summary["machine"]
    lines = [
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for t in summary["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'pass' if t['pass'] else '**miss**'} |")
    lines += [
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_mib']} MiB RAM, "
        f"Linux {m['kernel']}, {m['implementation']} {m['python']}, discord.py "
        f"{m['discord.py']}, aiohttp {m['aiohttp']}. run_all took {summary['seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated benchmark names to run")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else None
    started = time.monotonic()
    runs = [run_one(*b) for b in BENCHMARKS if chosen is None or b[0] in chosen]
    rows = [t for r in runs for t in r["targets"]]
    summary = {
        "machine": machine_info(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.monotonic() - started,
        "benchmarks": [{k: r[k] for k in ("name", "exit", "seconds")} for r in runs],
        "targets": rows,
        "all_pass": all(t["pass"] for t in rows),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    m = summary["machine"]
    width = max(len(t["target"]) for t in rows)
    mwidth = max(len(t["measured"]) for t in rows)
    print("\n" + "=" * (width + mwidth + 12))
    print(f"{'target':<{width}}  {'measured':>{mwidth}}  result")
    print("-" * (width + mwidth + 12))
    for t in rows:
        verdict = "pass" if t["pass"] else "MISS"
        print(f"{t['target']:<{width}}  {t['measured']:>{mwidth}}  {verdict}")
    print("-" * (width + mwidth + 12))
    for r in runs:
        print(f"  {r['name']:<11} {r['seconds']:6.1f} s  exit {r['exit']}")
    print(
        f"machine: {m['cpu_model']}, {m['cores']} cores, Python {m['python']}; "
        f"total {summary['seconds']:.0f} s"
    )
    print(f"wrote {RESULTS_DIR / 'summary.json'}")
    if args.markdown:
        args.markdown.write_text(markdown(summary))
        print(f"wrote {args.markdown}")
    return 0 if summary["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
