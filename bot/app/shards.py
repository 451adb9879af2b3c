"""Shards: Discord's identify schedule, the 4011 answer, and what the running bot reports of them.

Discord carries each server's events on shard (guild_id >> 22) % shard_count and refuses a
connection that would hold more than 2,500 servers (close 4011). The bot runs discord.py's
AutoShardedBot: the count is Discord's recommendation (GET /gateway/bot) unless SHARD_COUNT and
SHARD_IDS say which shards this process runs. Nothing here imports discord: `bot.app` wires it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

CLOSE_SHARDING_REQUIRED = 4011
STATE_KEY = "shards"  # bot_state key of the running bot's last report (read by doctor)
REPORT_SECONDS = 30.0  # how often the running bot writes it
MAX_GUILDS_PER_SHARD = 2500  # Discord's limit per connection (close 4011 beyond it)


class ShardingRequired(Exception):
    """Discord closed a shard with 4011: it would hold more than 2,500 servers."""

    def __init__(self, shard_count: int | None, *, chosen_by_operator: bool) -> None:
        self.shard_count = shard_count
        self.chosen_by_operator = chosen_by_operator
        if chosen_by_operator:
            fix = (
                f"SHARD_COUNT={shard_count} is too few: unset SHARD_COUNT and SHARD_IDS to use "
                "the count Discord recommends, or raise SHARD_COUNT (about one shard per "
                "1,000 servers)"
            )
        else:
            fix = (
                f"the count Discord recommended ({shard_count}) is out of date; the next start "
                "asks Discord again (if it repeats, set SHARD_COUNT and SHARD_IDS to more "
                "shards, about one per 1,000 servers)"
            )
        super().__init__(
            "Discord requires more shards (gateway close 4011: a shard would hold more than "
            f"{MAX_GUILDS_PER_SHARD:,} servers): {fix}"
        )

    @property
    def exit_status(self) -> int:
        """2 when the operator's SHARD_COUNT must change (no restart helps), else 1."""
        return 2 if self.chosen_by_operator else 1


def session_start_delay(remaining: int, total: int, reset_after_ms: int, starting: int) -> float:
    """Seconds to wait before starting `starting` shards (0: start now), from Discord's session
    start limit (GET /gateway/bot). Past the limit Discord ends every session and resets the
    bot's token, so a start that would cross it waits for the reset instead (a crash loop would
    otherwise burn the day's 1,000 starts in about an hour and a half)."""
    hours = reset_after_ms / 3_600_000
    if remaining < starting:
        log.error(
            "Discord allows %d more session starts (of %d) until its limit resets in %.1f h, and"
            " this start needs %d: starting now would make Discord reset the bot's token, so the"
            " bot waits for the reset (stop it at any time)",
            remaining,
            total,
            hours,
            starting,
        )
        return reset_after_ms / 1000 + 1.0
    if remaining < max(10, total // 10):
        log.warning(
            "Discord allows %d more session starts (of %d) for %.1f h: every start of every shard"
            " uses one (a restart loop spends them), and running out resets the bot's token",
            remaining,
            total,
            hours,
        )
    return 0.0


@dataclass
class IdentifySchedule:
    """Discord's identify limit: one IDENTIFY per `interval` seconds per bucket, the bucket of
    a shard being shard_id % max_concurrency (topics/gateway "Sharding", "max_concurrency").

    discord.py's own hook sleeps 5 s before every IDENTIFY but the first, whatever the bucket
    and however long ago the last one was; this waits only as long as the rule needs."""

    interval: float = 5.0
    max_concurrency: int = 1
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # 1 in the product; an e2e run shortens Discord's windows by its time scale, as the
    # double's (`bot.timing.Timing.identify_scale`).
    interval_scale: float = 1.0
    margin: float = 0.02  # of the interval: a frame sent on time may still arrive early
    _last: dict[int, float] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def bucket(self, shard_id: int | None) -> int:
        """The identify bucket of a shard."""
        return (shard_id or 0) % max(1, self.max_concurrency)

    async def wait_turn(self, shard_id: int | None) -> float:
        """Wait until this shard may IDENTIFY; return the seconds waited."""
        bucket = self.bucket(shard_id)
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            gap = self.interval * self.interval_scale * (1 + self.margin)
            last = self._last.get(bucket)
            delay = 0.0 if last is None else max(0.0, last + gap - self.clock())
            if delay:
                await self.sleep(delay)
            self._last[bucket] = self.clock()
            return delay


@dataclass(frozen=True)
class ShardStatus:
    """One shard as the running bot sees it."""

    id: int
    latency_ms: float | None  # None before the first heartbeat answer, or while closed
    connected: bool
    servers: int


@dataclass(frozen=True)
class ShardReport:
    """What the running bot last wrote about its shards (doctor reads it)."""

    at: datetime
    shard_count: int
    shards: tuple[ShardStatus, ...]

    def to_json(self) -> str:
        """Serialise for the bot_state table."""
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "shard_count": self.shard_count,
                "shards": [
                    {
                        "id": s.id,
                        "latency_ms": s.latency_ms,
                        "connected": s.connected,
                        "servers": s.servers,
                    }
                    for s in self.shards
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ShardReport | None:
        """Read a stored report; None when it is not one."""
        try:
            data = json.loads(text)
            return cls(
                at=datetime.fromisoformat(data["at"]),
                shard_count=int(data["shard_count"]),
                shards=tuple(
                    ShardStatus(
                        int(s["id"]),
                        None if s["latency_ms"] is None else float(s["latency_ms"]),
                        bool(s["connected"]),
                        int(s["servers"]),
                    )
                    for s in data["shards"]
                ),
            )
        except (ValueError, KeyError, TypeError):
            return None


def latency_ms(seconds: float) -> float | None:
    """discord.py's latency (inf or nan before a heartbeat was answered) in ms, or None."""
    if seconds != seconds or seconds == float("inf"):  # nan or inf
        return None
    return round(seconds * 1000, 1)


def build_report(
    shard_count: int,
    latencies: Iterable[tuple[int, float]],
    connected: set[int],
    guild_ids: Iterable[int],
    now: datetime | None = None,
) -> ShardReport:
    """Summarise the shards: latency, connection and how many servers each carries."""
    servers: dict[int, int] = {}
    for guild_id in guild_ids:
        shard = (guild_id >> 22) % shard_count
        servers[shard] = servers.get(shard, 0) + 1
    shards = tuple(
        ShardStatus(
            id=shard_id,
            latency_ms=latency_ms(seconds) if shard_id in connected else None,
            connected=shard_id in connected,
            servers=servers.get(shard_id, 0),
        )
        for shard_id, seconds in sorted(latencies)
    )
    return ShardReport(now or datetime.now(UTC), shard_count, shards)


def describe_shards(ids: Iterable[int], count: int) -> str:
    """'shards 0-3 of 4' / 'shard 2 of 4' / 'shards 0, 2 of 4'."""
    ids = sorted(ids)
    if not ids:
        return f"no shard of {count}"
    if len(ids) == 1:
        return f"shard {ids[0]} of {count}"
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"shards {ids[0]}-{ids[-1]} of {count}"
    return f"shards {', '.join(map(str, ids))} of {count}"
