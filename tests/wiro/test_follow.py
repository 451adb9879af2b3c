"""Following tasks: socket plus polling, every outcome, every socket fault, deadlines."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.wiro.client import WiroClient
from bot.wiro.errors import TaskDeadlineExceeded
from bot.wiro.models import STAGE_ORDER, StageUpdate, TaskOutcome
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript

from .conftest import collect, submit


def updates(events) -> list[StageUpdate]:
    return [e for e in events if isinstance(e, StageUpdate)]


def assert_monotonic(events) -> None:
    ranks = [STAGE_ORDER[u.stage] for u in updates(events)]
    assert ranks == sorted(ranks)
    pairs = [(u.stage, u.progress) for u in updates(events)]
    assert len(pairs) == len(set(pairs)), "an update repeated without a change"


async def test_success_with_socket_progress(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=0.4))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    outcome = events[-1]
    assert isinstance(outcome, TaskOutcome) and outcome.kind == "succeeded"
    assert outcome.video is not None and outcome.video.content_type == "video/mp4"
    assert outcome.video.url.startswith(f"http://{sim.output_host}:")
    assert outcome.video.size == len(sim.tasks[accepted.task_id].clip)
    assert outcome.total_cost_usd == pytest.approx(0.28)
    assert outcome.reason is None
    assert_monotonic(events)
    socket_progress = [u.progress for u in updates(events) if u.source == "socket" and u.progress]
    # Progress came both as an object and as a JSON-encoded string (alternating in the sim).
    assert {25, 50, 75} <= set(socket_progress)
    assert all(isinstance(e, StageUpdate) for e in events[:-1])


@pytest.mark.parametrize(
    ("outcome", "kind", "reason"),
    [
        ("fail", "failed", "Wiro reported an upstream error: Upstream provider failed"),
        ("empty_outputs", "failed", "the model returned no video"),
        ("upstream_cancel", "cancelled", "the task was cancelled"),
    ],
)
async def test_outcomes(sim: WiroSimulator, client: WiroClient, outcome, kind, reason):
    sim.script_next(TaskScript(outcome=outcome))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    final = events[-1]
    assert isinstance(final, TaskOutcome)
    assert final.kind == kind
    assert final.reason is not None and final.reason.startswith(reason)
    assert final.video is None
    assert len(final.reason) <= 250
    if outcome == "fail":
        assert final.total_cost_usd == 0.0 and not final.billed
    if outcome == "empty_outputs":
        # pexit "0" without a video is billed by Wiro: the cost is kept for the budget.
        assert final.total_cost_usd == pytest.approx(0.28) and final.billed


async def test_silent_socket_polling_delivers(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(ws="silent", generate=0.3))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    assert updates(events) and all(u.source == "poll" for u in updates(events))
    assert_monotonic(events)


async def test_unreachable_socket_polling_delivers(sim: WiroSimulator, make_client):
    wiro = await make_client(sim, socket_url="ws://127.0.0.1:1/v1")
    accepted = await submit(wiro)
    events = await collect(wiro, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    assert sim.ws_connections == 0


async def test_socket_dropped_mid_task_reconnects(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(ws="drop_mid", generate=1.0, finish=0.3))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    assert sim.tasks[accepted.task_id].dropped
    assert sim.ws_connections >= 2
    # task_info was sent again on the new connection.
    assert sim.ws_subscriptions.count(accepted.task_token) >= 2
    assert_monotonic(events)


async def test_malformed_frames_are_ignored(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(ws="malformed", generate=0.4))
    accepted = await submit(client)
    events = await collect(client, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"
    assert all(u.progress is None or 0 <= u.progress <= 100 for u in updates(events))
    assert_monotonic(events)


async def test_deadline_raises(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=30.0))
    accepted = await submit(client)
    started = time.monotonic()
    with pytest.raises(TaskDeadlineExceeded):
        await collect(client, accepted.task_id, accepted.task_token, within=0.5)
    assert time.monotonic() - started < 2.0


async def test_deadline_bounds_a_hanging_detail(sim: WiroSimulator, make_client):
    wiro = await make_client(sim, socket_url="ws://127.0.0.1:1/v1")
    accepted = await submit(wiro)

    async def hang(*args, **kwargs):
        await asyncio.sleep(60)

    wiro.detail = hang  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(TaskDeadlineExceeded):
        await collect(wiro, accepted.task_id, accepted.task_token, within=0.4)
    assert time.monotonic() - started < 2.0


async def test_two_tasks_share_one_socket(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=0.3))
    sim.script_next(TaskScript(generate=0.3, outcome="fail"))
    first, second = await submit(client), await submit(client)
    results = await asyncio.gather(
        collect(client, first.task_id, first.task_token),
        collect(client, second.task_id, second.task_token),
    )
    assert [r[-1].kind for r in results] == ["succeeded", "failed"]
    assert sim.ws_connections == 1


async def test_closing_the_generator_unsubscribes(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=5.0))
    accepted = await submit(client)
    stream = client.follow(accepted.task_id, accepted.task_token, deadline=time.monotonic() + 5)
    first = await anext(stream)
    assert isinstance(first, StageUpdate)
    assert client._hub._by_token and client._hub._by_id
    await stream.aclose()
    assert not client._hub._by_token and not client._hub._by_id
    assert client._hub._runner is None


async def test_cancelling_the_consumer_unsubscribes(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(generate=5.0))
    accepted = await submit(client)
    job = asyncio.create_task(collect(client, accepted.task_id, accepted.task_token))
    await asyncio.sleep(0.3)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert not client._hub._by_token and not client._hub._by_id


async def test_follow_a_finished_task(sim: WiroSimulator, client: WiroClient):
    accepted = await submit(client)
    await collect(client, accepted.task_id, accepted.task_token)
    again = await collect(client, accepted.task_id, accepted.task_token)
    assert len(again) == 1 and again[0].kind == "succeeded"


async def test_kill_seen_by_follow(sim: WiroSimulator, client: WiroClient):
    sim.script_next(TaskScript(queue=0.0, generate=5.0))
    accepted = await submit(client)
    stream = client.follow(accepted.task_id, accepted.task_token, deadline=time.monotonic() + 5)
    seen = [await anext(stream)]
    while seen[-1].stage != "generating":  # Kill applies only after task_assign
        seen.append(await anext(stream))
    assert await client.kill(accepted.task_id)
    async for event in stream:
        seen.append(event)
    assert seen[-1].kind == "cancelled"
