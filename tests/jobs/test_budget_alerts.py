"""Budget alerts are fired by the job lifecycle: a job whose cost passes 80 % (then 100 %) of
the server's monthly budget announces it once, right after its end, with no Discord involved."""

from __future__ import annotations

from bot.governance.budget_alerts import BudgetAlert, BudgetAlerts
from bot.jobs.service import JobService
from bot.wiro.simulator.server import WiroSimulator
from bot.wiro.simulator.tasks import TaskScript
from storage.db import Database
from storage.models import JobState
from tests.jobs.doubles import GUILD, MOD, RecordingPresenter, request
from tests.jobs.waits import wait_terminal


async def test_a_job_that_passes_the_budget_fires_its_alert_once(
    service: JobService, sim: WiroSimulator, db: Database, presenter: RecordingPresenter
) -> None:
    posted: list[tuple[int, str]] = []

    async def post(guild_id: int, line: str) -> bool:
        posted.append((guild_id, line))
        return True

    def words(alert: BudgetAlert) -> str:
        return f"{alert.threshold} % of ${alert.budget:.2f}"

    alerts = BudgetAlerts(storage=db, post=post, words=words, clock=service.clock)
    service.outcomes.budget_alerts = alerts
    await db.set_budget(GUILD, 0.50, MOD)

    sim.script_next(TaskScript(totalcost="0.42"))  # 84 % of $0.50
    first = await service.submit(request(), None)
    assert (await wait_terminal(db, first.id)).state is JobState.SUCCEEDED
    assert posted == [(GUILD, "80 % of $0.50")]
    # The job's own end was told first (its audit line), then the alert.
    assert [j.id for j in presenter.finished] == [first.id]

    # Announced once a month: the next check (the next job's end) says nothing new.
    assert await alerts.check(GUILD) is None
    assert posted == [(GUILD, "80 % of $0.50")]
