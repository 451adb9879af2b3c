"""What the simulated Wiro answers: the error envelope, a task's Task/Detail record, Tool/Detail.

Shaped like Wiro's own answers (docs/wiro-protocol.md), numbers as strings included; the
`contradict` switches that break an assumption for `doctor --live` change them here.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from bot.wiro.simulator.tasks import FAST_PROJECTS, SimTask


def envelope_error(code: int, message: str, status: int = 200) -> web.Response:
    """Answer with Wiro's error envelope (`result: false` and one error)."""
    return web.json_response(
        {"result": False, "errors": [{"code": code, "message": message}]}, status=status
    )


def task_record(task: SimTask, *, echo_image: bool, contradict: set[str]) -> dict[str, Any]:
    """Return a task as Task/Detail (and Cancel, Kill) list it."""
    elapsed = max(0, (task.endtime or int(time.time())) - (task.starttime or task.createtime))
    params: dict[str, Any] = dict(task.params)
    if task.image_field and echo_image:
        # Uploaded inputs come back as File URLs under the field's name.
        params[task.image_field] = (
            f"https://api.wiro.ai/v1/File/{task.token[:12]}/{task.image_field}-1.png"
        )
    scale = 1000 if "ms_timestamps" in contradict else 1

    def when(value: int) -> str:
        return str(value * scale)

    record = {
        "id": task.task_id,
        "uuid": "00000000-0000-4000-8000-000000000000",
        "name": "",
        "socketaccesstoken": task.token,
        "parameters": params,
        "debugoutput": task.debugoutput,
        "debugerror": task.debugerror,
        "status": task.status,
        "pexit": task.pexit,
        "createtime": when(task.createtime),
        "starttime": when(task.starttime),
        "endtime": when(task.endtime),
        "canceltime": when(task.canceltime),
        "elapsedseconds": f"{elapsed:.4f}" if task.starttime else "0",
        "cps": "0.000585000000",
        "totalcost": task.totalcost,
        "projectid": "699",
        "modelid": "598",
        "runtype": "model",
        "callbackurl": "",
        "guestid": None,
        "marketplaceid": None,
        "categories": '["video","image-to-video"]',
        "modelslugowner": "minimax",
        "modelslugproject": "hailuo-2-3",
        "outputs": list(task.outputs),
        "size": str(sum(int(o["size"]) for o in task.outputs)),
    }
    if "cost_missing" in contradict:
        del record["totalcost"]
    return record


def tool_record(
    project: str,
    *,
    image_field_id: str,
    image_field_type: str,
    parameters_null: bool,
    dynamicprice: list[dict[str, Any]],
) -> dict[str, Any]:
    """Return a model as Tool/Detail lists it: its fields, choices and prices."""
    fast = project in FAST_PROJECTS

    def select(item_id: str, values: list[str], default: str, note: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "type": "select",
            "label": item_id,
            "required": True,
            "default": default,
            "note": note,
            "options": [{"value": v, "label": v} for v in values],
        }

    tool = {
        "id": "598",
        "title": "Hailuo 2.3 Fast" if fast else "Hailuo 2.3",
        "slugowner": "MiniMax",
        "slugproject": "hailuo-2.3-fast" if fast else "hailuo-2.3",
        "cleanslugowner": "minimax",
        "cleanslugproject": project,
        "description": "MiniMax Hailuo 2.3 Fast image to video"
        if fast
        else "MiniMax Hailuo 2.3 text/image to video",
        "computingtime": "120 seconds",
        "categories": ["video", "image-to-video", "text-to-video"],
        "parameters": None
        if parameters_null
        else [
            {
                "title": "Input",
                "items": [
                    {
                        "id": image_field_id,
                        "type": image_field_type,
                        "label": "Image First",
                        "required": fast,
                        "note": "The output video will have the aspect ratio of this image.",
                    },
                    {
                        "id": "prompt",
                        "type": "textarea",
                        "label": "Prompt",
                        "required": True,
                        "note": "The prompt to generate the video.",
                    },
                ],
            },
            {
                "title": "Settings",
                "items": [
                    select("promptOptimizer", ["true", "false"], "true", ""),
                    select(
                        "resolution",
                        ["768P", "1080P"],
                        "768P",
                        "1080P resolution can only produce 6s videos.",
                    ),
                    select(
                        "duration",
                        ["6", "10"],
                        "6",
                        "10 seconds videos only available for 768P.",
                    ),
                ],
            },
        ],
        "dynamicprice": json.dumps(dynamicprice),
        "cps": "0.000585000000",
        "taskstat": {"runcount": 1234, "successcount": "1200"},
    }
    return tool
