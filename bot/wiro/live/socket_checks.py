"""The live checks of Wiro's task socket: routing, the terminal flag, progress, the event
types, one connection for the whole run (numbers as in docs/wiro-assumptions.md).
"""

from __future__ import annotations

from bot.wiro.debug_text import progress_in
from bot.wiro.lenient import loose_bool, loose_str
from bot.wiro.live.record import Mark, Trace
from bot.wiro.models import KNOWN_EVENTS


def frames_routable(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def terminal_flag(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def progress(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
    outputs = [f for f in t.task_frames if f.get("type") == "task_output"]
    numbers = [p for f in outputs if (p := progress_in(f.get("message"))) is not None]
    from_detail = [d.progress for d in t.task_details if d.progress is not None]
    if numbers or from_detail:
        where = "task_output" if numbers else "Task/Detail debugoutput"
        return "✓", f"percentages from {where} (last {(numbers or from_detail)[-1]}%)", ""
    return "not seen", f"{len(outputs)} task_output frames, none with a percentage", ""


def known_events(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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


def socket_stable(t: Trace, hosts: tuple[str, ...]) -> tuple[Mark, str, str]:
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
