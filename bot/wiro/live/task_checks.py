"""The live checks of the task's record: statuses, the shape of success, the output's host
and download, the cost and price, timestamps, the parameters echo, task_error (numbers as in
docs/wiro-assumptions.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.wiro.lenient import loose_str
from bot.wiro.live.record import Mark, Trace
from bot.wiro.models import STAGE_BY_STATUS, TERMINAL_STATUSES


def known_statuses(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    statuses = {d.status for d in t.task_details}
    known = set(STAGE_BY_STATUS) | TERMINAL_STATUSES | {"task_error"}
    unknown = sorted(s for s in statuses if s not in known)
    if not statuses:
        return "not seen", "", ""
    if unknown:
        return "✗", f"unknown statuses: {', '.join(unknown)}", "map them in STAGE_BY_STATUS"
    return "✓", ", ".join(sorted(statuses)), ""


def success_shape(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def output_host(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    final = t.final
    video = final.video if final is not None else None
    url = video.url if video else ""
    if not url:
        return "not seen", "", ""
    host = (urlsplit(url).hostname or "").lower()
    scheme = urlsplit(url).scheme
    allowed = any(host == h or host.endswith("." + h) for h in hosts)
    if allowed and (scheme == "https" or host in ("127.0.0.1", "localhost")):
        return "✓", f"{scheme}://{host}", ""
    return "✗", f"{scheme}://{host} is not allowed", f"add {host} to WIRO_OUTPUT_HOSTS"


def download(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    done = [r for r in t.records if r.get("kind") == "download"]
    if not done:
        return "not seen", "", ""
    last = done[-1]
    if last.get("bytes"):
        return "✓", f"{last['bytes']} bytes without auth headers", ""
    return "✗", f"download failed: {last.get('error')}", "check WIRO_OUTPUT_HOSTS and the network"


def total_cost(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def price(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def seconds(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    detail = next((d for d in t.task_details if d.create_time), None)
    wall = t.meta.get("started_unix")
    if detail is None or not isinstance(wall, int | float) or detail.create_time is None:
        return "not seen", "", ""
    if abs(detail.create_time - wall) < 2 * 86400:
        return "✓", "createtime is Unix seconds", ""
    if abs(detail.create_time / 1000 - wall) < 2 * 86400:
        return "✗", "createtime is in milliseconds", "divide by 1000 in models._time_or_none"
    return "✗", f"createtime {detail.create_time} is not near now", "check models._time_or_none"


def echo(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def task_error(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    errored = any(d.status == "task_error" for d in t.task_details) or any(
        f.get("type") == "task_error" for f in t.task_frames
    )
    if not errored:
        return "not seen", "Wiro reported no task_error during this run", ""
    final = t.final
    if final is not None:
        return "✓", f"task_error was interim: the task still ended {final.status}", ""
    return "not seen", "task_error seen, the task had not ended", ""
