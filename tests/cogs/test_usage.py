"""Usage report text and CSV, and the 2000-character fitting every listing relies on."""

from __future__ import annotations

import csv
import io

import pytest

from bot.governance.usage import CSV_HEADER, usage_csv, usd
from cogs.usage import usage_summary
from cogs.words import fit_lines
from storage.models import UsageRow

ROWS = [
    UsageRow(user_id=123456789012345678, jobs=5, succeeded=4, credits=6, usd=1.2345),
    UsageRow(user_id=223456789012345678, jobs=1, succeeded=0, credits=0, usd=0.0, denied=1),
    UsageRow(
        user_id=323456789012345678,
        jobs=2,
        succeeded=2,
        credits=2,
        usd=0.5,
        from_others=2,
        image_authors=(423456789012345678, 523456789012345678),
    ),
]


def test_csv_has_the_header_and_exact_rows() -> None:
    data = usage_csv(ROWS)
    assert data.startswith(
        b"user_id,jobs,succeeded,credits,usd,denied,expired,from_others_images,image_authors\r\n"
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1:] == [
        ["123456789012345678", "5", "4", "6", "1.234500", "0", "0", "0", ""],
        ["223456789012345678", "1", "0", "0", "0.000000", "1", "0", "0", ""],
        [
            "323456789012345678",
            "2",
            "2",
            "2",
            "0.500000",
            "0",
            "0",
            "2",
            "423456789012345678 523456789012345678",
        ],
    ]
    assert usage_csv([]) == (
        b"user_id,jobs,succeeded,credits,usd,denied,expired,from_others_images,image_authors\r\n"
    )


def test_summary_totals_and_lines() -> None:
    text = usage_summary(ROWS[:2], days=30)
    assert "in the last 30 days" in text
    assert "6 jobs (4 succeeded, 1 denied) by 2 members: 6 credits, $1.23" in text
    assert "<@123456789012345678>: 5 jobs (4 succeeded), 6 credits, $1.23" in text
    assert "<@223456789012345678>: 1 job (0 succeeded, 1 denied), 0 credits, $0.00" in text
    assert usage_summary([], days=1, user_id=42) == "No video jobs for <@42> in the last day."
    animated = usage_summary(ROWS[2:], days=30)
    assert (
        "<@323456789012345678>: 2 jobs (2 succeeded), 2 credits, $0.50; "
        "2 from images by <@423456789012345678>, <@523456789012345678>"
    ) in animated


def test_summary_of_many_members_fits_and_says_how_many_more() -> None:
    rows = [
        UsageRow(user_id=10**17 + i, jobs=1, succeeded=1, credits=1, usd=0.1) for i in range(500)
    ]
    text = usage_summary(rows, days=7)
    assert len(text) <= 2000
    assert "… and " in text and "more" in text
    assert text.endswith("Full table in the CSV.")


@pytest.mark.parametrize(
    ("items", "limit", "expected"),
    [
        (["a", "b"], 2000, "H\na\nb\nF"),
        (["a" * 10, "b" * 10, "c" * 10], 30, "H\n" + "a" * 10 + "\n… and 2 more\nF"),
        ([], 2000, "H\nF"),
    ],
)
def test_fit_lines(items: list[str], limit: int, expected: str) -> None:
    assert fit_lines(["H"], items, limit=limit, footer=["F"]) == expected


def test_fit_lines_never_exceeds_the_limit() -> None:
    text = fit_lines(["x" * 3000], ["a"], limit=2000)
    assert len(text) == 2000 and text.endswith("…")


@pytest.mark.parametrize(
    ("amount", "text"), [(0, "$0.00"), (0.004, "$0.0040"), (1234.5, "$1,234.50")]
)
def test_usd(amount: float, text: str) -> None:
    assert usd(amount) == text
