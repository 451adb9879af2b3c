"""`doctor`'s Shards check: how many shards and who chose the count (Discord or SHARD_COUNT),
Discord's session starts left today, and each shard's latency as the running bot reported it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.ops.checklist import BUDGETS, Check, Checklist
from bot.settings import Settings

if TYPE_CHECKING:
    import discord

    from bot.app.shards import ShardReport

log = logging.getLogger(__name__)


async def check_shards(settings: Settings, checklist: Checklist) -> None:
    """The shard count (Discord's recommendation, or SHARD_COUNT), the session starts left, and
    each shard's latency as the running bot last reported it (bot_state, every 30 s)."""
    import discord

    from bot.app.video_bot import build_intents

    if any(c.name == "Discord token" and not c.ok for c in checklist.checks):
        return  # the token check said why; without it Discord tells nothing
    client = discord.Client(intents=build_intents())
    try:
        async with asyncio.timeout(BUDGETS["Shards"]):
            await client.login(settings.discord_token.get_secret_value())
            # What AutoShardedClient itself asks before it connects.
            recommended, _, session_limit = await client.http.get_bot_gateway()
            report = await _shard_report(settings)
    except (TimeoutError, discord.HTTPException) as exc:
        checklist.add(
            Check(
                "Shards",
                False,
                f"Discord did not say how many shards to run ({exc or 'no answer'})",
                fix="check the network connection to discord.com and try again",
            )
        )
        return
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    limits = discord.SessionStartLimits(**session_limit)
    checklist.add(shard_check(settings, recommended, limits, report))


async def _shard_report(settings: Settings) -> ShardReport | None:
    from bot.app.shards import STATE_KEY, ShardReport
    from storage.db import Database

    db = Database(settings.database_path)
    try:
        await db.open()
        text = await db.get_state(STATE_KEY)
    except Exception:
        log.warning("could not read the running bot's shard report", exc_info=True)
        return None
    finally:
        with contextlib.suppress(Exception):
            await db.close()
    return None if text is None else ShardReport.from_json(text)


def shard_check(
    settings: Settings,
    recommended: int,
    limits: discord.SessionStartLimits,
    report: ShardReport | None,
    now: datetime | None = None,
) -> Check:
    """The Shards line: who chose the count, what is left of the day's session starts, and
    each shard's latency from the running bot's last report (or why there is none)."""
    from bot.app.shards import REPORT_SECONDS, describe_shards

    count = settings.shard_count or recommended
    ids = settings.shard_ids or tuple(range(count))
    remaining, total = limits.remaining, limits.total
    who = (
        f"SHARD_COUNT={count}, this process runs {describe_shards(ids, count)}"
        if settings.shard_count
        else f"{count}, as Discord recommends"
    )
    if settings.shard_count and count != recommended:
        who += f" (Discord recommends {recommended})"
    detail = (
        f"{who}; {remaining} of {total} session starts left today, "
        f"{limits.max_concurrency} IDENTIFY per 5 s"
    )
    lines: list[str] = []
    problems: list[str] = []
    now = now or datetime.now(UTC)
    if report is None:
        lines.append("latency: shown once the bot has run (it reports every 30 s)")
    elif (age := (now - report.at).total_seconds()) > 3 * REPORT_SECONDS:
        lines.append(f"latency: the bot is not running (its last report is {age / 60:.0f} min old)")
    else:
        lines.append(f"latency as the running bot saw it {age:.0f} s ago:")
        for shard in report.shards:
            if not shard.connected:
                problems.append(f"shard {shard.id} is disconnected")
                what = "disconnected (the bot reconnects it; see its log)"
            elif shard.latency_ms is None:
                what = "connected, no heartbeat answered yet"
            else:
                what = f"{shard.latency_ms:.0f} ms"
            servers = f"{shard.servers:,} server{'s' if shard.servers != 1 else ''}"
            lines.append(f"  shard {shard.id}: {what}, {servers}")
    fix = ""
    if settings.shard_count and settings.shard_count < recommended:
        problems.append("fewer shards than Discord recommends")
        fix = (
            f"raise SHARD_COUNT to {recommended} or more (and SHARD_IDS with it), or unset both: "
            "a shard with more than 2,500 servers is refused (close 4011)"
        )
    if remaining < len(ids):
        problems.append("not enough session starts left")
        fix = fix or (
            f"wait {limits.reset_after / 3_600_000:.1f} h before starting the bot again: "
            "every shard's start uses one, and running out resets the token"
        )
    if problems and not fix:
        fix = "read the bot's log for the disconnected shard"
    return Check("Shards", not problems, detail, fix=fix, lines=lines)
