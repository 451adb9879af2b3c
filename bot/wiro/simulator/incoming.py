"""What comes into the simulator's REST side: request bodies, and the faults injected for them.

The REST middleware reads every body once (`read_body`), records it and stores it under `BODY`;
handlers then take its fields with `json_of`. `RequestFaults` holds what tests injected for the
next calls to a path (an HTTP status, a dropped connection, a gateway page), answered first.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from aiohttp import BodyPartReader, web

BODY = web.RequestKey("wiro_body", dict)


async def read_body(request: web.Request) -> dict[str, Any]:
    """Read a request's body: JSON, or multipart fields and files (as Wiro takes both)."""
    result: dict[str, Any] = {"multipart": False, "json": None, "fields": {}, "files": []}
    if request.content_type.startswith("multipart/"):
        result["multipart"] = True
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: Wiro's clients never send it
            data = await part.read()
            name = part.name or ""
            if part.filename:
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                result["files"].append((name, bytes(data), part.filename, ctype))
            else:
                result["fields"][name] = bytes(data).decode("utf-8", "replace")
        return result
    raw = await request.read()
    try:
        result["json"] = json.loads(raw) if raw else {}
    except ValueError:
        result["json"] = None
    return result


def json_of(request: web.Request) -> dict[str, Any]:
    """Return the fields of a request read by the middleware (JSON or multipart), or {}."""
    body = request[BODY]
    data = body["fields"] if body["multipart"] else body["json"]
    return data if isinstance(data, dict) else {}


class RequestFaults:
    """Faults to answer the next calls to a path with, in the order they were injected."""

    def __init__(self) -> None:
        # Per path prefix: an HTTP status as text, "disconnect" or "nonjson".
        self._queues: dict[str, deque[str]] = {}

    def add(self, path: str, action: int | str, count: int) -> None:
        """Answer the next `count` calls to `path` with `action`."""
        queue = self._queues.setdefault(path, deque())
        queue.extend(str(action) for _ in range(count))

    def answer(self, request: web.Request, path: str) -> web.StreamResponse | None:
        """Take the next fault injected for `path` and answer with it; None if there is none."""
        for prefix, queue in self._queues.items():
            if path.startswith(prefix) and queue:
                action = queue.popleft()
                if action == "disconnect":
                    assert request.transport is not None
                    request.transport.close()
                    raise web.HTTPInternalServerError()  # never delivered: the socket is gone
                if action == "nonjson":
                    return web.Response(text="<html>Bad Gateway</html>", status=502)
                status = int(action)
                headers = {"Retry-After": "0"} if status == 429 else None
                return web.json_response(
                    {"result": False, "errors": [{"code": 0, "message": "Server error"}]},
                    status=status,
                    headers=headers,
                )
        return None
