"""End to end: a server set to Spanish reviews, audits and is warned about its budget in Spanish,
while the moderator who clicks is answered in their own Discord language (issue 24)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import i18n
from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Message
from tests.e2e.conftest import fake_clip
from tests.e2e.test_approval import BASE_ENV, start_stack, stop_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPANISH = "es-ES"


async def test_a_spanish_server_gets_spanish_reviews_audit_lines_and_budget_alerts(
    tmp_path: Path,
) -> None:
    s = await start_stack(tmp_path, BASE_ENV)
    failed = True
    try:
        await s.turn_on()
        await s.admin("audit channel", {"channel": s.audit.id})
        await s.admin("language set", {"language": SPANISH})

        member = s.member("lector")
        s.sim.script_next(TaskScript(clip=fake_clip(30_000)))
        # (The card is another branch's to translate: only the review side is read here.)
        run = await s.video("un gato en la playa", user=member)
        assert run.job_id is not None, run.reply
        review = await s.review_of(run.job_id)
        embed = review.embeds[0]
        assert embed["title"] == "🔎 Solicitud de vídeo pendiente de aprobación"
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Solicitado por"] == f"<@{member.user.id}>"
        assert fields["Coste previsto"].startswith("1 crédito reservado")
        labels = [c["label"] for row in review.components for c in row["components"]]
        assert labels == ["Aprobar", "Rechazar"]

        # The moderator's Discord is in English: their answer is English, the review Spanish.
        answer = await s.click(review, f"approval:approve:{run.job_id}", user=s.moderator)
        assert answer == f"Approved job {run.job_id}: it is starting now."
        await s.dd.wait_for(lambda: review.custom_ids() == [], 10)
        assert review.embeds[0]["title"] == "✅ Aprobada"

        def lines() -> list[str]:
            return [m.content for m in s.audit_lines()]

        def about_the_job() -> list[str]:
            return [line for line in lines() if f"Tarea `{run.job_id}`" in line]

        found = await s.dd.wait_for(lambda: len(about_the_job()) == 2 and about_the_job(), 30)
        approved, finished = found
        assert approved.startswith(f"👍 Tarea `{run.job_id}` de <@{member.user.id}> aprobada por")
        assert finished.startswith(f"✅ Tarea `{run.job_id}` · ") and " · completada · " in finished

        shown = await s.admin("budget show")
        match = re.search(r"Spent this month: \$([0-9.,]+)", shown)
        assert match, shown
        spent = float(match.group(1).replace(",", ""))
        await s.admin("budget set", {"usd": round(spent + 10.0, 2)})
        s.sim.script_next(TaskScript(clip=fake_clip(30_000), totalcost="8.5"))
        spend = await s.video("gastar", user=s.moderator)
        assert spend.job_id is not None, spend.reply

        def alerts() -> list[Message]:
            return [m for m in s.audit_lines() if "presupuesto" in m.content]

        [alert] = await s.dd.wait_for(alerts, 30)
        assert alert.content.startswith("⚠️ El gasto en vídeo superó el 80 % del presupuesto")
        assert i18n.money(SPANISH, round(spent + 10.0, 2)) in alert.content
        assert (alert.allowed_mentions or {}).get("parse", []) == []
        failed = False
    finally:
        await stop_stack(s, failed)
