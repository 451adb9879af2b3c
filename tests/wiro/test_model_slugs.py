"""One Wiro account, two models: the Fast sibling client (`WiroClient.for_project`).

It runs minimax/hailuo-2-3-fast with that slug's own Tool/Detail schema and prices, and shares
the parent's HTTP session, nonces and websocket."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot.wiro.simulator.server import WiroSimulator
from tests.wiro.conftest import MakeClient, collect

FAST = "hailuo-2-3-fast"


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), "teal").save(buf, "PNG")
    return buf.getvalue()


async def test_the_sibling_reads_its_own_schema_and_runs_its_own_slug(
    signed_sim: WiroSimulator, make_client: MakeClient
) -> None:
    parent = await make_client(signed_sim)
    fast = parent.for_project(FAST)
    assert parent.for_project(FAST) is fast and parent.for_project(parent.project) is parent
    await fast.start()
    assert fast.project == FAST and not fast.tool.from_fallback
    assert fast.tool.price_for("1080P", 6) == pytest.approx(0.33)
    assert parent.tool.price_for("1080P", 6) == pytest.approx(0.49)
    accepted = await fast.run(
        prompt="waves", resolution="768P", duration=6, prompt_optimizer=True, image=png()
    )
    assert signed_sim.runs[-1].path.endswith("/Run/minimax/hailuo-2-3-fast")
    events = await collect(fast, accepted.task_id, accepted.task_token)
    assert events[-1].kind == "succeeded"  # type: ignore[union-attr]
    # Followed over the parent's one websocket.
    assert fast._hub is parent._hub


async def test_fast_refuses_a_run_without_an_image(
    sim: WiroSimulator, make_client: MakeClient
) -> None:
    fast = (await make_client(sim)).for_project(FAST)
    from bot.wiro.errors import WiroValidationError

    with pytest.raises(WiroValidationError):
        await fast.run(prompt="waves", resolution="768P", duration=6, prompt_optimizer=True)
    assert sim.tasks == {}


async def test_nonces_stay_unique_across_both_clients(
    signed_sim: WiroSimulator, make_client: MakeClient
) -> None:
    # The simulator refuses a reused nonce (the strictest reading of Wiro's replay rule).
    parent = await make_client(signed_sim)
    fast = parent.for_project(FAST)
    calls = [parent.tool_detail() for _ in range(15)] + [fast.tool_detail() for _ in range(15)]
    await asyncio.gather(*calls)  # any 401 would raise


async def test_closing_the_sibling_leaves_the_parent_working(
    sim: WiroSimulator, make_client: MakeClient
) -> None:
    parent = await make_client(sim)
    fast = parent.for_project(FAST)
    await fast.start()
    await fast.close()
    tool = await parent.tool_detail()
    assert not tool.from_fallback
