"""Budget alerts: one line when a server's spending passes 80 % and then 100 % of its monthly
budget, once per month each, never pinging anyone.

`thresholds_passed` and `alert_line` are the pure policy. `BudgetAlerts.check` runs after each
finished job: what was announced lives in SQLite (`budget_alerts`), claimed with an INSERT OR
IGNORE before posting, so two jobs finishing together, or a restart, never announce twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot import quota
from bot.usage import usd
from storage.db import Database

log = logging.getLogger(__name__)

THRESHOLDS = (80, 100)


def thresholds_passed(spent: float, budget: float | None) -> tuple[int, ...]:
    """The alert thresholds (percent of the budget) that this month's spending has reached.

    No budget, or a $0 one (which means "no spending at all", so runs are refused before they
    cost anything), has nothing to announce."""
    if budget is None or budget <= 0:
        return ()
    return tuple(t for t in THRESHOLDS if spent + 1e-9 >= budget * t / 100)


def alert_line(threshold: int, spent: float, budget: float, resets_at: datetime) -> str:
    """The one line moderators get (plain text: no mention of anyone)."""
    reset = f"<t:{int(resets_at.timestamp())}:R>"
    if threshold >= 100:
        return (
            f"🛑 Video budget reached: {usd(spent)} of this month's {usd(budget)} is spent. "
            f"New videos are refused until it resets {reset}, unless a moderator raises it "
            "with `/videoadmin budget set`."
        )
    return (
        f"⚠️ Video spending passed {threshold} % of this month's budget: {usd(spent)} of "
        f"{usd(budget)}. It resets {reset}."
    )


class BudgetAlerts:
    """Announce budget thresholds once per server and month."""

    def __init__(
        self,
        *,
        storage: Database,
        post: Callable[[int, str], Awaitable[bool]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        system_actor: Callable[[], int] = lambda: 0,
    ) -> None:
        self.storage = storage
        self.post = post  # posts in the audit channel; False when there is none or it failed
        self.clock = clock
        self.system_actor = system_actor

    async def check(self, guild_id: int) -> str | None:
        """Announce the highest newly passed threshold, if any; return the line announced.

        A job that jumps past both thresholds gets the 100 % line only (the 80 % one is
        recorded as passed too: it would be stale news)."""
        budget = (await self.storage.guild_settings(guild_id)).monthly_budget_usd
        if budget is None:
            return None
        now = self.clock()
        start, end = quota.month_window(now)
        spent = await self.storage.spent_usd(guild_id, start, end)
        passed = thresholds_passed(spent, budget)
        if not passed:
            return None
        month = f"{start:%Y-%m}"
        claimed = [
            t for t in passed if await self.storage.claim_budget_alert(guild_id, month, t, now)
        ]
        if not claimed or max(claimed) != max(passed):
            return None  # the highest was announced before (a lower one claimed now is stale)
        top = max(claimed)
        line = alert_line(top, spent, budget, end)
        try:
            if not await self.post(guild_id, line):
                await self.storage.record_action(guild_id, self.system_actor(), "budget.alert",
                                                 line)  # fmt: skip
        except Exception:
            log.exception("guild=%s could not announce the %d %% budget alert", guild_id, top)
            for threshold in claimed:  # not announced: the next finished job tries again
                await self.storage.release_budget_alert(guild_id, month, threshold)
            return None
        log.info("guild=%s budget alert: %d %% passed (%s of %s)", guild_id, top, spent, budget)
        return line
