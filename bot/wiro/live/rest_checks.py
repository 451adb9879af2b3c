"""The live checks of Wiro's REST side: auth, the Run's path and answer, Tool/Detail's image
field, unknown tasks, the stop bodies, HTTP statuses, File/Upload (numbers as in
docs/wiro-assumptions.md "Still guesses").
"""

from __future__ import annotations

from bot.wiro.lenient import loose_bool, loose_str
from bot.wiro.live.record import Check, Mark, Trace, first_error, statuses
from bot.wiro.models import RunAccepted


def nonce(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    if not t.meta.get("signed"):
        return "not seen", "no API secret configured, nothing was signed", ""
    refused = [r for r in t.records if r.get("status") == 401]
    if refused:
        _, message = first_error(refused[0])
        return (
            "✗",
            f"{len(refused)} signed call(s) refused: {message}",
            "try seconds instead of milliseconds in signing.NonceSource.next",
        )
    calls = sum(1 for r in t.records if r.get("kind") == "rest" and "status" in r)
    return "✓", f"{calls} signed calls accepted with millisecond nonces", ""


def key_only(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    if not t.meta.get("key_only"):
        return "not seen", "a signature project is configured", ""
    if any(r.get("status") == 401 for r in t.records):
        return "✗", "Wiro refused the key alone", "set WIRO_API_SECRET (a signature project)"
    return "✓", "calls with x-api-key alone were accepted", ""


def run_path(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    body = t.run_body
    if body is None:
        return "not seen", "no Run was answered", ""
    if loose_bool(body.get("result")):
        return "✓", "/Run/minimax/hailuo-2-3 accepted the run", ""
    code, message = first_error({"body": body})
    if code == 1:
        return "✗", message, "pass owner='MiniMax', project='hailuo-2.3' to WiroClient"
    return "not seen", f"Run refused for another reason: {message}", ""


def run_flat(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def image_field(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def unknown_task(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    probe = t.probe("/Task/Detail")
    if probe is None:
        return "not seen", "", ""
    code, message = first_error(probe)
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


def stop_body(path: str, key: str) -> Check:
    def check(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
        probe = t.probe(path)
        if probe is None:
            return "not seen", "", ""
        code, message = first_error(probe)
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


def http_200(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    counts = statuses(t.records)
    if not counts:
        return "not seen", "", ""
    other = {s: n for s, n in counts.items() if s != 200}
    if not other:
        return "✓", f"all {counts.get(200, 0)} answers were HTTP 200 with an envelope", ""
    listed = ", ".join(f"HTTP {s} ×{n}" for s, n in sorted(other.items()))
    return "✗", listed, "see rest.error_for: each status must map to the right error"


def file_upload(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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
    code, message = first_error(probe)
    return (
        "✗",
        f"code {code} {message!r}" if message else f"no file URL in {sorted(body)}",
        "nothing breaks: image runs send the image in the Run itself (a slower Run, a wider "
        "window for a stop to lose its answer); report this answer",
    )
