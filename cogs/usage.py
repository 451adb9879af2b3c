"""The usage report in words: totals, then one line per member, within one message, in the
moderator's language (`locale`; counts and money written the language's way)."""

from __future__ import annotations

from collections.abc import Sequence

from bot import i18n
from bot.catalogue import MODELS
from bot.governance.usage import figure, usage_totals, usd
from cogs.words import MESSAGE_LIMIT, fit_lines, user
from storage.models import ModelUsageRow, UsageRow


def _jobs(locale: str | None, n: int) -> str:
    return i18n.ngettext(locale, "{count} job", "{count} jobs", n).format(count=figure(n, locale))


def _credits(locale: str | None, n: int) -> str:
    return i18n.ngettext(locale, "{count} credit", "{count} credits", n).format(
        count=figure(n, locale)
    )


def _outcomes(row: UsageRow, locale: str | None = None) -> str:
    """'4 succeeded' plus, when there were any, 'n denied' and 'n expired' (approval queue)."""
    n = row.succeeded
    parts = [i18n.ngettext(locale, "{count} succeeded", "{count} succeeded", n).format(
        count=figure(n, locale))]  # fmt: skip
    if row.denied:
        form = i18n.ngettext(locale, "{count} denied", "{count} denied", row.denied)
        parts.append(form.format(count=figure(row.denied, locale)))
    if row.expired:
        form = i18n.ngettext(locale, "{count} expired", "{count} expired", row.expired)
        parts.append(form.format(count=figure(row.expired, locale)))
    return i18n.joined(locale, parts)


def _totals(locale: str | None, jobs: int, outcomes: str, credits: int, cost: float) -> str:
    """'6 jobs (4 succeeded), 6 credits, $1.23' (without the outcomes when they are '')."""
    if outcomes:
        text = i18n.gettext(locale, "{jobs} ({outcomes}), {credits}, {cost}")
    else:
        text = i18n.gettext(locale, "{jobs}, {credits}, {cost}")
    return text.format(
        jobs=_jobs(locale, jobs),
        outcomes=outcomes,
        credits=_credits(locale, credits),
        cost=usd(cost, locale),
    )


def _labelled(locale: str | None, name: str, totals: str) -> str:
    """'name: totals' (French puts a space before the colon)."""
    return i18n.gettext(locale, "{name}: {totals}").format(name=name, totals=totals)


def usage_line(row: UsageRow, locale: str | None = None) -> str:
    """One member's totals as a line (the mentions render as names and ping nobody)."""
    totals = _totals(locale, row.jobs, _outcomes(row, locale), row.credits, row.usd)
    line = _labelled(locale, user(row.user_id), totals)
    if row.from_others:
        authors = i18n.joined(locale, [user(a) for a in row.image_authors[:5]])
        hidden = len(row.image_authors) - 5
        if hidden > 0:
            authors = i18n.gettext(locale, "{authors} and {count} more").format(
                authors=authors, count=figure(hidden, locale)
            )
        others = i18n.ngettext(
            locale,
            "{count} from images by {authors}",
            "{count} from images by {authors}",
            row.from_others,
        ).format(count=figure(row.from_others, locale), authors=authors)
        line += f"; {others}"
    return line


def model_usage_line(rows: Sequence[ModelUsageRow], locale: str | None = None) -> str | None:
    """'By model: Hailuo 2.3: 3 jobs, 5 credits, $0.84 · Hailuo 2.3 Fast: …' (None if none)."""
    parts = []
    for row in rows:
        model = MODELS.get(row.model)
        name = model.label if model else row.model
        parts.append(_labelled(locale, name, _totals(locale, row.jobs, "", row.credits, row.usd)))
    if not parts:
        return None
    return i18n.gettext(locale, "By model: {models}.").format(models=" · ".join(parts))


def _span(locale: str | None, days: int) -> str:
    if days == 1:
        return i18n.gettext(locale, "the last day")
    return i18n.ngettext(locale, "the last {count} day", "the last {count} days", days).format(
        count=figure(days, locale)
    )


def usage_summary(
    rows: Sequence[UsageRow],
    *,
    days: int,
    user_id: int | None = None,
    limit: int = MESSAGE_LIMIT,
    by_model: Sequence[ModelUsageRow] = (),
    locale: str | None = None,
) -> str:
    """Build the usage report text: totals, then one line per member, within `limit`."""
    span = _span(locale, days)
    if not rows:
        if user_id is None:
            return i18n.gettext(locale, "No video jobs in {span}.").format(span=span)
        return i18n.gettext(locale, "No video jobs for {member} in {span}.").format(
            member=user(user_id), span=span
        )
    if user_id is None:
        title = i18n.gettext(locale, "**Usage in {span}**").format(span=span)
    else:
        title = i18n.gettext(locale, "**Usage for {member} in {span}**").format(
            member=user(user_id), span=span
        )
    total = usage_totals(rows)
    members = i18n.ngettext(locale, "{count} member", "{count} members", len(rows)).format(
        count=figure(len(rows), locale)
    )
    header = [
        title,
        i18n.gettext(locale, "{jobs} ({outcomes}) by {members}: {credits}, {cost}.").format(
            jobs=_jobs(locale, total.jobs),
            outcomes=_outcomes(total, locale),
            members=members,
            credits=_credits(locale, total.credits),
            cost=usd(total.usd, locale),
        ),
    ]
    models = model_usage_line(by_model, locale)
    if models:
        header.append(models)
    footer = [
        i18n.gettext(
            locale,
            "-# Credits are net of refunds; USD is Wiro's totalcost. Full table in the CSV.",
        )
    ]
    lines = [usage_line(r, locale) for r in rows]
    return fit_lines(header, lines, limit=limit, footer=footer, locale=locale)
