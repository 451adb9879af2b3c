"""What `python -m bot doctor` prints: one `Check` per line, the `Checklist` that prints them,
and each check's time budget (`BUDGETS`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

# Seconds each check may take. A host that accepts the connection and never answers costs
# exactly this; together with start-up they stay under 20 s.
BUDGETS = {
    "Database": 3.0,
    "Disk": 1.0,
    "Discord token": 5.0,
    "Servers": 5.0,
    "Shards": 2.0,
    "Wiro": 5.0,
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    lines: list[str] = field(default_factory=list)


class Checklist:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.checks: list[Check] = []
        self._progress = False  # a "checking …" line is on screen, waiting to be replaced

    def start(self, name: str, budget: float) -> None:
        """Say which check runs now (replaced by its result on a terminal)."""
        text = f"… {name} (at most {budget:.0f} s)"
        if self.out.isatty():
            print(text, end="", file=self.out)
            self._progress = True
        else:
            print(text, file=self.out)
        self.out.flush()

    def add(self, check: Check) -> Check:
        if self._progress:
            print("\r\x1b[K", end="", file=self.out)
            self._progress = False
        self.checks.append(check)
        mark = "✓" if check.ok else "✗"
        detail = f": {check.detail}" if check.detail else ""
        print(f"{mark} {check.name}{detail}", file=self.out)
        for line in check.lines:
            print(f"    {line}", file=self.out)
        if not check.ok and check.fix:
            print(f"    fix: {check.fix}", file=self.out)
        self.out.flush()
        return check

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)
