"""bot/app/shards.py: identify schedule per bucket, the running bot's shard report, 4011's words."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.app.shards import (
    IdentifySchedule,
    ShardingRequired,
    ShardReport,
    build_report,
    describe_shards,
    session_start_delay,
)
from tests.factories import VirtualTimer


def schedule(t: VirtualTimer, concurrency: int = 1) -> IdentifySchedule:
    return IdentifySchedule(max_concurrency=concurrency, clock=t.monotonic, sleep=t.sleep, margin=0)


async def test_one_identify_per_five_seconds_in_one_bucket() -> None:
    t = VirtualTimer(now=100.0)
    s = schedule(t)
    waits = [await s.wait_turn(i) for i in range(4)]
    assert waits == [0.0, 5.0, 5.0, 5.0]  # the first at once (discord.py waits for each other)


async def test_an_identify_long_after_the_last_does_not_wait() -> None:
    t = VirtualTimer(now=100.0)
    s = schedule(t)
    await s.wait_turn(0)
    t.now += 3.0
    assert await s.wait_turn(1) == pytest.approx(2.0)  # only what is left of the window
    t.now += 60.0
    assert await s.wait_turn(1) == 0.0  # a reconnect an hour later: no 5 s for nothing


async def test_buckets_of_max_concurrency_identify_together() -> None:
    t = VirtualTimer(now=100.0)
    s = schedule(t, concurrency=4)
    first = [await s.wait_turn(i) for i in range(4)]  # buckets 0-3: all at once
    second = [await s.wait_turn(i) for i in range(4, 8)]  # buckets 0-3 again: 5 s later
    assert first == [0.0] * 4
    assert sum(second) == pytest.approx(5.0) and t.now == pytest.approx(105.0)


async def test_concurrent_shards_of_one_bucket_queue_up() -> None:
    t = VirtualTimer(now=100.0)
    s = schedule(t)
    await asyncio.gather(*(s.wait_turn(i) for i in range(3)))
    assert t.now == pytest.approx(110.0)


async def test_the_time_scale_and_margin_stretch_the_window() -> None:
    t = VirtualTimer(now=100.0)
    s = IdentifySchedule(clock=t.monotonic, sleep=t.sleep, interval_scale=0.2)  # default 2 % margin
    await s.wait_turn(0)
    assert await s.wait_turn(1) == pytest.approx(1.02)


def test_the_report_counts_servers_per_shard_and_hides_latency_of_closed_shards() -> None:
    guilds = [(ms << 22) | 7 for ms in range(10)]  # shard = ms % 3
    report = build_report(3, [(1, 0.0421), (0, float("inf")), (2, 0.5)], {0, 1}, guilds)
    assert [(s.id, s.latency_ms, s.connected, s.servers) for s in report.shards] == [
        (0, None, True, 4),  # connected, no heartbeat answered yet
        (1, 42.1, True, 3),
        (2, None, False, 3),
    ]
    again = ShardReport.from_json(report.to_json())
    assert again == report
    assert ShardReport.from_json("{}") is None and ShardReport.from_json("nope") is None


def test_report_time_is_kept() -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert ShardReport.from_json(build_report(1, [], set(), [], at).to_json()).at == at  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("ids", "words"),
    [([0, 1, 2, 3], "shards 0-3 of 4"), ([2], "shard 2 of 4"), ([0, 2], "shards 0, 2 of 4")],
)
def test_shards_are_named_as_operators_write_them(ids: list[int], words: str) -> None:
    assert describe_shards(ids, 4) == words


def test_4011_names_the_fix_and_the_exit_status_follows_who_chose_the_count() -> None:
    mine = ShardingRequired(1, chosen_by_operator=True)
    assert mine.exit_status == 2  # a restart cannot help: the operator's SHARD_COUNT must change
    assert "SHARD_COUNT=1 is too few" in str(mine) and "unset SHARD_COUNT and SHARD_IDS" in str(
        mine
    )
    stale = ShardingRequired(3, chosen_by_operator=False)
    assert stale.exit_status == 1  # the next start asks Discord again
    assert "recommended (3) is out of date" in str(stale)


@pytest.mark.parametrize(
    ("remaining", "starting", "delay", "level"),
    [
        (1000, 10, 0.0, None),
        (50, 10, 0.0, "WARNING"),  # few left: said, but the start goes on
        (3, 4, 7201.0, "ERROR"),  # would cross the limit: wait for the reset (2 h + 1 s)
        (0, 1, 7201.0, "ERROR"),
    ],
)
def test_a_start_never_crosses_the_session_start_limit(
    caplog: pytest.LogCaptureFixture, remaining: int, starting: int, delay: float, level: str | None
) -> None:
    caplog.set_level("INFO", logger="bot.app.shards")
    assert session_start_delay(remaining, 1000, 7_200_000, starting) == delay
    assert [r.levelname for r in caplog.records] == ([level] if level else [])
    if level == "ERROR":
        assert "would make Discord reset the bot's token" in caplog.text
