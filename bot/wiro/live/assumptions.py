"""The assumptions `doctor --live` checks, and the verdicts it reads from a recorded run.

`Trace` answers typed questions about a record written by `live_check.TraceRecorder`; `CHECKS`
is the table (number, assumption, check) whose numbers match docs/wiro-assumptions.md ("Still
guesses"); `check_assumptions` turns a record into one `Verdict` per line. Only the record is
read, never Wiro, so an operator's file can be checked again later. The recorder and the live
run itself are in `live_check.py`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.wiro.debug_text import progress_in
from bot.wiro.lenient import loose_bool, loose_str
from bot.wiro.models import (
    KNOWN_EVENTS,
    STAGE_BY_STATUS,
    TERMINAL_STATUSES,
    RunAccepted,
    TaskDetail,
    parse_errors,
)
from bot.wiro.schema import ToolInfo

# The task token of the live run's probe Task/Detail call (a task that does not exist); the
# record's readers tell the probe's answer apart from the real task's by it.
PROBE_TOKEN = "doctor-live-probe-no-such-task"

Mark = Literal["✓", "✗", "not seen"]


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


def _statuses(records: list[dict[str, Any]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for record in records:
        status = record.get("status")
        if isinstance(status, int):
            counts[status] = counts.get(status, 0) + 1
    return counts


def _first_error(record: dict[str, Any] | None) -> tuple[int | None, str]:
    if record is None or not isinstance(record.get("body"), dict):
        return None, ""
    items = parse_errors(record["body"])
    return (items[0].code, items[0].message) if items else (None, "")


Check = Callable[[Trace, tuple[str, ...]], tuple[Mark, str, str]]


def _nonce(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    if not t.meta.get("signed"):
        return "not seen", "no API secret configured, nothing was signed", ""
    refused = [r for r in t.records if r.get("status") == 401]
    if refused:
        _, message = _first_error(refused[0])
        return (
            "✗",
            f"{len(refused)} signed call(s) refused: {message}",
            "try seconds instead of milliseconds in signing.NonceSource.next",
        )
    calls = sum(1 for r in t.records if r.get("kind") == "rest" and "status" in r)
    return "✓", f"{calls} signed calls accepted with millisecond nonces", ""


def _key_only(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    if not t.meta.get("key_only"):
        return "not seen", "a signature project is configured", ""
    if any(r.get("status") == 401 for r in t.records):
        return "✗", "Wiro refused the key alone", "set WIRO_API_SECRET (a signature project)"
    return "✓", "calls with x-api-key alone were accepted", ""


def _run_path(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    body = t.run_body
    if body is None:
        return "not seen", "no Run was answered", ""
    if loose_bool(body.get("result")):
        return "✓", "/Run/minimax/hailuo-2-3 accepted the run", ""
    code, message = _first_error({"body": body})
    if code == 1:
        return "✗", message, "pass owner='MiniMax', project='hailuo-2.3' to WiroClient"
    return "not seen", f"Run refused for another reason: {message}", ""


def _run_flat(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    body = t.run_body
    if body is None or not loose_bool(body.get("result")):
        return "not seen", "", ""
    if loose_str(body.get("taskid")) and loose_str(body.get("socketaccesstoken")):
        return "✓", "taskid and socketaccesstoken at the top level", ""
    if RunAccepted.from_body(body) is not None:
        return (
            "✗",
            "the ids came nested (under data)",
            "nothing breaks (RunAccepted.from_body reads both); update this line",
        )
    return "✗", f"no task id in {sorted(body)}", "teach RunAccepted.from_body the new shape"


def _image_field(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    if not t.answered("/Tool/Detail"):
        return "not seen", "Tool/Detail never answered", ""
    tool = t.tool
    if tool is None or tool.from_fallback:
        return (
            "✗",
            "Tool/Detail names no file field (parameters missing or null)",
            "image runs stay refused; find the field in Tool/Detail's answer in this file and "
            "report it",
        )
    return "✓", f"{tool.image_field_id} ({tool.image_field_type})", ""


def _not_seen(why: str) -> Check:
    def check(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
        return "not seen", why, ""

    return check


def _unknown_task(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    probe = t.probe("/Task/Detail")
    if probe is None:
        return "not seen", "", ""
    code, message = _first_error(probe)
    if code == 1:
        return "✓", f"code 1 {message!r}", ""
    lowered = message.lower()
    if any(h in lowered for h in ("no task", "not-found", "not found", "not-exist")):
        return "✓", f"code {code} {message!r} (read as not found)", ""
    return (
        "✗",
        f"code {code} {message!r}",
        "add this wording to client._NOT_FOUND_HINTS if it means 'no such task'",
    )


def _stop_body(path: str, key: str) -> Check:
    def check(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
        probe = t.probe(path)
        if probe is None:
            return "not seen", "", ""
        code, message = _first_error(probe)
        body = probe.get("body")
        if isinstance(body, dict) and loose_bool(body.get("result")):
            return "✓", f"{{{key!r}}} accepted", ""
        if code == 1:
            return "✓", f"{{{key!r}}} understood (code 1 {message!r} for a finished task)", ""
        return (
            "✗",
            f"{{{key!r}}} answered code {code} {message!r}",
            f"change the body key of {path} in WiroClient (KILL_KEYS / cancel)",
        )

    return check


def _frames_routable(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    if not any(r.get("kind") == "socket_open" for r in t.records):
        return (
            "✗",
            "the socket never connected",
            "check WIRO_SOCKET_URL; meanwhile the bot polls Task/Detail every 10 s",
        )
    frames = t.task_frames
    if not frames:
        return (
            "✗",
            "connected, but no task frame arrived",
            "check WIRO_SOCKET_URL; the card moves only with Task/Detail polls",
        )
    keyed = [f for f in frames if loose_str(f.get("id")) or f.get("tasktoken")]
    by = sorted({k for f in frames for k in ("id", "tasktoken") if f.get(k)})
    if len(keyed) < len(frames):
        return (
            "✗",
            f"{len(frames) - len(keyed)} of {len(frames)} frames carry neither id nor tasktoken",
            "open one socket per task in socket_hub.SocketHub (routing becomes moot)",
        )
    return "✓", f"{len(frames)} task frames, keyed by {' and '.join(by)}", ""


def _terminal_flag(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    finals = [f for f in t.task_frames if f.get("type") in ("task_postprocess_end", "task_cancel")]
    if not finals:
        return "not seen", "no final frame arrived", ""
    if all(loose_bool(f.get("terminal")) for f in finals):
        return "✓", f'{finals[-1]["type"]} carried "terminal": true', ""
    return (
        "✗",
        f'{finals[-1]["type"]} came without "terminal": true',
        "nothing breaks (the event type is a cue too); update docs/wiro-protocol.md",
    )


def _progress(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    outputs = [f for f in t.task_frames if f.get("type") == "task_output"]
    numbers = [p for f in outputs if (p := progress_in(f.get("message"))) is not None]
    from_detail = [d.progress for d in t.task_details if d.progress is not None]
    if numbers or from_detail:
        where = "task_output" if numbers else "Task/Detail debugoutput"
        return "✓", f"percentages from {where} (last {(numbers or from_detail)[-1]}%)", ""
    return "not seen", f"{len(outputs)} task_output frames, none with a percentage", ""


def _known_events(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    kinds = {loose_str(f.get("type")) for f in t.frames}
    unknown = sorted(k for k in kinds if k not in KNOWN_EVENTS and k != "connected")
    if not kinds:
        return "not seen", "", ""
    if unknown:
        return (
            "✗",
            f"unknown event types: {', '.join(unknown)}",
            "map them in models.STAGE_BY_STATUS / KNOWN_EVENTS",
        )
    return "✓", f"{len(kinds)} event types, all known", ""


def _known_statuses(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    statuses = {d.status for d in t.task_details}
    known = set(STAGE_BY_STATUS) | TERMINAL_STATUSES | {"task_error"}
    unknown = sorted(s for s in statuses if s not in known)
    if not statuses:
        return "not seen", "", ""
    if unknown:
        return "✗", f"unknown statuses: {', '.join(unknown)}", "map them in STAGE_BY_STATUS"
    return "✓", ", ".join(sorted(statuses)), ""


def _success_shape(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    final = t.final
    if final is None:
        return "not seen", "the task did not finish during the check", ""
    if final.status != "task_postprocess_end" or final.pexit != "0":
        return "not seen", f"the task ended {final.status} pexit={final.pexit!r}", ""
    if final.video is not None:
        return "✓", f'pexit "0" and a {final.video.content_type or "video"} output', ""
    kinds = ", ".join(f"{o.name} ({o.content_type})" for o in final.outputs) or "no outputs"
    return (
        "✗",
        f'pexit "0" but no video output: {kinds}',
        "widen TaskOutput.is_video to this content type",
    )


def _output_host(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    final = t.final
    video = final.video if final is not None else None
    url = video.url if video else ""
    if not url:
        return "not seen", "", ""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    scheme = urlsplit(url).scheme
    allowed = any(host == h or host.endswith("." + h) for h in hosts)
    if allowed and (scheme == "https" or host in ("127.0.0.1", "localhost")):
        return "✓", f"{scheme}://{host}", ""
    return "✗", f"{scheme}://{host} is not allowed", f"add {host} to WIRO_OUTPUT_HOSTS"


def _download(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    done = [r for r in t.records if r.get("kind") == "download"]
    if not done:
        return "not seen", "", ""
    last = done[-1]
    if last.get("bytes"):
        return "✓", f"{last['bytes']} bytes without auth headers", ""
    return "✗", f"download failed: {last.get('error')}", "check WIRO_OUTPUT_HOSTS and the network"


def _total_cost(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    final = t.final
    if final is None:
        return "not seen", "", ""
    if final.total_cost_usd is None:
        return (
            "✗",
            "Task/Detail has no totalcost",
            "budgets then count the expected price: read the cost from another field",
        )
    return "✓", f"totalcost ${final.total_cost_usd:.4f}", ""


def _price(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    tool, final = t.tool, t.final
    resolution, duration = t.meta.get("resolution"), t.meta.get("duration")
    if tool is None or final is None or final.total_cost_usd is None or not resolution:
        return "not seen", "", ""
    price = tool.price_for(str(resolution), int(duration or 6))
    if price is None:
        return "not seen", "Tool/Detail gives no price for this setting", ""
    if final.pexit == "0" and abs(price - final.total_cost_usd) > 0.005:
        return (
            "✗",
            f"Tool/Detail says ${price:.4f}, Wiro billed ${final.total_cost_usd:.4f}",
            "check PriceEntry/ToolInfo.price_for against this file's dynamicprice",
        )
    return "✓", f"Tool/Detail's ${price:.4f} matches the bill", ""


def _seconds(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    detail = next((d for d in t.task_details if d.create_time), None)
    wall = t.meta.get("started_unix")
    if detail is None or not isinstance(wall, int | float) or detail.create_time is None:
        return "not seen", "", ""
    if abs(detail.create_time - wall) < 2 * 86400:
        return "✓", "createtime is Unix seconds", ""
    if abs(detail.create_time / 1000 - wall) < 2 * 86400:
        return "✗", "createtime is in milliseconds", "divide by 1000 in models._time_or_none"
    return "✗", f"createtime {detail.create_time} is not near now", "check models._time_or_none"


def _echo(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    shown = [d for d in t.task_details if d.parameters is not None]
    if not shown:
        return (
            "✗",
            "Task/Detail shows no parameters",
            "the image-echo warning cannot work; drop it in following._check_image_echo",
        )
    if any(loose_str(d.parameters.get("prompt")) for d in shown if d.parameters):
        return "✓", "parameters echo the run's fields", ""
    return "✗", "parameters do not echo the prompt", "check following._check_image_echo"


def _task_error(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    errored = any(d.status == "task_error" for d in t.task_details) or any(
        f.get("type") == "task_error" for f in t.task_frames
    )
    if not errored:
        return "not seen", "Wiro reported no task_error during this run", ""
    final = t.final
    if final is not None:
        return "✓", f"task_error was interim: the task still ended {final.status}", ""
    return "not seen", "task_error seen, the task had not ended", ""


def _socket_stable(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    opens = sum(1 for r in t.records if r.get("kind") == "socket_open")
    if not opens:
        return "not seen", "", ""
    if opens == 1:
        return "✓", "one connection for the whole run (client pings every 30 s)", ""
    return (
        "✗",
        f"the socket was opened {opens} times",
        "if Wiro drops pinging clients, set heartbeat=None (socket_hub.WS_HEARTBEAT)",
    )


def _http_200(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    counts = _statuses(t.records)
    if not counts:
        return "not seen", "", ""
    other = {s: n for s, n in counts.items() if s != 200}
    if not other:
        return "✓", f"all {counts.get(200, 0)} answers were HTTP 200 with an envelope", ""
    listed = ", ".join(f"HTTP {s} ×{n}" for s, n in sorted(other.items()))
    return "✗", listed, "see rest.error_for: each status must map to the right error"


def _file_upload(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    probe = t.probe("/File/Upload")
    if probe is None:
        return "not seen", "", ""
    body = probe.get("body")
    if not isinstance(body, dict):
        return "not seen", f"no answer ({probe.get('error') or probe.get('status')})", ""
    items = body.get("list")
    first = items[0] if isinstance(items, list) and items else None
    url = loose_str(first.get("url")) if isinstance(first, dict) else ""
    if loose_bool(body.get("result")) and url:
        return "✓", f"list[0].url on {url.split('/')[2] if '://' in url else url}", ""
    code, message = _first_error(probe)
    return (
        "✗",
        f"code {code} {message!r}" if message else f"no file URL in {sorted(body)}",
        "nothing breaks: image runs send the image in the Run itself (a slower Run, a wider "
        "window for a stop to lose its answer); report this answer",
    )


# (number, the assumption, its check); numbers match docs/wiro-assumptions.md "Still guesses".
CHECKS: list[tuple[int, str, Check]] = [
    (1, "Millisecond nonces are accepted", _nonce),
    (2, "API-key-only projects need just x-api-key", _key_only),
    (3, "Run path is the clean slug /Run/minimax/hailuo-2-3", _run_path),
    (4, "Run answers flat", _run_flat),
    (5, "Tool/Detail names the image field", _image_field),
    (6, "Image runs: multipart encoding per field type", _not_seen("the live run is text-only")),
    (7, "1080P + 10 s is refused", _not_seen("never sent (the bot refuses it first)")),
    (8, "Unknown task on Task/Detail is code 1", _unknown_task),
    (9, "Cancel takes {taskid}", _stop_body("/Task/Cancel", "taskid")),
    (10, "Kill takes {taskid}", _stop_body("/Task/Kill", "taskid")),
    (11, "Socket frames carry id (or tasktoken)", _frames_routable),
    (12, 'The final frame carries "terminal": true', _terminal_flag),
    (13, "Progress percentages are sent", _progress),
    (14, "Every socket event type is known", _known_events),
    (15, "Every Task/Detail status is known", _known_statuses),
    (16, 'Success = pexit "0" + a video/* output', _success_shape),
    (17, "Output URLs are on an allowed https host", _output_host),
    (18, "Output files download without auth", _download),
    (19, "totalcost is USD in Task/Detail", _total_cost),
    (20, "Tool/Detail's price is what Wiro bills", _price),
    (21, "Timestamps are Unix seconds", _seconds),
    (22, "Task/Detail echoes the run's parameters", _echo),
    (23, "task_error is interim (the task goes on)", _task_error),
    (24, "One socket stays up through a run", _socket_stable),
    (25, "Answers come as HTTP 200 envelopes", _http_200),
    (26, "File/Upload takes a signed upload, answers list[0].url", _file_upload),
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
