"""doctor's Shards line: who chose the count, session starts left, each shard's latency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord
import pytest

from bot.app.shards import ShardReport, ShardStatus
from bot.ops.doctor_shards import shard_check
from bot.settings import Settings, load_settings

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def settings(**env: str) -> Settings:
    return load_settings(env_file=None, discord_token="t", wiro_sandbox=True, **env)  # type: ignore[arg-type]


def limits(remaining: int = 995, concurrency: int = 1) -> discord.SessionStartLimits:
    return discord.SessionStartLimits(
        total=1000, remaining=remaining, reset_after=7_200_000, max_concurrency=concurrency
    )


def report(age: float, *shards: ShardStatus) -> ShardReport:
    return ShardReport(NOW - timedelta(seconds=age), len(shards), shards)


def test_a_running_bot_shows_each_shards_latency() -> None:
    running = report(12, ShardStatus(0, 41.2, True, 1203), ShardStatus(1, None, True, 1197))
    check = shard_check(settings(), 2, limits(concurrency=16), running, NOW)
    assert check.ok
    assert check.detail == (
        "2, as Discord recommends; 995 of 1000 session starts left today, 16 IDENTIFY per 5 s"
    )
    assert check.lines == [
        "latency as the running bot saw it 12 s ago:",
        "  shard 0: 41 ms, 1,203 servers",
        "  shard 1: connected, no heartbeat answered yet, 1,197 servers",
    ]


def test_before_the_first_run_and_after_the_bot_stopped() -> None:
    assert shard_check(settings(), 1, limits(), None, NOW).lines == [
        "latency: shown once the bot has run (it reports every 30 s)"
    ]
    stale = shard_check(settings(), 1, limits(), report(600, ShardStatus(0, 40, True, 3)), NOW)
    assert stale.ok and stale.lines == [
        "latency: the bot is not running (its last report is 10 min old)"
    ]


@pytest.mark.parametrize(
    ("env", "recommended", "remaining", "shards", "said", "fix"),
    [
        (
            {"shard_count": "2", "shard_ids": "0-1"},
            3,
            995,
            (),
            "SHARD_COUNT=2, this process runs shards 0-1 of 2 (Discord recommends 3)",
            "raise SHARD_COUNT to 3 or more",
        ),
        ({}, 4, 3, (), "4, as Discord recommends; 3 of 1000", "wait 2.0 h before starting"),
        (
            {},
            2,
            995,
            (ShardStatus(0, 40, True, 5), ShardStatus(1, None, False, 6)),
            "2, as Discord recommends",
            "read the bot's log",
        ),
    ],
    ids=["fewer-than-recommended", "session-starts-run-out", "shard-disconnected"],
)
def test_what_would_stop_a_shard_is_a_cross_with_its_fix(
    env: dict[str, str],
    recommended: int,
    remaining: int,
    shards: tuple[ShardStatus, ...],
    said: str,
    fix: str,
) -> None:
    check = shard_check(
        settings(**env), recommended, limits(remaining), report(5, *shards) if shards else None, NOW
    )
    assert not check.ok
    assert said in check.detail and fix in check.fix


def test_a_range_in_this_process_is_named() -> None:
    check = shard_check(settings(shard_count="8", shard_ids="4-7"), 8, limits(), None, NOW)
    assert check.ok and check.detail.startswith("SHARD_COUNT=8, this process runs shards 4-7 of 8;")
