"""Sandbox mode: unsigned, always succeeds, clip shaped like the first frame."""

from __future__ import annotations

import io

import av
from PIL import Image

from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript, Timings

from .conftest import collect, submit


def image(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, "JPEG")
    return out.getvalue()


def test_sandbox_default_timings_are_realistic():
    total = Timings.realistic()
    assert 25 <= total.queue + total.start + total.generate + total.finish <= 40
    assert WiroSimulator(sandbox=True).timings == total


async def test_sandbox_portrait_first_frame(make_client, tmp_path):
    sim = WiroSimulator(sandbox=True, timings=Timings(0.02, 0.02, 0.05, 0.02))
    await sim.start()
    try:
        sim.script_next(TaskScript(outcome="fail"))  # ignored: the sandbox always succeeds
        wiro = await make_client(sim, api_key=None, api_secret=None)
        accepted = await submit(wiro, image=image(600, 1000), image_content_type="image/jpeg")
        events = await collect(wiro, accepted.task_id, accepted.task_token, within=20)
        assert events[-1].kind == "succeeded"
        dest = tmp_path / "clip.mp4"
        await wiro.download(events[-1].video.url, dest, max_bytes=50_000_000)
        with av.open(str(dest)) as container:
            stream = container.streams.video[0]
            assert stream.height > stream.width  # portrait, like the first frame
            assert abs(stream.width / stream.height - 0.6) < 0.02
            assert abs(float(container.duration / 1_000_000) - 6.0) < 0.5
    finally:
        await sim.stop()


async def test_sandbox_text_only_is_landscape(make_client, tmp_path):
    sim = WiroSimulator(sandbox=True, timings=Timings(0.02, 0.02, 0.05, 0.02))
    await sim.start()
    try:
        wiro = await make_client(sim, api_key=None, api_secret=None)
        accepted = await submit(wiro)
        events = await collect(wiro, accepted.task_id, accepted.task_token, within=20)
        dest = tmp_path / "clip.mp4"
        await wiro.download(events[-1].video.url, dest, max_bytes=50_000_000)
        with av.open(str(dest)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (640, 360)
    finally:
        await sim.stop()


async def test_stop_cleans_up_running_tasks(make_client):
    sim = WiroSimulator(timings=Timings(queue=10.0))
    await sim.start()
    wiro = await make_client(sim)
    accepted = await submit(wiro)
    runner = sim.tasks[accepted.task_id].runner
    await sim.stop()
    assert runner is not None and runner.done()
