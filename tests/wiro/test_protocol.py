"""The protocol as Wiro documents it today (docs/wiro-protocol.md), client against the simulator.

Frames keyed by `id` only, `"terminal": true`, `task_error` as an interim status, stopping in
every window, "not found" versus permission errors, and never spending on a guessed image field.
"""

from __future__ import annotations

import logging
import math
import time

import pytest

from bot.wiro import following
from bot.wiro.client import WiroClient
from bot.wiro.errors import TaskDeadlineExceeded, WiroPermissionError, WiroSchemaUnavailable
from bot.wiro.models import StageUpdate, TaskOutcome
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from bot.wiro.socket_hub import Subscription

from .conftest import MakeClient, collect, eventually, submit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def updates(events) -> list[StageUpdate]:
    return [e for e in events if isinstance(e, StageUpdate)]


def detail_calls(sim: WiroSimulator, token: str) -> int:
    return sum(1 for p, b in sim.requests if p == "/Task/Detail" and b.get("tasktoken") == token)


def stop_calls(sim: WiroSimulator) -> list[tuple[str, dict]]:
    return [(p, b) for p, b in sim.requests if p in ("/Task/Cancel", "/Task/Kill")]


async def wait_status(sim: WiroSimulator, task_id: str, statuses: tuple[str, ...]) -> None:
    await eventually(lambda: sim.tasks[task_id].status in statuses)


# ---------------------------------------------------------------- socket routing


@pytest.mark.parametrize("keys", ["id", "tasktoken", "both"])
async def test_frames_are_routed_by_id_or_tasktoken(
    sim: WiroSimulator, make_client: MakeClient, keys
):
    sim.frame_keys = keys
    sim.script_next(TaskScript(queue=0.5, generate=0.4))  # subscribed before it starts
    # A slow poll: anything live here came through the socket.
    wiro = await make_client(sim, poll_interval=30.0)
    accepted = await submit(wiro)
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    socket_updates = [u for u in updates(events) if u.source == "socket"]
    assert {"starting", "generating"} <= {u.stage for u in socket_updates}
    assert {25, 50, 75} <= {u.progress for u in socket_updates if u.progress}
    # Opening read + the terminal cue: no polling while the socket works.
    assert detail_calls(sim, accepted.task_token) <= 3
    assert wiro._hub.unrouted == 0


async def test_default_frames_carry_id_and_no_tasktoken(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=0.1))
    accepted = await submit(client)
    await collect(client, accepted.task_id, accepted.task_token)
    frames = [f for _, f in sim.frames_sent]
    assert frames and all("tasktoken" not in f and f["id"] == accepted.task_id for f in frames)
    final = frames[-1]
    assert final["type"] == "task_postprocess_end" and final["terminal"] is True
    assert final["exitCode"] == 0 and final["success"] is True
    assert all(f["terminal"] is False for f in frames[:-1])


def test_route_prefers_tasktoken_over_id(client: WiroClient):
    hub = client._hub
    mine = Subscription("42", "tok-mine")
    hub._by_token["tok-mine"] = [mine]
    hub._by_id["42"] = [mine]
    assert hub.route({"type": "task_start", "id": "42"}) == [mine]
    assert hub.route({"type": "task_start", "id": 42}) == [mine]  # a number on the wire
    assert hub.route({"type": "task_start", "tasktoken": "tok-mine"}) == [mine]
    # Someone else's token with our id: the token decides.
    assert hub.route({"type": "task_start", "tasktoken": "other", "id": "42"}) == []
    assert hub.route({"type": "connected", "version": "1.0"}) == []


async def test_terminal_frame_reads_detail_at_once(sim: WiroSimulator, make_client: MakeClient):
    sim.script_next(TaskScript(generate=0.3, finish=0.2))
    wiro = await make_client(sim, poll_interval=30.0)
    accepted = await submit(wiro)
    seen_at: list[float] = []
    async for _event in wiro.follow(
        accepted.task_id, accepted.task_token, deadline=time.monotonic() + 10
    ):
        seen_at.append(time.monotonic())
    terminal_sent = next(t for t, f in sim.frames_sent if f.get("terminal"))
    assert seen_at[-1] - terminal_sent < 2.0  # the regular read would come after 30 s


async def test_final_event_without_terminal_flag_still_ends_quickly(
    sim: WiroSimulator, make_client: MakeClient
):
    sim.contradict.add("no_terminal_flag")
    sim.script_next(TaskScript(generate=0.2))
    wiro = await make_client(sim, poll_interval=30.0)
    accepted = await submit(wiro)
    started = time.monotonic()
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded" and time.monotonic() - started < 3


async def test_progress_from_debugoutput_when_the_socket_is_silent(
    sim: WiroSimulator, client: WiroClient
):
    sim.script_next(TaskScript(ws="silent", generate=1.2))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    polled = [u.progress for u in updates(events) if u.source == "poll" and u.progress]
    assert polled and set(polled) <= {25, 50, 75, 100}


# ---------------------------------------------------------------- task_error is interim


async def test_task_error_then_recovery_succeeds(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(task_error=0.6, generate=0.2))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert isinstance(events[-1], TaskOutcome) and events[-1].kind == "succeeded"
    flags = [u.retrying for u in updates(events)]
    assert True in flags
    # Retrying is shown, then cleared by the requeue and the progress after it.
    assert flags.index(True) < len(flags) - 1 and flags[-1] is False
    after = updates(events)[flags.index(True) + 1 :]
    assert any(u.stage in ("queued", "starting") for u in after)  # requeued: allowed back


async def test_task_error_that_never_recovers_ends_at_the_deadline_then_stops(
    sim: WiroSimulator, client: WiroClient
):
    sim.script_next(TaskScript(task_error=math.inf))
    accepted = await submit(client)
    events: list = []
    with pytest.raises(TaskDeadlineExceeded):
        async for event in client.follow(
            accepted.task_id, accepted.task_token, deadline=time.monotonic() + 1.0
        ):
            events.append(event)
    assert any(u.retrying for u in updates(events))
    assert not any(isinstance(e, TaskOutcome) for e in events)  # never failed early
    confirmed = await client.stop(accepted.task_id, accepted.task_token)
    assert confirmed is not None and confirmed.status == "task_cancel"


# ---------------------------------------------------------------- stopping


async def test_stop_in_the_window_between_cancel_and_kill_retries(
    sim: WiroSimulator, client: WiroClient
):
    sim.script_next(TaskScript(queue=0.0, start=1.2, generate=5.0))
    accepted = await submit(client)
    await wait_status(sim, accepted.task_id, ("task_accept",))
    confirmed = await client.stop(accepted.task_id, accepted.task_token)
    assert confirmed is not None and confirmed.status == "task_cancel"
    calls = stop_calls(sim)
    # Cancel and Kill were both refused while preprocessing, then Kill went through.
    assert calls[0][0] == "/Task/Cancel" and calls[-1][0] == "/Task/Kill"
    assert len(calls) >= 3


async def test_cancel_refused_while_queued_is_retried(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=5.0, cancel_refusals=1))
    accepted = await submit(client)
    confirmed = await client.stop(accepted.task_id, accepted.task_token)
    assert confirmed is not None and confirmed.status == "task_cancel"
    paths = [p for p, _ in stop_calls(sim)]
    assert (
        paths[0] == "/Task/Cancel"
        and paths[-1] == "/Task/Cancel"
        and paths.count("/Task/Cancel") == 2
    )


async def test_kill_refused_in_one_form_tries_the_other(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=0.0, generate=5.0, kill_keys=("socketaccesstoken",)))
    accepted = await submit(client)
    await wait_status(sim, accepted.task_id, ("task_start",))
    confirmed = await client.stop(accepted.task_id, accepted.task_token)
    assert confirmed is not None and confirmed.status == "task_cancel"
    assert stop_calls(sim) == [
        ("/Task/Kill", {"taskid": accepted.task_id}),
        ("/Task/Kill", {"socketaccesstoken": accepted.task_token}),
    ]


async def test_stop_that_wiro_never_confirms_returns_none(
    sim: WiroSimulator, client: WiroClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(following, "STOP_CONFIRM_SECONDS", 0.5)
    sim.script_next(TaskScript(queue=0.0, generate=30.0, kill_refusals=1000))
    accepted = await submit(client)
    await wait_status(sim, accepted.task_id, ("task_start",))
    assert await client.stop(accepted.task_id, accepted.task_token) is None
    assert sim.tasks[accepted.task_id].status != "task_cancel"


async def test_stop_returns_a_task_that_finished_by_itself(sim: WiroSimulator, client: WiroClient):
    accepted = await submit(client)
    await collect(client, accepted.task_id, accepted.task_token)
    finished = await client.stop(accepted.task_id, accepted.task_token)
    assert finished is not None and finished.status == "task_postprocess_end"
    assert stop_calls(sim) == []


# ---------------------------------------------------------------- errors


async def test_unknown_task_is_none_but_permission_is_raised(
    sim: WiroSimulator, client: WiroClient
):
    assert await client.detail(task_token="nope") is None  # code 1 "There is no task yet."
    sim.contradict.add("detail_not_found_code0")
    assert await client.detail(task_token="nope") is None  # code 0 "task-not-founded"
    sim.detail_permission_denied = True
    with pytest.raises(WiroPermissionError):
        await client.detail(task_token="nope")


async def test_permission_error_ends_follow_at_once(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=5.0))
    accepted = await submit(client)
    sim.detail_permission_denied = True
    started = time.monotonic()
    with pytest.raises(WiroPermissionError):
        await collect(client, accepted.task_id, accepted.task_token, within=20)
    assert time.monotonic() - started < 2
    assert detail_calls(sim, accepted.task_token) == 1  # not polled until the deadline


async def test_content_refusal_is_explained(sim: WiroSimulator, client: WiroClient):
    from bot.wiro.simulator.tasks import SENSITIVE_OUTPUT

    sim.script_next(TaskScript(outcome="fail", debugerror="", debugoutput=SENSITIVE_OUTPUT))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "failed"
    assert events[-1].reason == "Hailuo refused this prompt (or its image) as sensitive content."


# ---------------------------------------------------------------- never spend on a guess


async def test_image_run_refused_while_tool_detail_has_no_file_field(
    sim: WiroSimulator, make_client: MakeClient
):
    sim.tool_parameters_null = True
    wiro = await make_client(sim)
    assert wiro.tool.from_fallback
    with pytest.raises(WiroSchemaUnavailable):
        await submit(wiro, image=PNG)
    assert sim.runs == []  # nothing sent, nothing billed
    text = await submit(wiro)  # text runs are unaffected
    assert text.task_id
    # Tool/Detail is asked again in the background; once it answers, images go through.
    sim.tool_parameters_null = False
    await eventually(lambda: not wiro.tool.from_fallback)
    accepted = await submit(wiro, image=PNG)
    assert sim.runs[-1].image_field == "inputImage" and accepted.task_id


async def test_image_run_refused_while_tool_detail_fails(
    sim: WiroSimulator, make_client: MakeClient
):
    sim.inject("/Tool/Detail", 500, count=9)  # start-up (3 tries) and the inline retry (3)
    wiro = await make_client(sim)
    assert wiro.tool.from_fallback
    with pytest.raises(WiroSchemaUnavailable):
        await submit(wiro, image=PNG)
    assert sim.runs == []
    await eventually(lambda: not wiro.tool.from_fallback)
    await submit(wiro, image=PNG)
    assert len(sim.runs) == 1


@pytest.mark.parametrize(
    ("field_type", "fields"),
    [
        ("fileinput", {"inputImageUrl": ""}),
        ("multifileinput", {"inputImageUrl": ""}),
        ("combinefileinput", {}),
    ],
)
async def test_image_field_encoding(
    sim: WiroSimulator, make_client: MakeClient, field_type, fields
):
    sim.image_field_type = field_type
    wiro = await make_client(sim)
    await submit(wiro, image=PNG)
    run = sim.runs[-1]
    assert run.image == PNG and run.image_field == "inputImage"
    extra = {k: v for k, v in run.fields.items() if k.startswith("inputImage")}
    assert extra == fields


@pytest.mark.parametrize("echo", [True, False])
async def test_warns_when_detail_does_not_echo_the_image(
    sim: WiroSimulator, client: WiroClient, caplog: pytest.LogCaptureFixture, echo
):
    sim.echo_image = echo
    sim.script_next(TaskScript(generate=0.1))
    accepted = await submit(client, image=PNG)
    with caplog.at_level(logging.WARNING, logger="bot.wiro.following"):
        events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    warned = [r for r in caplog.records if "do not show the image field" in r.getMessage()]
    assert len(warned) == (0 if echo else 1)


async def test_a_working_socket_postpones_the_regular_poll(
    sim: WiroSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(following, "SOCKET_POLL_SECONDS", 30.0)
    sim.script_next(TaskScript(queue=0.3, start=0.4, generate=1.6, finish=0.2))
    wiro = await make_client(sim, poll_interval=0.8)
    accepted = await submit(wiro)
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    # The opening read and the final one; without the socket it would be one every 0.8 s.
    assert detail_calls(sim, accepted.task_token) == 2


async def test_a_burst_of_stderr_lines_is_not_a_burst_of_reads(
    sim: WiroSimulator, make_client: MakeClient
):
    sim.script_next(TaskScript(generate=0.8, stderr_lines=25))
    wiro = await make_client(sim, poll_interval=30.0)
    accepted = await submit(wiro)
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    # Opening read, one read for the burst, the final one.
    assert detail_calls(sim, accepted.task_token) <= 3
    flags = [u.retrying for u in updates(events)]
    assert True in flags and flags[-1] is False  # shown, then cleared by the progress after it
