"""Budget alerts: one line when a server's spending passes 80 % and then 100 % of its monthly
budget, once per month each, never pinging anyone.

`thresholds_passed` is the pure policy; a passed threshold is a `BudgetAlert` (the facts: how
much of which budget, when it resets), which the cogs put in words (`cogs.words.budget_alert_text`,
handed in as `words`: the reset is a Discord timestamp): an `i18n.Text` that the poster writes in
the server's language, while the moderators' log keeps it in English. `BudgetAlerts.check` runs
after each finished job: what was announced lives in SQLite (`budget_alerts`), claimed with an
INSERT OR IGNORE before posting, so two jobs finishing together, or a restart, never announce
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import bot.governance.quota as quota
from bot import i18n
from storage.api import Storage

log = logging.getLogger(__name__)

THRESHOLDS = (80, 100)


def thresholds_passed(spent: float, budget: float | None) -> tuple[int, ...]:
    """The alert thresholds (percent of the budget) that this month's spending has reached.

    No budget, or a $0 one (which means "no spending at all", so runs are refused before they
    cost anything), has nothing to announce."""
    if budget is None or budget <= 0:
        return ()
    return tuple(t for t in THRESHOLDS if spent + 1e-9 >= budget * t / 100)


@dataclass(frozen=True)
class BudgetAlert:
    """A budget threshold this month's spending passed: `threshold` percent of `budget` (USD),
    `spent` so far, and when the month resets."""

    threshold: int
    spent: float
    budget: float
    resets_at: datetime


# An alert's words: already in a language, or a sentence the poster puts in the server's.
AlertWords = str | i18n.Text


class BudgetAlerts:
    """Announce budget thresholds once per server and month."""

    def __init__(
        self,
        *,
        storage: Storage,
        post: Callable[[int, AlertWords], Awaitable[bool]] | None = None,
        words: Callable[[BudgetAlert], AlertWords] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        system_actor: Callable[[], int] = lambda: 0,
    ) -> None:
        self.storage = storage
        self.post = post  # posts in the audit channel; False when there is none or it failed
        self.words = words  # the alert's line (the cogs' words: no mention of anyone)
        self.clock = clock
        self.system_actor = system_actor

    def wire(
        self,
        *,
        post: Callable[[int, AlertWords], Awaitable[bool]],
        words: Callable[[BudgetAlert], AlertWords],
    ) -> None:
        """Where alerts are posted and in which words (the Discord side, once it is loaded)."""
        self.post, self.words = post, words

    async def check(self, guild_id: int) -> str | None:
        """Announce the highest newly passed threshold, if any; return the line announced (in
        English).

        A job that jumps past both thresholds gets the 100 % line only (the 80 % one is
        recorded as passed too: it would be stale news)."""
        if self.post is None or self.words is None:
            return None  # nothing to post with yet: the Discord side is not loaded
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
        words = self.words(BudgetAlert(top, spent, budget, end))
        line = str(words)  # English: the moderators' log and the return value
        try:
            if not await self.post(guild_id, words):
                await self.storage.record_action(guild_id, self.system_actor(), "budget.alert",
                                                 line)  # fmt: skip
        except Exception:
            log.exception("guild=%s could not announce the %d %% budget alert", guild_id, top)
            for threshold in claimed:  # not announced: the next finished job tries again
                await self.storage.release_budget_alert(guild_id, month, threshold)
            return None
        log.info("guild=%s budget alert: %d %% passed (%s of %s)", guild_id, top, spent, budget)
        return line
