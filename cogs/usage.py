"""The usage report in words: totals, then one line per member, within one message."""

from __future__ import annotations

from collections.abc import Sequence

from bot.catalogue import MODELS
from bot.governance.usage import usage_totals, usd
from cogs.words import MESSAGE_LIMIT, fit_lines, plural, user
from storage.models import ModelUsageRow, UsageRow


def _outcomes(row: UsageRow) -> str:
    """'4 succeeded' plus, when there were any, 'n denied' and 'n expired' (approval queue)."""
    parts = [f"{row.succeeded} succeeded"]
    parts += [f"{n} {word}" for n, word in ((row.denied, "denied"), (row.expired, "expired")) if n]
    return ", ".join(parts)


def usage_line(row: UsageRow) -> str:
    """One member's totals as a line (the mentions render as names and ping nobody)."""
    line = (
        f"{user(row.user_id)}: {plural(row.jobs, 'job')} ({_outcomes(row)}), "
        f"{plural(row.credits, 'credit')}, {usd(row.usd)}"
    )
    if row.from_others:
        authors = ", ".join(user(a) for a in row.image_authors[:5])
        more = f" and {len(row.image_authors) - 5} more" if len(row.image_authors) > 5 else ""
        line += f"; {row.from_others} from images by {authors}{more}"
    return line


def model_usage_line(rows: Sequence[ModelUsageRow]) -> str | None:
    """'By model: Hailuo 2.3: 3 jobs, 5 credits, $0.84 · Hailuo 2.3 Fast: …' (None if none)."""
    parts = []
    for row in rows:
        model = MODELS.get(row.model)
        name = model.label if model else row.model
        parts.append(
            f"{name}: {plural(row.jobs, 'job')}, {plural(row.credits, 'credit')}, {usd(row.usd)}"
        )
    return f"By model: {' · '.join(parts)}." if parts else None


def usage_summary(
    rows: Sequence[UsageRow],
    *,
    days: int,
    user_id: int | None = None,
    limit: int = MESSAGE_LIMIT,
    by_model: Sequence[ModelUsageRow] = (),
) -> str:
    """Build the usage report text: totals, then one line per member, within `limit`."""
    span = "the last day" if days == 1 else f"the last {days} days"
    who = f" for {user(user_id)}" if user_id is not None else ""
    if not rows:
        return f"No video jobs{who} in {span}."
    total = usage_totals(rows)
    header = [
        f"**Usage{who} in {span}**",
        f"{plural(total.jobs, 'job')} ({_outcomes(total)}) "
        f"by {plural(len(rows), 'member')}: {plural(total.credits, 'credit')}, {usd(total.usd)}.",
    ]
    models = model_usage_line(by_model)
    if models:
        header.append(models)
    footer = ["-# Credits are net of refunds; USD is Wiro's totalcost. Full table in the CSV."]
    return fit_lines(header, [usage_line(r) for r in rows], limit=limit, footer=footer)
