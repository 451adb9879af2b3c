"""Downloads: streamed to a file, size-capped, host- and scheme-checked."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.wiro.client import WiroClient
from bot.wiro.errors import DownloadRefused, WiroNotFound, WiroServerError
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript

from .conftest import collect, submit


async def finished_video(sim: WiroSimulator, client: WiroClient, **script):
    sim.script_next(TaskScript(**script))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    return accepted, events[-1].video


async def test_download_normal(sim: WiroSimulator, client: WiroClient, tmp_path):
    accepted, video = await finished_video(sim, client)
    dest = tmp_path / "clip.mp4"
    size = await client.download(video.url, dest, max_bytes=10_000_000)
    assert size == dest.stat().st_size == video.size
    assert dest.read_bytes() == sim.tasks[accepted.task_id].clip
    assert dest.read_bytes()[4:8] == b"ftyp"


async def test_download_slow_chunked(sim: WiroSimulator, client: WiroClient, tmp_path):
    accepted, video = await finished_video(sim, client, download="slow")
    dest = tmp_path / "clip.mp4"
    size = await client.download(video.url, dest, max_bytes=10_000_000)
    assert dest.read_bytes() == sim.tasks[accepted.task_id].clip and size == video.size


async def test_download_cap_enforced_while_streaming(sim, client: WiroClient, tmp_path):
    # Chunked answer: no Content-Length, so the cap must stop the stream itself.
    _, video = await finished_video(sim, client, download="slow")
    dest = tmp_path / "clip.mp4"
    with pytest.raises(DownloadRefused) as info:
        await client.download(video.url, dest, max_bytes=video.size // 2)
    assert "limit" in info.value.reason
    assert not dest.exists()


async def test_download_oversized_refused_by_content_length(sim, client, tmp_path):
    _, video = await finished_video(sim, client, download="oversized", oversized_bytes=2_000_000)
    assert video.size == 2_000_000
    dest = tmp_path / "clip.mp4"
    with pytest.raises(DownloadRefused):
        await client.download(video.url, dest, max_bytes=1_000_000)
    assert not dest.exists()


async def test_download_oversized_within_cap(sim, client, tmp_path):
    _, video = await finished_video(sim, client, download="oversized", oversized_bytes=300_000)
    dest = tmp_path / "clip.mp4"
    assert await client.download(video.url, dest, max_bytes=300_000) == 300_000


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example.com/0.mp4", "not an allowed output host"),
        ("https://notwiro.ai/0.mp4", "not an allowed output host"),
        ("https://wiro.ai.evil.com/0.mp4", "not an allowed output host"),
        ("http://cdn1.wiro.ai/0.mp4", "scheme http"),
        ("ftp://cdn1.wiro.ai/0.mp4", "scheme ftp"),
        ("file:///etc/passwd", "no host"),
    ],
)
async def test_download_refused_urls(sim, make_client, tmp_path, url, why):
    wiro = await make_client(sim, output_hosts=("wiro.ai", "127.0.0.1"))
    dest = tmp_path / "clip.mp4"
    with pytest.raises(DownloadRefused) as info:
        await wiro.download(url, dest, max_bytes=1000)
    assert why in info.value.reason
    assert not dest.exists()


async def test_url_checks_accept_allowed_hosts(client: WiroClient):
    client.output_hosts = ("wiro.ai", "127.0.0.1", "localhost")
    for url in (
        "https://cdn1.wiro.ai/x/0.mp4",
        "https://wiro.ai/0.mp4",
        "http://127.0.0.1:8080/files/1/0.mp4",
        "http://localhost/0.mp4",
    ):
        client.check_download_url(url)


async def test_download_loopback_host_not_configured(sim: WiroSimulator, make_client, tmp_path):
    _, video = await finished_video(sim, await make_client(sim))
    wiro = await make_client(sim, output_hosts=("wiro.ai",))
    with pytest.raises(DownloadRefused):
        await wiro.download(video.url, tmp_path / "x.mp4", max_bytes=10_000_000)


async def test_download_missing_file(sim: WiroSimulator, client: WiroClient, tmp_path):
    url = sim.api_base.replace("/v1", "/files/1/0.mp4")
    with pytest.raises(WiroNotFound):
        await client.download(url, tmp_path / "x.mp4", max_bytes=1000)


@pytest.fixture
async def tricky_server():
    """A small server with redirects and flaky answers, for what the simulator does not do."""
    hits = {"flaky": 0}

    async def redirect_away(request):
        raise web.HTTPFound("https://evil.example.com/0.mp4")

    async def redirect_home(request):
        raise web.HTTPFound("/ok")

    async def ok(request):
        return web.Response(body=b"x" * 1000, content_type="video/mp4")

    async def flaky(request):
        hits["flaky"] += 1
        if hits["flaky"] < 3:
            return web.Response(status=503)
        return web.Response(body=b"y" * 500, content_type="video/mp4")

    async def broken(request):
        return web.Response(status=502)

    app = web.Application()
    for path, handler in [
        ("/away", redirect_away),
        ("/home", redirect_home),
        ("/ok", ok),
        ("/flaky", flaky),
        ("/broken", broken),
    ]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


async def test_redirects_are_checked(sim, make_client, tricky_server, tmp_path):
    base, _ = tricky_server
    wiro = await make_client(sim, output_hosts=("127.0.0.1",))
    with pytest.raises(DownloadRefused):
        await wiro.download(base + "/away", tmp_path / "a.mp4", max_bytes=10_000)
    assert await wiro.download(base + "/home", tmp_path / "b.mp4", max_bytes=10_000) == 1000


async def test_download_retries_5xx_bounded(sim, make_client, tricky_server, tmp_path):
    base, hits = tricky_server
    wiro = await make_client(sim, output_hosts=("127.0.0.1",))
    assert await wiro.download(base + "/flaky", tmp_path / "f.mp4", max_bytes=10_000) == 500
    assert hits["flaky"] == 3
    with pytest.raises(WiroServerError):
        await wiro.download(base + "/broken", tmp_path / "g.mp4", max_bytes=10_000)
    assert not (tmp_path / "g.mp4").exists()
