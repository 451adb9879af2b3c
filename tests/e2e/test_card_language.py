"""End to end: a server set to Spanish gets its job card and clip message in Spanish (issue 24),
while the member's own answers stay in their Discord language (the double's members speak
en-US). One server per module: the language set here applies to every test of this module."""

from __future__ import annotations

import pytest

from bot.wiro.simulator.tasks import TaskScript
from tests.discord_double.world import Member, Message
from tests.e2e.conftest import Stack, VideoRun, fake_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")

STACK_ENV = {"DEFAULT_QUOTA_CREDITS": "1000", "MAX_JOBS_PER_USER": "5"}


def labels(message: Message) -> list[str]:
    """The labels of a message's buttons (in their action rows), in order."""
    rows = message.components
    return [
        item["label"] for row in rows for item in row.get("components") or [] if "label" in item
    ]


async def spanish_run(stack: Stack, name: str, script: TaskScript) -> tuple[Member, VideoRun]:
    """A member's /video in the Spanish server, with its card."""
    if "Español" not in await stack.admin("language show"):
        assert "Español" in await stack.admin("language set", {"language": "es-ES"})
    member = stack.member(name)
    stack.sim.script_next(script)
    run = await stack.video(f"un vídeo de {name}", user=member)
    assert run.card is not None and run.job_id is not None, run.reply
    return member, run


async def test_a_spanish_server_gets_a_spanish_card_and_clip_message(stack: Stack) -> None:
    member, run = await spanish_run(stack, "lucia", TaskScript(clip=fake_clip(120_000)))
    assert "Your video is on its way" in run.reply  # the member's own answer: en-US
    card = run.card
    assert card is not None
    await stack.dd.wait_for(lambda: stack.title(card) == "✅ Vídeo listo" or None, 20)
    header = f"<@{member.user.id}> tu vídeo está listo (tarea {run.job_id})."
    [clip] = await stack.dd.wait_for(
        lambda: [m for m in stack.dd.messages_in() if m.content == header], 20
    )
    assert labels(clip) == ["Eliminar"]
    assert stack.field(card, "Cobrado") == "1 crédito"
    assert str(clip.id) in (stack.field(card, "Clip") or "")
    assert (stack.field(card, "Ajustes") or "").endswith("optimizador activado")
    assert card.embeds[0]["footer"]["text"] == f"Tarea {run.job_id}"
    assert labels(card) == ["Repetir", "Extender", "Remezclar", "Rehacer en 1080P", "Eliminar"]
    # The interface does not change with the language.
    assert card.custom_ids()[0] == f"video:reroll:{run.job_id}"


async def test_a_cancelled_job_says_who_in_spanish(stack: Stack) -> None:
    member, run = await spanish_run(stack, "mateo", TaskScript(generate=30.0))
    card = run.card
    assert card is not None
    await stack.dd.wait_for(lambda: labels(card) == ["Cancelar"] or None, 20)
    await stack.click(card, f"video:cancel:{run.job_id}", user=member)
    await stack.dd.wait_for(lambda: stack.title(card) == "🚫 Vídeo cancelado" or None, 20)
    assert stack.field(card, "Qué pasó") == f"Cancelado por <@{member.user.id}>."
    assert stack.field(card, "Créditos") == "1 devuelto"
