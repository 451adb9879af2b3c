"""The simulator's tasks: what a task does, stage by stage, and the switches that script it.

`TaskScript` is how the next simulated task behaves (delays, outcome, socket and download
faults, refusals); `SimTask` is its Task/Detail record; `drive` plays one task through the
statuses Wiro documents (docs/wiro-protocol.md), sending its frames through the simulator's
sockets. The aiohttp server around it (REST, files, request faults) is `server.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.wiro.simulator.sample_clip import make_sample_clip

if TYPE_CHECKING:
    from bot.wiro.simulator.server import WiroSimulator

log = logging.getLogger(__name__)

Outcome = Literal["success", "fail", "empty_outputs", "upstream_cancel"]
WsMode = Literal["normal", "silent", "drop_mid", "malformed"]
DownloadMode = Literal["normal", "slow", "oversized"]
FrameKeys = Literal["id", "tasktoken", "both"]
# Assumptions `contradict` can break (each makes one line of doctor --live say ✗).
CONTRADICTIONS = frozenset(
    {
        "nested_run",  # Run answers under "data" instead of flat
        "no_terminal_flag",  # the final frame has no "terminal": true
        "output_content_type",  # the video output is typed application/octet-stream
        "ms_timestamps",  # Task/Detail times in milliseconds
        "no_frame_keys",  # frames carry neither id nor tasktoken
        "cost_missing",  # Task/Detail has no totalcost
        "detail_not_found_code0",  # an unknown task is code 0 "task-not-founded"
    }
)

RUNNING = (
    "task_queue",
    "task_accept",
    "task_preprocess_start",
    "task_preprocess_end",
    "task_assign",
    "task_start",
    "task_output",
    "task_end",
    "task_postprocess_start",
)
TERMINAL = ("task_postprocess_end", "task_cancel")
# Kill applies after task_assign; Cancel while queued (and while awaiting a requeue).
KILLABLE = ("task_assign", "task_start", "task_output", "task_end", "task_postprocess_start")
CANCELLABLE = ("task_queue", "task_error")
SENSITIVE_OUTPUT = (
    "Generating video...\n"
    'MiniMax API error: {"status_code": 1026, "status_msg": "input new_sensitive"}\n'
    "Task failed: the request was rejected by content moderation"
)

# Slugs the simulator also answers for, besides minimax/hailuo-2-3: image-to-video only.
FAST_PROJECTS = frozenset({"hailuo-2-3-fast"})


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each stage of a simulated task."""

    queue: float = 0.05
    start: float = 0.05
    generate: float = 0.05
    finish: float = 0.05

    @classmethod
    def realistic(cls) -> Timings:
        """Return sandbox timings: about half a minute, like a short real run."""
        return cls(queue=3.0, start=5.0, generate=24.0, finish=3.0)


@dataclass
class TaskScript:
    """How the next simulated task behaves."""

    queue: float | None = None  # None: the simulator's Timings
    start: float | None = None
    generate: float | None = None
    finish: float | None = None
    outcome: Outcome = "success"
    ws: WsMode = "normal"
    download: DownloadMode = "normal"
    clip: bytes | None = None
    progress: bool = True
    totalcost: str = "0.280000000000"
    cancel_cost: str = "0"  # the totalcost Task/Detail reports once the task is cancelled/killed
    oversized_bytes: int = 3 * 1024 * 1024  # what "oversized" declares and sends
    debugerror: str = "Upstream provider failed to generate the video"
    debugoutput: str = ""  # written to Task/Detail's debugoutput when the task fails
    # Seconds the task sits in Detail status `task_error` before Wiro requeues it (after
    # task_preprocess_start); math.inf: it never recovers (the job's deadline must end it).
    task_error: float | None = None
    cancel_refusals: int = 0  # Cancel is refused this many times even while it would apply
    kill_refusals: int = 0  # Kill is refused this many times even while it would apply
    kill_keys: tuple[str, ...] = ("taskid", "socketaccesstoken")  # Kill bodies understood
    stderr_lines: int = 0  # interim task_error frames sent while generating (Detail unaffected)


@dataclass
class RecordedRun:
    """One Run the simulator received."""

    path: str
    content_type: str
    fields: dict[str, str]
    image: bytes | None = None
    image_field: str | None = None
    image_filename: str | None = None
    image_content_type: str | None = None
    image_url: str | None = None  # the File/Upload URL the Run named instead of sending bytes
    task_id: str | None = None


@dataclass
class Upload:
    """One file the simulator received through File/Upload."""

    data: bytes
    filename: str
    content_type: str
    url: str


@dataclass
class SimTask:
    """A simulated task and its Task/Detail record."""

    task_id: str
    token: str
    script: TaskScript
    params: dict[str, str]
    status: str = "task_queue"
    pexit: str = ""
    debugerror: str = ""
    debugoutput: str = ""
    totalcost: str = "0"
    outputs: list[dict[str, Any]] = field(default_factory=list)
    clip: bytes | None = None
    createtime: int = field(default_factory=lambda: int(time.time()))
    starttime: int = 0
    endtime: int = 0
    canceltime: int = 0
    runner: asyncio.Task[None] | None = None
    dropped: bool = False
    image_field: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Say whether the task has finished."""
        return self.status in TERMINAL


def task_frame(
    task: SimTask,
    kind: str,
    message: Any,
    *,
    result: bool,
    terminal: bool,
    keys: FrameKeys,
    contradict: set[str],
) -> dict[str, Any]:
    """Build one task frame in Wiro's base shape (keyed by `id` only unless told)."""
    frame: dict[str, Any] = {"type": kind}
    used = "none" if "no_frame_keys" in contradict else keys
    if used in ("id", "both"):
        frame["id"] = task.task_id
    if used in ("tasktoken", "both"):
        frame["tasktoken"] = task.token
    frame.update(message=message, result=result, success=result)
    if terminal and "no_terminal_flag" not in contradict:
        frame["terminal"] = True
        frame["exitCode"] = 0 if task.pexit == "0" else 1
    else:
        frame["terminal"] = False
    return frame


def malformed_burst(task: SimTask) -> list[str | bytes]:
    """Return the junk a `ws="malformed"` task sends before each real frame.

    Not JSON, binary, a list, a final frame of another task (by id, then by a foreign token
    carrying this task's id) and a progress without a number: the client must ignore them all."""
    return [
        "{not json",
        b"\x00\x01binary",
        json.dumps(["a", "list"]),
        json.dumps({"type": "task_postprocess_end", "id": "1", "message": []}),
        json.dumps(
            {
                "type": "task_postprocess_end",
                "tasktoken": "someone-else",
                "id": task.task_id,
                "message": [],
                "terminal": True,
            }
        ),
        json.dumps({"type": "task_output", "id": task.task_id, "message": {"percentage": "n/a"}}),
    ]


async def drive(sim: WiroSimulator, task: SimTask, record: RecordedRun) -> None:
    """Play one task through its script: statuses, socket frames, Detail fields, outputs."""
    script, timing = task.script, sim.timings

    def delay(value: float | None, default: float) -> float:
        return default if value is None else value

    queue_s = delay(script.queue, timing.queue)
    start_s = delay(script.start, timing.start)
    gen_s = delay(script.generate, timing.generate)
    finish_s = delay(script.finish, timing.finish)

    async def advance(*statuses: str) -> None:
        for status in statuses:
            task.status = status
            await sim.emit(task, status, None)
            await asyncio.sleep(start_s / 4)

    async def queue_and_accept() -> None:
        await sim.emit(task, "task_queue", None)
        await asyncio.sleep(queue_s)
        await advance("task_accept", "task_preprocess_start")

    clip_job = asyncio.get_running_loop().create_task(_clip_for(sim, task, record))
    try:
        await queue_and_accept()
        if script.task_error is not None:
            # A pre-execution failure awaiting recovery: Detail shows task_error, the
            # socket an interim task_error line; then Wiro requeues the task.
            task.status, task.debugerror = "task_error", "Output folder creation failed"
            await sim.emit(task, "task_error", "Output folder creation failed")
            if math.isinf(script.task_error):
                await asyncio.Event().wait()  # until Cancel/Kill ends it
            await asyncio.sleep(script.task_error)
            task.status, task.debugerror = "task_queue", ""
            await queue_and_accept()
        await advance("task_preprocess_end", "task_assign")
        task.status, task.starttime = "task_start", int(time.time())
        await sim.emit(task, "task_start", None)
        steps = 4
        for step in range(1, steps + 1):
            await asyncio.sleep(gen_s / steps)
            if step == steps // 2:
                if script.ws == "drop_mid" and not task.dropped:
                    task.dropped = True
                    await sim.sockets.drop(task)
                if script.outcome == "upstream_cancel":
                    await sim.end_cancelled(task)
                    clip_job.cancel()
                    return
            percent = step * 100 // steps
            if step == 1:
                for line in range(script.stderr_lines):
                    await sim.emit(task, "task_error", f"warning: retrying chunk {line}")
            if script.progress:
                progress = {
                    "type": "progressGenerate",
                    "task": "Generate",
                    "percentage": str(percent),
                    "stepCurrent": str(step),
                    "stepTotal": str(steps),
                }
                # Wiro sends progress as an object, a JSON-encoded string, or a line with
                # "NN%" in it: all three, in turn.
                message: Any = (progress, json.dumps(progress), f"Generating: {percent}%")[step % 3]
                await sim.emit(task, "task_output", message)
                bar = "=" * (percent // 10) + "-" * (10 - percent // 10)
                task.debugoutput += f"Processing: [{bar}] {percent:.1f}%\n"
            else:
                await sim.emit(task, "task_output", "generating video")
        await sim.emit(task, "task_output_full", {"raw": "generating video\n"})
        if script.outcome == "fail":
            await sim.emit(task, "task_error", script.debugerror)
            await sim.emit(task, "task_error_full", {"raw": script.debugerror})
        task.status, task.endtime = "task_end", int(time.time())
        await sim.emit(task, "task_end", None)
        await asyncio.sleep(finish_s / 2)
        task.status = "task_postprocess_start"
        await sim.emit(task, "task_postprocess_start", None)
        await asyncio.sleep(finish_s / 2)
        if script.outcome == "success":
            task.clip = await clip_job
            size = script.oversized_bytes if script.download == "oversized" else len(task.clip)
            content_type = (
                "application/octet-stream"
                if "output_content_type" in sim.contradict
                else "video/mp4"
            )
            task.outputs = [
                {
                    "id": secrets.token_hex(16),
                    "name": "0.mp4",
                    "contenttype": content_type,
                    "size": str(size),
                    "ispublic": 0,
                    "expiretime": None,
                    "url": f"{sim.files_url}/{task.task_id}/0.mp4",
                }
            ]
            task.pexit, task.totalcost = "0", script.totalcost
        elif script.outcome == "empty_outputs":
            # pexit "0" without a video: Wiro bills it all the same.
            clip_job.cancel()
            task.pexit, task.totalcost = "0", script.totalcost
            task.debugoutput += script.debugoutput
        else:  # fail: not billed
            clip_job.cancel()
            task.pexit, task.totalcost, task.debugerror = "1", "0", script.debugerror
            task.debugoutput += script.debugoutput
        task.status = "task_postprocess_end"
        await sim.emit(
            task,
            "task_postprocess_end",
            list(task.outputs),
            result=task.pexit == "0",
            terminal=True,
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("task %s: simulator failed", task.task_id)
        task.status, task.pexit, task.debugerror = (
            "task_postprocess_end",
            "1",
            "simulator failure",
        )
    finally:
        if not clip_job.done():
            clip_job.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await clip_job


async def _clip_for(sim: WiroSimulator, task: SimTask, record: RecordedRun) -> bytes:
    if task.script.clip is not None:
        return task.script.clip
    if not sim.sandbox:
        return await sim.default_clip()
    width, height = 640, 360
    if record.image:
        width, height = _fit_aspect(record.image, 640)
    seconds = 10.0 if task.params.get("duration") == "10" else 6.0
    return await asyncio.to_thread(
        make_sample_clip,
        width=width,
        height=height,
        seconds=seconds,
        caption=task.params.get("prompt", "")[:80],
    )


def _fit_aspect(image: bytes, long_side: int) -> tuple[int, int]:
    """Return even clip dimensions with the image's aspect ratio and the given long side."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as img:
            width, height = img.size
    except Exception:
        return long_side, long_side * 9 // 16
    if width >= height:
        w, h = long_side, max(2, round(long_side * height / width))
    else:
        w, h = max(2, round(long_side * width / height)), long_side
    return w - w % 2, h - h % 2
