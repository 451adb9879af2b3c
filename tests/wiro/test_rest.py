"""Every REST endpoint of the client against the simulator on loopback."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot.wiro.client import WiroClient
from bot.wiro.errors import (
    WiroAuthError,
    WiroConcurrencyLimit,
    WiroError,
    WiroInsufficientBalance,
    WiroRateLimited,
    WiroServerError,
    WiroTransportError,
    WiroValidationError,
)
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript

from .conftest import KEY, SECRET, collect, eventually, submit


def png(width: int = 400, height: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    return out.getvalue()


def count(sim: WiroSimulator, prefix: str) -> int:
    return sum(1 for path, _ in sim.requests if path.startswith(prefix))


async def test_tool_detail_reads_schema_and_prices(client: WiroClient):
    tool = client.tool
    assert not tool.from_fallback
    assert (tool.image_field_id, tool.image_field_type) == ("inputImage", "combinefileinput")
    assert tool.resolutions == ("768P", "1080P") and tool.durations == ("6", "10")
    assert tool.price_for("768P", 6) == 0.28
    assert tool.price_for("768P", 10) == 0.56
    assert tool.price_for("1080P", 6) == 0.49
    assert tool.price_for("1080P", 10) is None


async def test_start_falls_back_when_tool_detail_fails(sim: WiroSimulator, make_client):
    sim.inject("/Tool/Detail", 503, count=3)
    wiro = await make_client(sim)
    assert wiro.tool.from_fallback
    assert wiro.tool.image_field_id == "inputImage"
    assert count(sim, "/Tool/Detail") == 3  # retried, bounded


async def test_an_image_run_reads_the_schema_again_when_start_used_the_fallback(
    sim: WiroSimulator, make_client
):
    sim.inject("/Tool/Detail", 503, count=3)
    sim.image_field_id, sim.image_field_type = "inputImageFirst", "fileinput"
    wiro = await make_client(sim)
    assert wiro.tool.from_fallback and wiro.tool.image_field_id == "inputImage"
    await wiro.run(
        prompt="p", resolution="768P", duration=6, prompt_optimizer=True, image=b"\x89PNG"
    )
    assert not wiro.tool.from_fallback
    assert sim.runs[-1].image_field == "inputImageFirst"  # the real field, not the guess


async def test_start_does_not_wait_long_for_a_silent_wiro(
    sim: WiroSimulator, make_client, monkeypatch
):
    import bot.wiro.client as client_module

    async def hang(self: WiroClient) -> None:
        await asyncio.sleep(3600)  # Wiro accepts the connection and never answers

    monkeypatch.setattr(client_module, "SCHEMA_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(WiroClient, "tool_detail", hang)
    loop = asyncio.get_running_loop()
    started = loop.time()
    wiro = await make_client(sim)
    assert loop.time() - started < 2.0
    assert wiro.tool.from_fallback


async def test_run_json_sends_strings(sim: WiroSimulator, client: WiroClient):
    accepted = await submit(client, duration=10, prompt_optimizer=False)
    run = sim.runs[-1]
    assert run.content_type == "json" and run.image is None
    assert run.path == "/v1/Run/minimax/hailuo-2-3"
    assert run.fields == {
        "prompt": "a red fox running through snow",
        "resolution": "768P",
        "duration": "10",
        "promptOptimizer": "false",
    }
    assert accepted.task_id == run.task_id
    assert len(accepted.task_token) == 30 and accepted.task_token.isalnum()
    assert accepted.task_token not in repr(accepted)


async def test_run_multipart_combinefileinput(sim: WiroSimulator, client: WiroClient):
    image = png()
    await submit(client, image=image, image_filename="frame.png")
    run = sim.runs[-1]
    assert run.content_type == "multipart"
    assert (run.image, run.image_field, run.image_filename) == (image, "inputImage", "frame.png")
    assert run.image_content_type == "image/png"
    assert run.fields["promptOptimizer"] == "true" and run.fields["duration"] == "6"
    assert "inputImageUrl" not in run.fields


async def test_run_multipart_fileinput_sends_empty_url_twin(sim: WiroSimulator, make_client):
    sim.image_field_id, sim.image_field_type = "inputImageFirst", "fileinput"
    wiro = await make_client(sim)
    assert wiro.tool.image_field_id == "inputImageFirst"
    await submit(wiro, image=png())
    run = sim.runs[-1]
    assert run.image_field == "inputImageFirst"
    assert run.fields["inputImageFirstUrl"] == ""


# --- File/Upload, then a Run that names the file by URL (a small JSON body) ------------------
async def test_upload_returns_the_file_url_and_the_run_names_it(
    sim: WiroSimulator, client: WiroClient
):
    image = png()
    assert client.uploads_first()
    url = await client.upload(image, filename="frame.png", content_type="image/png")
    assert url in sim.uploads and sim.uploads[url].data == image
    assert count(sim, "/Run") == 0  # an upload is not a Run: nothing is billed yet
    await submit(client, image_url=url)
    run = sim.runs[-1]
    assert run.content_type == "json"
    assert (run.image, run.image_field, run.image_url) == (image, "inputImage", url)
    (_, body) = [r for r in sim.requests if r[0].startswith("/Run")][-1]
    assert body["inputImage"] == [url]  # combinefileinput: URLs go in the one field
    assert await client.detail(task_id=run.task_id or "") is not None


async def test_a_fileinput_run_names_the_url_in_the_url_twin(sim: WiroSimulator, make_client):
    sim.image_field_id, sim.image_field_type = "inputImageFirst", "fileinput"
    wiro = await make_client(sim)
    url = await wiro.upload(png(), filename="frame.png", content_type="image/png")
    await submit(wiro, image_url=url)
    (_, body) = [r for r in sim.requests if r[0].startswith("/Run")][-1]
    assert (body["inputImageFirst"], body["inputImageFirstUrl"]) == ("", url)
    assert sim.runs[-1].image_field == "inputImageFirst"


async def test_uploads_are_not_used_for_a_field_without_urls_or_an_unknown_schema(
    sim: WiroSimulator, make_client
):
    sim.image_field_id, sim.image_field_type = "inputImages", "multifileinput"
    assert not (await make_client(sim)).uploads_first()
    sim.inject("/Tool/Detail", 503, count=3)
    assert not (await make_client(sim)).uploads_first()  # run() asks Tool/Detail again first


async def test_a_refused_upload_turns_uploads_off_for_a_while_a_broken_one_does_not(
    sim: WiroSimulator, client: WiroClient
):
    sim.inject("/File/Upload", "disconnect", count=3)
    with pytest.raises(WiroTransportError):
        await client.upload(png(), filename="f.png", content_type="image/png")
    sim.inject("/File/Upload", 503, count=3)
    with pytest.raises(WiroServerError):
        await client.upload(png(), filename="f.png", content_type="image/png")
    assert client.uploads_first()  # the network or an outage, not Wiro's answer
    sim.upload_refusal = "invalid-parameters"
    with pytest.raises(WiroError):
        await client.upload(png(), filename="f.png", content_type="image/png")
    assert not client.uploads_first()
    assert not client.for_project("hailuo-2-3-fast").uploads_first()  # the same account


async def test_run_takes_the_image_as_bytes_or_as_a_url_not_both(client: WiroClient):
    with pytest.raises(ValueError, match="not both"):
        await submit(client, image=png(), image_url="https://cdn1.wiro.ai/x.png")


async def test_run_rejects_1080p_10s_as_validation(sim: WiroSimulator, client: WiroClient):
    with pytest.raises(WiroValidationError) as info:
        await submit(client, resolution="1080P", duration=10)
    assert info.value.code == 0
    assert len(sim.runs) == 1


async def test_busy_for_first_runs_then_accepted(sim: WiroSimulator, client: WiroClient):
    sim.busy_runs = 2
    for _ in range(2):
        with pytest.raises(WiroConcurrencyLimit) as info:
            await submit(client)
        assert info.value.code == 96 and info.value.status == 200
    accepted = await submit(client)
    assert accepted.task_id
    assert len(sim.runs) == 3  # one request per call: a 96 is never retried


async def test_insufficient_balance(sim: WiroSimulator, client: WiroClient):
    sim.insufficient_balance = True
    with pytest.raises(WiroInsufficientBalance) as info:
        await submit(client)
    assert info.value.code == 97


async def test_run_500_is_not_retried(sim: WiroSimulator, client: WiroClient):
    sim.inject("/Run", 500, count=3)
    with pytest.raises(WiroServerError):
        await submit(client)
    assert count(sim, "/Run") == 1


@pytest.mark.parametrize("fault", ["nonjson", "disconnect"])
async def test_run_transport_failure_may_have_submitted(sim, client, fault):
    sim.inject("/Run", fault, count=3)
    with pytest.raises(WiroTransportError) as info:
        await submit(client)
    assert info.value.maybe_submitted is True
    assert count(sim, "/Run") == 1


async def test_run_connection_refused_was_not_submitted(sim: WiroSimulator, make_client):
    # Port 1 on loopback refuses connections: nothing can have reached Wiro.
    wiro = await make_client(sim, api_base="http://127.0.0.1:1/v1")
    assert wiro.tool.from_fallback
    with pytest.raises(WiroTransportError) as info:
        await submit(wiro)
    assert info.value.maybe_submitted is False


async def test_detail_by_token_and_by_id(sim: WiroSimulator, client: WiroClient):
    accepted = await submit(client)
    by_token = await client.detail(task_token=accepted.task_token)
    by_id = await client.detail(task_id=accepted.task_id)
    assert by_token is not None and by_id is not None
    assert by_token.task_id == by_id.task_id == accepted.task_id
    assert by_token.status.startswith("task_")
    assert by_token.create_time and by_token.create_time > 1_700_000_000
    assert by_token.outcome() is None


async def test_detail_unknown_is_none(client: WiroClient):
    assert await client.detail(task_token="x" * 30) is None
    assert await client.detail(task_id="999999999") is None


async def test_detail_retries_5xx_and_429(sim: WiroSimulator, client: WiroClient):
    accepted = await submit(client)
    sim.inject("/Task/Detail", 503)
    sim.inject("/Task/Detail", 429)
    found = await client.detail(task_id=accepted.task_id)
    assert found is not None
    assert count(sim, "/Task/Detail") == 3


async def test_detail_retries_are_bounded(sim: WiroSimulator, client: WiroClient):
    sim.inject("/Task/Detail", 503, count=5)
    with pytest.raises(WiroServerError) as info:
        await client.detail(task_id="1")
    assert info.value.status == 503
    assert count(sim, "/Task/Detail") == 3


async def test_rate_limited_error_carries_retry_after(sim: WiroSimulator, client: WiroClient):
    sim.inject("/Task/Detail", 429, count=3)
    with pytest.raises(WiroRateLimited) as info:
        await client.detail(task_id="1")
    assert info.value.retry_after == 0.0


async def test_cancel_while_queued_then_not_cancellable(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=5.0))
    accepted = await submit(client)
    assert await client.cancel(accepted.task_id) is True
    assert sim.tasks[accepted.task_id].status == "task_cancel"
    assert await client.cancel(accepted.task_id) is False
    assert await client.kill(accepted.task_id) is False  # already ended
    assert sim.requests[-1] == ("/Task/Kill", {"taskid": accepted.task_id})


async def test_kill_running_task(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=0.0, generate=5.0))
    accepted = await submit(client)
    # Kill applies only after task_assign: wait (bounded) for the task to start.
    await eventually(lambda: sim.tasks[accepted.task_id].status == "task_start")
    assert await client.cancel(accepted.task_id) is False
    assert await client.kill(accepted.task_id) is True
    detail = await client.detail(task_token=accepted.task_token)
    assert detail is not None and detail.outcome() is not None
    assert detail.outcome().kind == "cancelled"


async def test_stop_while_queued_uses_cancel(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=5.0))
    accepted = await submit(client)
    confirmed = await client.stop(accepted.task_id, accepted.task_token)
    stops = [(p, b) for p, b in sim.requests if p in ("/Task/Cancel", "/Task/Kill")]
    assert stops == [("/Task/Cancel", {"taskid": accepted.task_id})]
    assert sim.tasks[accepted.task_id].status == "task_cancel"
    assert confirmed is not None and confirmed.status == "task_cancel"


async def test_stop_while_running_uses_kill(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=0.0, generate=5.0))
    accepted = await submit(client)
    await eventually(lambda: sim.tasks[accepted.task_id].status == "task_start")
    await client.stop(accepted.task_id, accepted.task_token)
    paths = [p for p, _ in sim.requests if p in ("/Task/Cancel", "/Task/Kill")]
    assert paths == ["/Task/Kill"]
    assert sim.tasks[accepted.task_id].status == "task_cancel"
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "cancelled"


async def test_stop_finished_task_does_nothing(sim: WiroSimulator, client: WiroClient):
    accepted = await submit(client)
    await collect(client, accepted.task_id, accepted.task_token)
    await client.stop(accepted.task_id, accepted.task_token)
    assert count(sim, "/Task/Cancel") == count(sim, "/Task/Kill") == 0


# ---------------------------------------------------------------- signatures


async def test_signed_calls_accepted(signed_sim: WiroSimulator, make_client):
    wiro = await make_client(signed_sim)
    assert not wiro.tool.from_fallback
    accepted = await submit(wiro)
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"


@pytest.mark.parametrize(
    ("key", "secret"),
    [(KEY, "wrong-secret"), ("wrong-key", SECRET), (None, None), (SECRET, KEY)],
)
async def test_bad_signature_is_auth_error(signed_sim: WiroSimulator, make_client, key, secret):
    wiro = await make_client(signed_sim, api_key=key, api_secret=secret)
    assert wiro.tool.from_fallback  # start() survived the refusal
    with pytest.raises(WiroAuthError) as info:
        await submit(wiro)
    assert info.value.status == 401
    for text in (str(info.value), repr(info.value), repr(wiro)):
        assert KEY not in text and SECRET not in text


async def test_auth_error_not_swallowed_by_detail(signed_sim: WiroSimulator, make_client):
    wiro = await make_client(signed_sim, api_secret="nope")
    with pytest.raises(WiroAuthError):
        await wiro.detail(task_id="1")


async def test_missing_signature_headers_message(signed_sim: WiroSimulator, make_client):
    wiro = await make_client(signed_sim, api_secret=None)  # key only
    with pytest.raises(WiroAuthError) as info:
        await wiro.detail(task_id="1")
    assert "signature" in info.value.message


async def test_every_request_has_fresh_nonce(signed_sim: WiroSimulator, make_client):
    wiro = await make_client(signed_sim)
    results = await asyncio.gather(*(wiro.detail(task_id=str(i)) for i in range(20)))
    assert results == [None] * 20  # all accepted: no nonce was reused
