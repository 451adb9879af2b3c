"""A recorded `doctor --live` run, read: typed questions about it, and the shape of a check.

`Trace` answers questions about a record written by `check.TraceRecorder` (REST exchanges,
socket frames, the download, the run's settings). Only the record is read, never Wiro, so an
operator's file can be checked again later. A `Check` reads a `Trace` and says ✓, ✗ or "not
seen", with what it saw and what to change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from bot.wiro.lenient import loose_str
from bot.wiro.models import TaskDetail, parse_errors
from bot.wiro.schema import ToolInfo

# The task token of the live run's probe Task/Detail call (a task that does not exist); the
# record's readers tell the probe's answer apart from the real task's by it.
PROBE_TOKEN = "doctor-live-probe-no-such-task"

Mark = Literal["✓", "✗", "not seen"]


class Trace:
    """Typed questions about a recorded run."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.meta: dict[str, Any] = {}
        for record in records:
            if record.get("kind") == "meta":
                self.meta.update(record)

    def rest(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind") == "rest" and r.get("path") == path]

    def answered(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.rest(path) if isinstance(r.get("body"), dict)]

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [
            r["frame"]
            for r in self.records
            if r.get("kind") == "socket_frame" and isinstance(r.get("frame"), dict)
        ]

    @property
    def task_frames(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if loose_str(f.get("type")).startswith("task_")]

    @property
    def run_body(self) -> dict[str, Any] | None:
        runs = [r for r in self.records if r.get("kind") == "rest" and "/Run/" in r.get("path", "")]
        body = runs[-1].get("body") if runs else None
        return body if isinstance(body, dict) else None

    @property
    def task_details(self) -> list[TaskDetail]:
        """Task/Detail answers about the live task (the probe for an unknown task left out)."""
        found = []
        for record in self.answered("/Task/Detail"):
            if record.get("request", {}).get("tasktoken") == PROBE_TOKEN:
                continue
            detail = TaskDetail.from_body(record["body"])
            if detail is not None:
                found.append(detail)
        return found

    @property
    def final(self) -> TaskDetail | None:
        return next((d for d in reversed(self.task_details) if d.is_terminal), None)

    def probe(self, path: str) -> dict[str, Any] | None:
        for record in self.rest(path):
            if record.get("probe"):
                return record
        return None

    @property
    def tool(self) -> ToolInfo | None:
        answers = self.answered("/Tool/Detail")
        ok = [a for a in answers if a["body"].get("result") in (True, "true")]
        return ToolInfo.from_body(ok[-1]["body"]) if ok else None


def statuses(records: list[dict[str, Any]]) -> dict[int, int]:
    """Count the recorded answers by HTTP status."""
    counts: dict[int, int] = {}
    for record in records:
        status = record.get("status")
        if isinstance(status, int):
            counts[status] = counts.get(status, 0) + 1
    return counts


def first_error(record: dict[str, Any] | None) -> tuple[int | None, str]:
    """Return the code and message of a recorded answer's first error, if any."""
    if record is None or not isinstance(record.get("body"), dict):
        return None, ""
    items = parse_errors(record["body"])
    return (items[0].code, items[0].message) if items else (None, "")


Check = Callable[[Trace, tuple[str, ...]], tuple[Mark, str, str]]
