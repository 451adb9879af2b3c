"""Usage reports for moderators: the summary text and the CSV file. Pure: no Discord, no I/O.

Also `fit_lines`, which every moderator listing uses to stay inside Discord's 2000-character
message limit ("… and N more" instead of a refused message).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bot.catalogue import MODELS
from storage.models import ModelUsageRow, UsageRow

# Discord refuses message content above 2000 characters (50035); keep a little headroom.
MESSAGE_LIMIT = 2000
CSV_HEADER = ("user_id", "jobs", "succeeded", "credits", "usd", "denied", "expired")


def fit_lines(
    header: Sequence[str],
    items: Sequence[str],
    *,
    limit: int = MESSAGE_LIMIT,
    footer: Sequence[str] = (),
) -> str:
    """Join header, as many items as fit and footer within `limit`, noting "and N more"."""
    head = "\n".join(header)
    foot = "\n".join(footer)

    def build(shown: int) -> str:
        parts = [head] if head else []
        parts.extend(items[:shown])
        hidden = len(items) - shown
        if hidden:
            parts.append(f"… and {hidden} more")
        if foot:
            parts.append(foot)
        return "\n".join(parts)

    shown = len(items)
    text = build(shown)
    while len(text) > limit and shown > 0:
        shown -= 1
        text = build(shown)
    if len(text) > limit:  # header and footer alone are too long: cut hard, never refuse
        text = text[: limit - 1] + "…"
    return text


def usd(value: float) -> str:
    """Format an amount of USD for people ($1,234.56; small amounts keep 4 decimals)."""
    if 0 < abs(value) < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def usage_totals(rows: Sequence[UsageRow]) -> UsageRow:
    """Return the server-wide totals of per-member rows (user_id 0)."""
    return UsageRow(
        user_id=0,
        jobs=sum(r.jobs for r in rows),
        succeeded=sum(r.succeeded for r in rows),
        credits=sum(r.credits for r in rows),
        usd=sum(r.usd for r in rows),
        denied=sum(r.denied for r in rows),
        expired=sum(r.expired for r in rows),
    )


def _outcomes(row: UsageRow) -> str:
    """'4 succeeded' plus, when there were any, 'n denied' and 'n expired' (approval queue)."""
    parts = [f"{row.succeeded} succeeded"]
    parts += [f"{n} {word}" for n, word in ((row.denied, "denied"), (row.expired, "expired")) if n]
    return ", ".join(parts)


def usage_line(row: UsageRow) -> str:
    """One member's totals as a line (the mention renders as a name and pings nobody)."""
    credit_word = "credit" if row.credits == 1 else "credits"
    job_word = "job" if row.jobs == 1 else "jobs"
    return (
        f"<@{row.user_id}>: {row.jobs} {job_word} ({_outcomes(row)}), "
        f"{row.credits} {credit_word}, {usd(row.usd)}"
    )


def model_usage_line(rows: Sequence[ModelUsageRow]) -> str | None:
    """'By model: Hailuo 2.3: 3 jobs, 5 credits, $0.84 · Hailuo 2.3 Fast: …' (None if none)."""
    parts = []
    for row in rows:
        model = MODELS.get(row.model)
        name = model.label if model else row.model
        parts.append(
            f"{name}: {row.jobs} {'job' if row.jobs == 1 else 'jobs'}, {row.credits} "
            f"{'credit' if row.credits == 1 else 'credits'}, {usd(row.usd)}"
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
    who = f" for <@{user_id}>" if user_id is not None else ""
    if not rows:
        return f"No video jobs{who} in {span}."
    total = usage_totals(rows)
    members = "member" if len(rows) == 1 else "members"
    header = [
        f"**Usage{who} in {span}**",
        f"{total.jobs} {'job' if total.jobs == 1 else 'jobs'} ({_outcomes(total)}) "
        f"by {len(rows)} {members}: {total.credits} "
        f"{'credit' if total.credits == 1 else 'credits'}, {usd(total.usd)}.",
    ]
    models = model_usage_line(by_model)
    if models:
        header.append(models)
    footer = ["-# Credits are net of refunds; USD is Wiro's totalcost. Full table in the CSV."]
    return fit_lines(header, [usage_line(r) for r in rows], limit=limit, footer=footer)


def usage_csv(rows: Sequence[UsageRow]) -> bytes:
    """Build the CSV file (UTF-8, header user_id,jobs,succeeded,credits,usd) of the rows."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        # Plain digits, exact for scripts. Spreadsheets round 18-digit numbers on import: open
        # the file with the user_id column typed as text (the README says how).
        writer.writerow(
            [row.user_id, row.jobs, row.succeeded, row.credits, f"{row.usd:.6f}", row.denied,
             row.expired]
        )  # fmt: skip
    return buffer.getvalue().encode("utf-8")


__all__ = [
    "CSV_HEADER",
    "MESSAGE_LIMIT",
    "fit_lines",
    "usage_csv",
    "usage_line",
    "usage_summary",
    "usage_totals",
    "usd",
]
