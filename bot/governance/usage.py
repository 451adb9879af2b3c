"""Usage reports for moderators: the totals and the CSV file. Pure: no Discord, no I/O.

The summary in words is `cogs.usage.usage_summary`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from babel.numbers import parse_pattern

from bot import i18n
from storage.models import UsageRow

CSV_HEADER = (
    "user_id",
    "jobs",
    "succeeded",
    "credits",
    "usd",
    "denied",
    "expired",
    "from_others_images",  # Animate: jobs made from other members' images
    "image_authors",  # whose images those were (user ids, space-separated)
)


def usd(value: float, locale: str | None = None) -> str:
    """Format an amount of USD for people ($1,234.56; small amounts keep 4 decimals), in the
    language of `locale` (German '1.234,56 $'); English for a language the bot does not speak."""
    small = 0 < abs(value) < 0.01
    if i18n.catalog_name(locale) is None:
        return f"${value:.4f}" if small else f"${value:,.2f}"
    if not small:
        return i18n.money(locale, value)
    where = i18n.babel_locale(locale)
    pattern = parse_pattern(where.currency_formats["standard"].pattern)
    pattern.frac_prec = (4, 4)  # a fraction of a cent still shows, as in English
    return pattern.apply(value, where, currency="USD", currency_digits=False)


def figure(value: float, locale: str | None = None) -> str:
    """A count as the language writes it (German '1.234'); English as it always was ('1234')."""
    if i18n.catalog_name(locale) is None:
        return f"{value:g}"
    return i18n.number(locale, value)


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
        from_others=sum(r.from_others for r in rows),
        image_authors=tuple(sorted({a for r in rows for a in r.image_authors})),
    )


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
             row.expired, row.from_others, " ".join(str(a) for a in row.image_authors)]
        )  # fmt: skip
    return buffer.getvalue().encode("utf-8")


__all__ = [
    "CSV_HEADER",
    "figure",
    "usage_csv",
    "usage_totals",
    "usd",
]
