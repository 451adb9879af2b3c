"""Benchmark the storage layer: reservation throughput and the in-flight query on a big file.

Run: `python bench/bench_storage.py`. Prints a table and writes bench/results/storage.json.
Target: the in-flight query stays under 5 ms with 100,000 past jobs (it runs on every restart
and on every /quota and /video check).

It also prices durability: reservations per second and the latency of the commit that stores a
task id, with `PRAGMA synchronous` NORMAL and FULL (the bot runs FULL), in a folder on the
project's own disk (a tmpfs /tmp would make fsync free and the comparison meaningless).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlite_utils import Database as SqliteUtilsDatabase

from bot.governance.quota import Policy, month_window, window
from storage.api import ReservationRefused
from storage.db import Database, to_db_time
from storage.models import JobState, Limit, NewJob

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "storage.json"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
GUILDS = [1_000_000_000_000_000 + i for i in range(10)]
PAST_JOBS = 100_000
IN_FLIGHT = 40
CALLS = 200
TARGET_MS = 5.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class BenchJob(NewJob):
    """A NewJob with the benchmark's defaults."""

    channel_id: int = 42
    prompt: str = "a lighthouse in a storm, cinematic"
    expected_cost_usd: float | None = 0.28


def policy(credits: int, *, max_user: int = 1000, max_guild: int = 100_000) -> dict[str, object]:
    rules = Policy(
        credits=Limit(credits=credits, period="day"),
        credits_window=window("day", NOW),
        max_jobs_per_user=max_user,
        max_jobs_per_guild=max_guild,
        monthly_budget_usd=None,
        month_window=month_window(NOW),
    )
    return {"windows": rules.windows, "check": rules.check, "now": NOW}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_sequential(db: Database, n: int = 2000) -> float:
    t = time.perf_counter()
    for i in range(n):
        await db.create_job_with_reservation(
            BenchJob(guild_id=GUILDS[0], user_id=10_000 + i),
            **policy(100),  # type: ignore[arg-type]
        )
    return n / (time.perf_counter() - t)


async def bench_concurrent(db: Database, users: int = 50, each: int = 20, credits: int = 5):
    """1,000 reservations at once from 50 members with 5 credits each: exactly 250 may pass."""
    guild = GUILDS[1]

    async def one(user: int) -> bool:
        try:
            await db.create_job_with_reservation(
                BenchJob(guild_id=guild, user_id=user),
                **policy(credits),  # type: ignore[arg-type]
            )
        except ReservationRefused:
            return False
        return True

    attempts = [20_000 + u for u in range(users) for _ in range(each)]
    random.shuffle(attempts)
    t = time.perf_counter()
    granted = await asyncio.gather(*(one(u) for u in attempts))
    elapsed = time.perf_counter() - t
    start, end = window("day", NOW)
    per_user = [await db.credits_used(guild, 20_000 + u, start, end) for u in range(users)]
    over_grants = sum(max(0, used - credits) for used in per_user)
    return {
        "attempts": len(attempts),
        "granted": sum(granted),
        "expected_granted": users * credits,
        "over_grants": over_grants,
        "per_second": len(attempts) / elapsed,
    }


async def bench_durability(folder: Path, jobs: int = 300) -> dict[str, dict[str, float]]:
    """Reservations/s and the task-id commit's latency under synchronous NORMAL and FULL."""
    out: dict[str, dict[str, float]] = {}
    for mode in ("NORMAL", "FULL"):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            async with Database(Path(tmp) / "durability.sqlite3", synchronous=mode) as db:
                ids = []
                t = time.perf_counter()
                for i in range(jobs):
                    job = await db.create_job_with_reservation(
                        BenchJob(guild_id=GUILDS[2], user_id=50_000 + i),
                        **policy(100),  # type: ignore[arg-type]
                    )
                    ids.append(job.id)
                per_second = jobs / (time.perf_counter() - t)
                samples = []
                for job_id in ids:
                    await db.transition(job_id, JobState.SUBMITTING)
                    t = time.perf_counter()
                    await db.transition(
                        job_id, JobState.RUNNING, wiro_task_id=str(job_id), wiro_task_token="t"
                    )
                    samples.append((time.perf_counter() - t) * 1000)
        out[mode] = {
            "reservations_per_s": per_second,
            "task_id_commit_median_ms": statistics.median(samples),
            "task_id_commit_p99_ms": percentile(samples, 0.99),
        }
    return out


def bulk_insert_past_jobs(path: Path, n: int) -> float:
    """Insert n finished jobs with sqlite-utils' batch insert (one transaction)."""
    rng = random.Random(7)
    states = ["succeeded"] * 8 + ["failed", "cancelled", "timed_out"]

    def rows():
        for i in range(n):
            created = NOW - timedelta(days=365) + timedelta(seconds=i * 300)
            state = rng.choice(states)
            yield {
                "guild_id": rng.choice(GUILDS),
                "channel_id": 42,
                "user_id": 30_000 + rng.randrange(2000),
                "prompt": f"past prompt {i}",
                "resolution": "768P",
                "duration": 6,
                "prompt_optimizer": 1,
                "has_image": 0,
                "credits": 1,
                "state": state,
                "stage": "done",
                "submit_attempts": 1,
                "total_cost_usd": 0.28 if state == "succeeded" else None,
                "created_at": to_db_time(created),
                "finished_at": to_db_time(created + timedelta(minutes=4)),
                "updated_at": to_db_time(created + timedelta(minutes=4)),
            }

    t = time.perf_counter()
    conn = sqlite3.connect(path)
    db = SqliteUtilsDatabase(conn, execute_plugins=False)
    with db.atomic():
        db["jobs"].insert_all(rows(), batch_size=2000)
    conn.close()
    return n / (time.perf_counter() - t)


async def time_calls(fn, calls: int = CALLS) -> dict[str, float]:  # type: ignore[no-untyped-def]
    await fn()  # warm the page cache and the statement cache
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99)}


async def main() -> int:
    results: dict[str, object] = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": platform.machine(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        # Throughput on its own file: its thousands of pending jobs would distort the query test.
        async with Database(Path(tmp) / "throughput.sqlite3") as db:
            results["sequential_reservations_per_s"] = await bench_sequential(db)
            results["concurrent"] = await bench_concurrent(db)

        path = Path(tmp) / "big.sqlite3"
        async with Database(path):
            pass  # create the schema
        results["bulk_insert_rows_per_s"] = bulk_insert_past_jobs(path, PAST_JOBS)

        async with Database(path) as db:
            # A busy moment: 4 jobs in flight in each of 10 servers (the default cap is 10).
            for i in range(IN_FLIGHT):
                await db.create_job_with_reservation(
                    BenchJob(guild_id=GUILDS[i % len(GUILDS)], user_id=40_000 + i),
                    **policy(100),  # type: ignore[arg-type]
                )
            results["past_jobs"] = PAST_JOBS
            results["in_flight_jobs"] = len(await db.jobs_in_flight())
            start, end = window("day", NOW)
            results["queries"] = {
                "jobs_in_flight()": await time_calls(db.jobs_in_flight),
                "jobs_in_flight(guild)": await time_calls(lambda: db.jobs_in_flight(GUILDS[0])),
                "count_in_flight(guild, user)": await time_calls(
                    lambda: db.count_in_flight(GUILDS[0], 40_000)
                ),
                "credits_used(day)": await time_calls(
                    lambda: db.credits_used(GUILDS[0], 30_001, start, end)
                ),
                "in_flight_expected_usd(guild)": await time_calls(
                    lambda: db.in_flight_expected_usd(GUILDS[0])
                ),
                "spent_usd(month)": await time_calls(
                    lambda: db.spent_usd(GUILDS[0], *month_window(NOW))
                ),
                "jobs_for_user(10)": await time_calls(lambda: db.jobs_for_user(GUILDS[0], 30_001)),
                "median_cost_usd(768P, 6)": await time_calls(lambda: db.median_cost_usd("768P", 6)),
            }

    results["durability"] = await bench_durability(HERE)
    queries = results["queries"]
    assert isinstance(queries, dict)
    concurrent = results["concurrent"]
    assert isinstance(concurrent, dict)
    in_flight_ms = queries["jobs_in_flight()"]["p99_ms"]
    results["target_in_flight_ms"] = TARGET_MS
    results["target_met"] = in_flight_ms < TARGET_MS
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"storage benchmark (SQLite {results['sqlite']}, Python {results['python']})")
    print(f"  {'sequential reservations':<34} {results['sequential_reservations_per_s']:>10.0f} /s")
    print(
        f"  {'1,000 concurrent reservations':<34} {concurrent['per_second']:>10.0f} /s"
        f"   granted {concurrent['granted']} of {concurrent['attempts']}"
        f" (expected {concurrent['expected_granted']}, over-grants {concurrent['over_grants']})"
    )
    print(f"  {'bulk insert of past jobs':<34} {results['bulk_insert_rows_per_s']:>10.0f} rows/s")
    durability = results["durability"]
    assert isinstance(durability, dict)
    for mode, d in durability.items():
        print(
            f"  {'synchronous=' + mode:<34} {d['reservations_per_s']:>10.0f} /s"
            f"   task-id commit median {d['task_id_commit_median_ms']:.2f} ms,"
            f" p99 {d['task_id_commit_p99_ms']:.2f} ms"
        )
    print(f"  past jobs in file: {PAST_JOBS:,}, in flight: {results['in_flight_jobs']}")
    print(f"  {'query (' + str(CALLS) + ' calls)':<34} {'median ms':>10} {'p99 ms':>10}")
    for name, q in queries.items():
        print(f"  {name:<34} {q['median_ms']:>10.3f} {q['p99_ms']:>10.3f}")
    verdict = "met" if results["target_met"] else "MISSED"
    print(f"  target: jobs_in_flight() p99 < {TARGET_MS} ms: {verdict}")
    print(f"  wrote {RESULTS}")
    ok = concurrent["over_grants"] == 0 and concurrent["granted"] == concurrent["expected_granted"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
