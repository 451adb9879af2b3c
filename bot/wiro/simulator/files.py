"""The simulator's output files: a task's clip served as its script says.

`normal` sends it whole; `slow` trickles it chunked without a Content-Length; `oversized` streams
zeros past the size it announces, for the download's byte cap.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.wiro.simulator.tasks import SimTask


async def serve_clip(request: web.Request, task: SimTask, clip: bytes) -> web.StreamResponse:
    """Answer a request for `task`'s clip in the script's download mode."""
    mode = task.script.download
    if mode == "normal":
        return web.Response(body=clip, content_type="video/mp4")
    response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
    if mode == "oversized":
        response.content_length = task.script.oversized_bytes
        await response.prepare(request)
        chunk = bytes(64 * 1024)
        sent = 0
        while sent < task.script.oversized_bytes:
            piece = chunk[: task.script.oversized_bytes - sent]
            await response.write(piece)
            sent += len(piece)
        return response
    # slow: chunked (no Content-Length), trickled in small pieces.
    response.enable_chunked_encoding()
    await response.prepare(request)
    view = memoryview(clip)
    step = max(1024, len(view) // 20)
    for start in range(0, len(view), step):
        await response.write(bytes(view[start : start + step]))
        await asyncio.sleep(0.01)
    await response.write_eof()
    return response
