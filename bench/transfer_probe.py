"""Measure the bare loopback transfer of one clip: GET it from the simulator into a file, then
POST it as a message attachment to the Discord double. Used by bench_delivery.py as the
"plus transfer" part of the target; runs in its own process, like the bot.

Run: `python bench/transfer_probe.py FILE_URL API_BASE CHANNEL_ID TOKEN [REPEATS]`; prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

CHUNK = 64 * 1024


async def once(session: aiohttp.ClientSession, url: str, post_url: str, token: str) -> dict:
    """Download then upload one clip; return the seconds each took."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        t0 = time.perf_counter()
        async with session.get(url) as resp:
            resp.raise_for_status()
            with path.open("wb") as handle:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    handle.write(chunk)
        t1 = time.perf_counter()
        form = aiohttp.FormData(quote_fields=False)
        payload = {"content": "transfer probe", "attachments": [{"id": 0, "filename": "p.mp4"}]}
        form.add_field("payload_json", json.dumps(payload), content_type="application/json")
        with path.open("rb") as handle:
            form.add_field("files[0]", handle, filename="p.mp4", content_type="video/mp4")
            async with session.post(
                post_url, data=form, headers={"Authorization": f"Bot {token}"}
            ) as resp:
                await resp.read()
                resp.raise_for_status()
        t2 = time.perf_counter()
    return {"download_s": t1 - t0, "upload_s": t2 - t1, "total_s": t2 - t0}


async def main(argv: list[str]) -> int:
    url, api_base, channel_id, token = argv[:4]
    repeats = int(argv[4]) if len(argv) > 4 else 5
    post_url = f"{api_base}/channels/{channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        runs = [await once(session, url, post_url, token) for _ in range(repeats)]
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
