"""The studio in the job lifecycle: the model (slug, schema, prices, credits), camera moves, and
the record of what was done to the image, against the Wiro simulator and a real database."""

from __future__ import annotations

import pytest

from bot import camera
from bot.jobs.contracts import Asker, Refused
from bot.jobs.service import JobService
from bot.wiro.client import WiroClient
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import JobState
from tests.factories import MakeService
from tests.jobs.doubles import GUILD, MOD, OTHER, USER, png_frame, request
from tests.jobs.waits import wait_terminal

FAST = "hailuo-2.3-fast"


def runs_to(sim: WiroSimulator, project: str) -> list[str]:
    return [r.path for r in sim.runs if r.path.endswith(f"/Run/minimax/{project}")]


async def test_fast_runs_its_own_slug_with_its_own_schema_and_costs_one_credit(
    service: JobService, sim: WiroSimulator, db: Database, wiro: WiroClient
) -> None:
    await service.prepare_models()
    fast_client = service.client_for(FAST)
    assert fast_client is not wiro and fast_client.project == "hailuo-2-3-fast"
    assert not fast_client.tool.from_fallback  # Tool/Detail of the Fast slug was read
    assert fast_client.tool.price_for("768P", 10) == pytest.approx(0.32)
    assert wiro.tool.price_for("768P", 10) == pytest.approx(0.56)
    sim.script_next(TaskScript(totalcost="0.32"))
    frame = png_frame()
    job = await service.submit(
        request(model=FAST, has_image=True, duration=10, camera=("Pan left", "Zoom in")), frame
    )
    assert job.model == FAST and job.credits == 1
    assert job.expected_cost_usd == pytest.approx(0.32)  # the budget counts Fast's price
    assert job.camera == "Pan left,Zoom in"
    done = await wait_terminal(db, job.id)
    assert done.state is JobState.SUCCEEDED
    assert len(runs_to(sim, "hailuo-2-3-fast")) == 1 and runs_to(sim, "hailuo-2-3") == []
    assert sim.runs[-1].fields["prompt"] == "[Pan left,Zoom in] " + job.prompt
    assert sim.runs[-1].image == frame.data


async def test_the_default_model_still_runs_hailuo_2_3(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    job = await service.submit(request(), None)
    assert job.model == "hailuo-2.3" and job.camera is None
    await wait_terminal(db, job.id)
    assert len(runs_to(sim, "hailuo-2-3")) == 1
    assert sim.runs[-1].fields["prompt"] == job.prompt  # no prefix without moves


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"model": FAST}, "only animates an image"),
        ({"model": "hailuo-9"}, "is not a model"),
        ({"camera": ("Barrel roll",)}, "camera moves among"),
        ({"camera": ("Pan left", "Pan right", "Zoom in", "Zoom out")}, "up to 3"),
        ({"prompt": "x" * 1990, "camera": ("Pan left", "Zoom in")}, "With the camera moves"),
    ],
    ids=[
        "fast-without-image",
        "unknown-model",
        "unknown-move",
        "four-moves",
        "too-long-with-moves",
    ],
)
async def test_studio_requests_refused_before_spending(
    service: JobService, sim: WiroSimulator, db: Database, overrides: dict[str, object], words: str
) -> None:
    with pytest.raises(Refused, match=words):
        await service.submit(request(**overrides), None)
    assert sim.runs == []
    assert (await service.quota_status(GUILD, USER, ())).used == 0
    assert await db.jobs_for_user(GUILD, USER) == []


async def test_a_prompt_that_fits_with_its_moves_is_accepted(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    moves = ("Pan left", "Zoom in")
    prompt = "x" * (2000 - camera.prefix_length(moves))
    job = await service.submit(request(prompt=prompt, camera=moves), None)
    await wait_terminal(db, job.id)
    assert len(sim.runs[-1].fields["prompt"]) == 2000


async def test_reroll_keeps_the_model_moves_note_and_source(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    await service.prepare_models()
    frame = png_frame(1500, 400)  # cropped: the note says so
    assert frame.note and "Centre-cropped" in frame.note
    source = "https://discord.com/channels/1/2/3"
    job = await service.submit(
        request(model=FAST, has_image=True, camera=("Shake",), source_url=source), frame
    )
    assert job.image_note == frame.note and job.source_url == source
    await wait_terminal(db, job.id)
    again = await service.reroll(job.id, Asker(USER))
    assert (again.model, again.camera, again.source_url) == (FAST, "Shake", source)
    assert again.image_note == frame.note  # the stored frame is already fixed; the note stays
    await wait_terminal(db, again.id)
    assert len(runs_to(sim, "hailuo-2-3-fast")) == 2
    assert sim.runs[-1].image == frame.data
    assert sim.runs[-1].fields["prompt"].startswith("[Shake] ")


async def test_budget_uses_the_fast_price(
    make_service: MakeService, sim: WiroSimulator, db: Database
) -> None:
    service = make_service(max_jobs_per_user=5)
    await service.prepare_models()
    # $0.40: one Hailuo 2.3 768P/6 s run ($0.28) does not fit beside a Fast one ($0.19)...
    await db.set_budget(GUILD, 0.40, MOD)
    sim.script_next(TaskScript(queue=3.0))
    first = await service.submit(request(model=FAST, has_image=True), png_frame())
    with pytest.raises(Refused, match="budget"):
        await service.submit(request(user_id=OTHER), None)
    # ...but a second Fast run ($0.19 + $0.19 = $0.38) does.
    second = await service.submit(request(user_id=OTHER, model=FAST, has_image=True), png_frame())
    for job in (first, second):
        await service.cancel(job.id, job.user_id, is_moderator=False)


async def test_the_expected_cost_falls_back_to_this_models_past_runs(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    await service.prepare_models()
    sim.script_next(TaskScript(totalcost="0.20"))
    job = await service.submit(request(model=FAST, has_image=True), png_frame())
    await wait_terminal(db, job.id)
    service.client_for(FAST).tool = service.client_for(FAST).tool.model_copy(update={"prices": []})
    assert await service.expected_cost_usd("768P", 6, FAST) == pytest.approx(0.20)
    # Hailuo 2.3 keeps its own price, not Fast's history.
    assert await service.expected_cost_usd("768P", 6) == pytest.approx(0.28)


async def test_fast_image_runs_wait_for_fasts_own_schema(
    service: JobService, sim: WiroSimulator, db: Database
) -> None:
    # Hailuo 2.3's schema is known (the client started), Fast's is not: Tool/Detail fails
    # during the inline try, so the request is refused before anything is spent.
    from bot.governance.admission import IMAGE_RUNS_PAUSED

    assert service.client_for(FAST).tool.from_fallback
    sim.inject("/Tool/Detail", 400)  # the inline try meets it
    with pytest.raises(Refused) as refused:
        await service.submit(request(model=FAST, has_image=True, image_url="x"), png_frame())
    assert refused.value.message == IMAGE_RUNS_PAUSED
    assert sim.runs == [] and await db.jobs_for_user(GUILD, USER) == []
    # Once Tool/Detail answers, the next request asks again inline and goes through.
    job = await service.submit(request(model=FAST, has_image=True, image_url="x"), png_frame())
    assert (await wait_terminal(db, job.id)).state is JobState.SUCCEEDED
    assert len(runs_to(sim, "hailuo-2-3-fast")) == 1
