"""The assumptions `doctor --live` checks, and the verdicts it reads from a recorded run.

`CHECKS` is the table (number, assumption, check) whose numbers match docs/wiro-assumptions.md
("Still guesses"); the checks themselves are in `rest_checks.py`, `socket_checks.py` and
`task_checks.py`, reading a record through `record.Trace`. `check_assumptions` turns a record
into one `Verdict` per line. The recorder and the live run itself are in `check.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.wiro.live import rest_checks, socket_checks, task_checks
from bot.wiro.live.record import Check, Mark, Trace


@dataclass(frozen=True)
class Verdict:
    """One line of the live check: an assumption, what the record showed, what to change."""

    number: int
    title: str
    mark: Mark
    detail: str = ""
    fix: str = ""

    def lines(self) -> list[str]:
        """Return the printed line (and the fix line for a ✗)."""
        head = f"{self.mark:<8} {self.number:>2}. {self.title}"
        out = [f"{head}: {self.detail}" if self.detail else head]
        if self.mark == "✗" and self.fix:
            out.append(f"       change: {self.fix}")
        return out


def _not_seen(why: str) -> Check:
    def check(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
        return "not seen", why, ""

    return check


# (number, the assumption, its check); numbers match docs/wiro-assumptions.md "Still guesses".
CHECKS: list[tuple[int, str, Check]] = [
    (1, "Millisecond nonces are accepted", rest_checks.nonce),
    (2, "API-key-only projects need just x-api-key", rest_checks.key_only),
    (3, "Run path is the clean slug /Run/minimax/hailuo-2-3", rest_checks.run_path),
    (4, "Run answers flat", rest_checks.run_flat),
    (5, "Tool/Detail names the image field", rest_checks.image_field),
    (6, "Image runs: multipart encoding per field type", _not_seen("the live run is text-only")),
    (7, "1080P + 10 s is refused", _not_seen("never sent (the bot refuses it first)")),
    (8, "Unknown task on Task/Detail is code 1", rest_checks.unknown_task),
    (9, "Cancel takes {taskid}", rest_checks.stop_body("/Task/Cancel", "taskid")),
    (10, "Kill takes {taskid}", rest_checks.stop_body("/Task/Kill", "taskid")),
    (11, "Socket frames carry id (or tasktoken)", socket_checks.frames_routable),
    (12, 'The final frame carries "terminal": true', socket_checks.terminal_flag),
    (13, "Progress percentages are sent", socket_checks.progress),
    (14, "Every socket event type is known", socket_checks.known_events),
    (15, "Every Task/Detail status is known", task_checks.known_statuses),
    (16, 'Success = pexit "0" + a video/* output', task_checks.success_shape),
    (17, "Output URLs are on an allowed https host", task_checks.output_host),
    (18, "Output files download without auth", task_checks.download),
    (19, "totalcost is USD in Task/Detail", task_checks.total_cost),
    (20, "Tool/Detail's price is what Wiro bills", task_checks.price),
    (21, "Timestamps are Unix seconds", task_checks.seconds),
    (22, "Task/Detail echoes the run's parameters", task_checks.echo),
    (23, "task_error is interim (the task goes on)", task_checks.task_error),
    (24, "One socket stays up through a run", socket_checks.socket_stable),
    (25, "Answers come as HTTP 200 envelopes", rest_checks.http_200),
    (26, "File/Upload takes a signed upload, answers list[0].url", rest_checks.file_upload),
]


def check_assumptions(
    records: list[dict[str, Any]], output_hosts: tuple[str, ...]
) -> list[Verdict]:
    """Check each assumption against a recorded run; one verdict per assumption."""
    trace = Trace(records)
    verdicts = []
    for number, title, check in CHECKS:
        try:
            mark, detail, fix = check(trace, output_hosts)
        except Exception as exc:  # a malformed record must not hide the other lines
            mark, detail, fix = "not seen", f"could not read the record ({exc})", ""
        verdicts.append(Verdict(number, title, mark, detail, fix))
    return verdicts


def run_cost(records: list[dict[str, Any]]) -> float | None:
    """Return what Wiro billed for the live run, when the record shows it."""
    final = Trace(records).final
    return final.total_cost_usd if final is not None else None
