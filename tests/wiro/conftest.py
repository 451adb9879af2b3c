"""Fixtures: a Wiro simulator on loopback and clients pointed at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.wiro import client as client_module
from bot.wiro import following, rest
from bot.wiro.client import WiroClient
from bot.wiro.models import StageUpdate, TaskOutcome
from bot.wiro.simulator.server import WiroSimulator
from tests.factories import serving

KEY = "test-api-key-0123456789"
SECRET = "test-secret-abcdefghijkl"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep retry backoff short so fault tests stay fast."""
    monkeypatch.setattr(rest, "RETRY_BASE_SECONDS", 0.01)
    monkeypatch.setattr(following, "HINTED_POLL_SECONDS", 0.1)
    monkeypatch.setattr(following, "STOP_RETRY_SECONDS", 0.1)
    monkeypatch.setattr(following, "STOP_CONFIRM_SECONDS", 3.0)
    monkeypatch.setattr(client_module, "SCHEMA_RETRY_SECONDS", 0.1)
    monkeypatch.setattr(following, "SOCKET_POLL_SECONDS", 0.6)


@pytest.fixture
async def sim() -> AsyncIterator[WiroSimulator]:
    """Start an unsigned simulator with fast test timings."""
    async with serving(WiroSimulator()) as simulator:
        yield simulator


@pytest.fixture
async def signed_sim() -> AsyncIterator[WiroSimulator]:
    """Start a simulator that demands Wiro's signature headers."""
    async with serving(WiroSimulator(api_key=KEY, api_secret=SECRET)) as simulator:
        yield simulator


MakeClient = Callable[..., Awaitable[WiroClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Build started clients for a simulator; all are closed at teardown."""
    made: list[WiroClient] = []

    async def build(simulator: WiroSimulator, **overrides: Any) -> WiroClient:
        options: dict[str, Any] = {
            "api_key": simulator.api_key,
            "api_secret": simulator.api_secret,
            "api_base": simulator.api_base,
            "socket_url": simulator.socket_url,
            "output_hosts": (simulator.output_host,),
            "poll_interval": 0.15,
            "request_timeout": 5.0,
        }
        options.update(overrides)
        wiro = WiroClient(**options)
        wiro._hub.backoff_base = 0.05
        made.append(wiro)
        await wiro.start()
        return wiro

    yield build
    for wiro in made:
        await wiro.close()


@pytest.fixture
async def client(sim: WiroSimulator, make_client: MakeClient) -> WiroClient:
    """Return a started client for the unsigned simulator."""
    return await make_client(sim)


async def collect(
    wiro: WiroClient, task_id: str, token: str, *, within: float = 10.0
) -> list[StageUpdate | TaskOutcome]:
    """Follow a task to its end and return everything yielded."""
    events: list[StageUpdate | TaskOutcome] = []
    async for event in wiro.follow(task_id, token, deadline=time.monotonic() + within):
        events.append(event)
    return events


async def submit(wiro: WiroClient, **overrides: Any):
    """Submit a default text-to-video run."""
    args: dict[str, Any] = {
        "prompt": "a red fox running through snow",
        "resolution": "768P",
        "duration": 6,
        "prompt_optimizer": True,
    }
    args.update(overrides)
    return await wiro.run(**args)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `condition()` holds (checked every 10 ms), failing after `within` seconds."""
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
