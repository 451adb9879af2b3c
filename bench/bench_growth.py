"""Benchmark: growth from one server to ten thousand, the real bot against the Discord double.

For 1, 2,500 and 10,000 servers of realistic size (tests/discord_double `add_guilds`: a median
12 channels and 10 roles), the double recommends a shard per 1,000 servers (1, 3 and 10 shards),
enforces one IDENTIFY per 5 s (max_concurrency 1, real time) and refuses 2,500+ servers on one
connection (4011). For each size, in one bot process:

* time to ready: process start → the "Ready:" line; the identify schedule is 5 s × (shards − 1);
* idle RSS, 5 s after ready, averaged over 5 s; RSS per 1,000 servers against the 1-server run;
* `/video` acknowledgement: 50 at once, from 50 members in 50 servers spread over every shard
  (their jobs then run through the simulator's short default stages); p50 and p99;
* card edits (2,500 and 10,000): 200 jobs in flight over 50 servers (4 each, one channel per
  server), with Discord's edit limit on (PATCH 5 per 5 s per channel) and its global limit
  (50 requests per second per bot token; `--no-global-limit` leaves it out): card edits per
  second while the jobs run, and every 429 the double answered.

The same sizes run with discord.py alone (bench/growth_floor_bot.py: AutoShardedClient with the
bot's intents and caches, an interaction handler that only defers): the library's own floor.

Run: `python bench/bench_growth.py [--sizes 1,2500,10000] [--no-floor]`.
Writes bench/results/growth.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    WIRO_KEY,
    WIRO_SECRET,
    RecordingSim,
    TimedBotProcess,
    bot_environment,
    median,
    percentile,
    print_targets,
    rss_mb,
    run,
    save,
    target,
)

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double import DiscordDouble
from tests.discord_double.world import Channel, Config, Guild, Member

SIZES = (1, 2500, 10_000)
ACKS = 50
CARD_SERVERS = 50
CARD_JOBS = 200
IDENTIFY_S = 5.0
SETTLE_S = 5.0
IDLE_WINDOW_S = 5.0
READY_SLACK = 0.10  # ready within the identify schedule + 10 %
IDLE_RSS_MB_AT_10K = 250.0
ACK_P99_MS = 100.0
CARD_SCRIPT = {"queue": 1.0, "start": 1.0, "generate": 20.0, "finish": 1.0}
PATCH_ROUTE = ("PATCH", "/channels/{channel_id}/messages/{message_id}")
GLOBAL_LIMIT = (50, 1.0)  # Discord: 50 requests per second per bot token


def spread(dd: DiscordDouble, count: int) -> list[tuple[Guild, Channel]]:
    """`count` (server, #general) pairs, round robin over the shards, distinct servers first."""
    shards = dd.world.recommended_shards()
    by_shard: dict[int, list[Guild]] = {}
    for g in dd.world.guilds.values():
        by_shard.setdefault(g.shard(shards), []).append(g)
    picked: list[Guild] = []
    i = 0
    while len(picked) < count:
        bucket = by_shard[i % shards]
        picked.append(bucket[(i // shards) % len(bucket)])
        i += 1
    return [(g, next(c for c in g.channels.values() if c.type == 0)) for g in picked]


async def idle_rss(pid: int) -> float:
    """Mean RSS (MB) over IDLE_WINDOW_S, after SETTLE_S."""
    await asyncio.sleep(SETTLE_S)
    samples = []
    for _ in range(int(IDLE_WINDOW_S / 0.5)):
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.5)
    return sum(samples) / len(samples)


async def ack_burst(dd: DiscordDouble, people: list[tuple[Member, Channel]]) -> dict[str, Any]:
    inters = await asyncio.gather(
        *(
            dd.slash("video", {"prompt": f"growth {i}"}, user=m, channel=ch)
            for i, (m, ch) in enumerate(people)
        )
    )
    await dd.wait_for(lambda: all(x.ack_type for x in inters), 30)
    ms = [x.ack_latency * 1000 for x in inters if x.ack_latency is not None]
    shards = dd.world.recommended_shards()
    return {
        "p50_ms": median(ms),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms),
        "shards_used": len({dd.world.guilds[x.guild_id].shard(shards) for x in inters}),
    }


async def card_edits(
    dd: DiscordDouble, sim: RecordingSim, people: list[tuple[Member, Channel]]
) -> dict[str, Any]:
    """200 jobs over 50 servers; PATCHes per second while they run, and 429s."""
    sim.default_script = TaskScript(**CARD_SCRIPT)
    t0 = time.monotonic()
    jobs = [people[i % len(people)] for i in range(CARD_JOBS)]
    inters = await asyncio.gather(
        *(
            dd.slash("video", {"prompt": f"card {i}"}, user=m, channel=ch)
            for i, (m, ch) in enumerate(jobs)
        )
    )
    await dd.wait_for(lambda: all(x.ack_type for x in inters), 60)
    run_s = sum(CARD_SCRIPT.values())
    await asyncio.sleep(run_s + 15)  # the tasks run, then the finals and clips go out
    patches = sorted(
        c.at for c in dd.calls("PATCH", "/channels/*/messages/*") if c.status == 200 and c.at > t0
    )
    window = (patches[-1] - patches[0]) if len(patches) > 1 else float("nan")
    # Sustained: the busiest 10 s and the whole span.
    best10 = 0
    j = 0
    for i, at in enumerate(patches):
        while at - patches[j] > 10.0:
            j += 1
        best10 = max(best10, i - j + 1)
    answered = [x for x in inters if any("on its way" in m.content for m in dd.replies(x))]
    return {
        "jobs": CARD_JOBS,
        "accepted": len(answered),
        "servers": len({ch.guild_id for _, ch in jobs}),
        "patches": len(patches),
        "edits_per_s": len(patches) / window if window == window and window > 0 else None,
        "busiest_10s_per_s": best10 / 10.0,
        "status_429": sum(1 for c in dd.world.calls if c.status == 429),
        "rate_limit_hits": dd.world.rate_limit_hits,
        "global_429": dd.world.global_limit_hits,
        "clips": sum(1 for m in dd.world.messages.values() if "your video is ready" in m.content),
    }


async def measure(size: int, floor: bool, global_limit: bool = True) -> dict[str, Any]:
    """One size, one process (the bot, or the library floor)."""
    cfg = Config(
        rate_limits=True,
        buckets={PATCH_ROUTE: (5, 5.0)},
        global_limit=GLOBAL_LIMIT if global_limit else None,
    )
    sim = RecordingSim(api_key=WIRO_KEY, api_secret=WIRO_SECRET)
    await sim.start()
    tmp = Path(tempfile.mkdtemp(prefix="hailuo-growth-"))
    try:
        async with DiscordDouble(config=cfg) as dd:
            if size > 1:
                dd.add_guilds(size - 1)
            shards = dd.world.recommended_shards()
            people = [
                (dd.add_member(name=f"grower{i}", guild=g), ch)
                for i, (g, ch) in enumerate(spread(dd, max(ACKS, CARD_SERVERS)))
            ]
            env = bot_environment(dd, sim, tmp)
            module = "bench.growth_floor_bot" if floor else "bot"
            if floor:  # the floor answers any command: publish one so the double accepts it
                dd.world.global_commands.clear()
                await _publish_video_command(dd)
            bot = TimedBotProcess(module, env=env, cwd=tmp)
            started = time.monotonic()
            async with bot:
                await bot.wait_for_line("Ready:", 180)
                ready_s = bot.lines_with("Ready:")[0][0] - started
                ids = dd.gateway.identifies
                result: dict[str, Any] = {
                    "servers": size,
                    "shards": shards,
                    "ready_s": ready_s,
                    "identify_schedule_s": IDENTIFY_S * (shards - 1),
                    "identifies": [(i.shard, i.outcome, i.guilds) for i in ids],
                    "identify_span_s": ids[-1].at - ids[0].at if ids else None,
                    "first_identify_s": ids[0].at - started if ids else None,
                    "idle_rss_mb": await idle_rss(bot.pid),
                    "ack": await ack_burst(dd, people[:ACKS]),
                }
                if not floor and size >= CARD_SERVERS:
                    result["cards"] = await card_edits(dd, sim, people[:CARD_SERVERS])
                result["rss_after_mb"] = rss_mb(bot.pid)
                bad = [m for m in ("Traceback", "Ignoring exception") if m in bot.output]
                result["output_clean"] = not bad
                if bad:
                    (tmp.parent / f"growth-{module}-{size}.log").write_text(bot.output)
                with contextlib.suppress(AssertionError, TimeoutError):
                    await bot.terminate(20)
            return result
    finally:
        await sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def _publish_video_command(dd: DiscordDouble) -> None:
    from tests.discord_double.world import Command, mint_snowflake

    payload = {
        "name": "video",
        "description": "floor",
        "type": 1,
        "options": [{"type": 3, "name": "prompt", "description": "p", "required": True}],
    }
    dd.world.global_commands["video"] = Command(mint_snowflake(), None, payload)


def targets_of(bot: dict[int, dict[str, Any]], lib: dict[int, dict[str, Any]]) -> list[Any]:
    rows = []
    for size, r in bot.items():
        bound = r["identify_schedule_s"] * (1 + READY_SLACK)
        floor = lib.get(size, {}).get("ready_s")
        rows.append(
            target(
                f"growth_ready_{size}",
                f"ready at {size:,} servers ({r['shards']} shards) within the identify "
                f"schedule + 10 % ({bound:.1f} s)",
                r["ready_s"],
                bound,
                "s",
                r["ready_s"] <= bound,
                measured=f"{r['ready_s']:.1f} s"
                + (f" (discord.py alone {floor:.1f} s)" if floor is not None else ""),
            )
        )
    if 10_000 in bot:
        rss = bot[10_000]["idle_rss_mb"]
        floor = lib.get(10_000, {}).get("idle_rss_mb")
        rows.append(
            target(
                "growth_idle_rss_10k",
                f"idle RSS at 10,000 servers <= {IDLE_RSS_MB_AT_10K:.0f} MB",
                rss,
                IDLE_RSS_MB_AT_10K,
                "MB",
                rss <= IDLE_RSS_MB_AT_10K,
                measured=f"{rss:.0f} MB"
                + (f" (discord.py alone {floor:.0f} MB)" if floor is not None else ""),
            )
        )
    for size, r in bot.items():
        p99 = r["ack"]["p99_ms"]
        rows.append(
            target(
                f"growth_ack_{size}",
                f"/video ack at {size:,} servers, {ACKS} over {r['ack']['shards_used']} shards: "
                f"p99 < {ACK_P99_MS:.0f} ms",
                p99,
                ACK_P99_MS,
                "ms",
                p99 < ACK_P99_MS,
                measured=f"p50 {r['ack']['p50_ms']:.0f} ms, p99 {p99:.0f} ms",
            )
        )
        if "cards" in r:
            c = r["cards"]
            rows.append(
                target(
                    f"growth_cards_{size}",
                    f"{CARD_JOBS} jobs over {c['servers']} servers at {size:,}: 0 x 429",
                    c["status_429"],
                    0,
                    "",
                    c["status_429"] == 0,
                    measured=f"{c['status_429']} x 429 ({c['global_429']} global), "
                    f"{c['edits_per_s']:.1f} edits/s "
                    f"(busiest 10 s: {c['busiest_10s_per_s']:.1f}/s)",
                )
            )
    return rows


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--no-global-limit", action="store_true", help="without Discord's 50 requests/s"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()
    bot: dict[int, dict[str, Any]] = {}
    lib: dict[int, dict[str, Any]] = {}
    for size in sizes:
        print(f"bot at {size:,} servers …", flush=True)
        bot[size] = await measure(size, floor=False, global_limit=not args.no_global_limit)
        print(f"  {bot[size]}", flush=True)
        if not args.no_floor:
            print(f"discord.py alone at {size:,} servers …", flush=True)
            lib[size] = await measure(size, floor=True, global_limit=not args.no_global_limit)
            print(f"  {lib[size]}", flush=True)
    per_k: dict[str, float | None] = {}
    for name, runs in (("bot", bot), ("discord.py", lib)):
        if 1 in runs and len(runs) > 1:
            top = max(runs)
            per_k[name] = (runs[top]["idle_rss_mb"] - runs[1]["idle_rss_mb"]) / (top / 1000)
    targets = targets_of(bot, lib)
    save(
        "growth",
        {
            "load_before": load,
            "global_limit": None if args.no_global_limit else GLOBAL_LIMIT,
            "bot": bot,
            "discord_py_alone": lib,
            "rss_per_1000_servers_mb": per_k,
            "targets": targets,
        },
    )
    print_targets("Growth", targets)
    print(f"RSS per 1,000 servers: {per_k}")
    return 0 if all(t["pass"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(run(main))
