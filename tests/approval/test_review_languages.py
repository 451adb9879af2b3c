"""Reviews, audit lines and budget alerts in the server's language; the Deny form and the answers
to review clicks in the clicking moderator's; English unchanged; every language within Discord's
limits (issue 24)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import discord
import pytest

from bot import i18n
from bot.app.video_bot import VideoBot
from bot.governance.approval import ApprovalService
from bot.governance.budget_alerts import BudgetAlert, BudgetAlerts
from cogs.admin.approval import approval_summary
from cogs.approval import (
    ApprovalCog,
    ApproveButton,
    DenyButton,
    DiscordReviews,
    approved_line,
    deny_form,
    render_review,
)
from cogs.audit import AuditPoster, audit_line, unreachable_notice
from cogs.words import budget_alert_line, budget_alert_text, decided_words
from storage.approvals import Approval, ApprovalSettings, ApprovalStatus
from storage.db import Database
from storage.models import Job, JobState, NewJob
from tests.approval.conftest import CHANNEL, GUILD, MOD, REVIEW, T0, USER, held_job
from tests.cogs.conftest import make_interaction, make_member
from tests.factories import Clock, reserve_and_walk

AUDIT = 80
DAY = timedelta(hours=24)
LANGUAGES = (i18n.SOURCE, *i18n.SUPPORTED)


@pytest.fixture
def channels() -> dict[int, mock.NonCallableMagicMock]:
    made = {}
    for cid in (CHANNEL, REVIEW, AUDIT):
        channel = mock.create_autospec(discord.PartialMessageable, instance=True)
        channel.send.return_value = types.SimpleNamespace(id=700_000 + cid)
        channel.get_partial_message.return_value = mock.AsyncMock()
        made[cid] = channel
    return made


@pytest.fixture
def bot(db: Database, service: ApprovalService, channels) -> VideoBot:
    """The bot as the approval cog sees it: storage, the approval service, channels, the cards
    extension's pacer and audit poster; a server Discord did not give a language (English)."""
    fake = mock.create_autospec(VideoBot, instance=True)
    fake.storage = db
    fake.approvals = service
    fake.user = types.SimpleNamespace(id=999)
    fake.get_guild.return_value = None
    fake.get_partial_messageable.side_effect = lambda cid, guild_id=None: channels[cid]
    cards = types.SimpleNamespace(
        presenter=types.SimpleNamespace(sends=types.SimpleNamespace(acquire=mock.AsyncMock())),
        audit=AuditPoster(fake),
    )
    cards.audit.sends = cards.presenter.sends
    fake.get_cog.return_value = cards
    service.presenter = DiscordReviews(fake)
    return fake


def clicker(bot: VideoBot, db: Database, locale: discord.Locale) -> Any:
    """A moderator (Manage Server) clicking in the review channel, their Discord in `locale`."""
    interaction = make_interaction(make_member(MOD, GUILD, manage_guild=True), db, GUILD)
    interaction.locale = locale
    interaction.client = bot
    interaction.response = mock.create_autospec(discord.InteractionResponse, instance=True)
    interaction.followup = mock.create_autospec(discord.Webhook, instance=True)
    interaction.response.is_done.return_value = False
    interaction.is_expired.return_value = False
    return interaction


def answered(interaction: Any) -> str:
    """The clicker's one private answer."""
    [(args, kwargs)] = interaction.response.send_message.call_args_list
    assert kwargs["ephemeral"] is True
    return str(args[0])


def posted_review(channels) -> tuple[discord.Embed, discord.ui.View]:
    kwargs = channels[REVIEW].send.call_args.kwargs
    return kwargs["embed"], kwargs["view"]


def edited_review(channels) -> discord.Embed:
    edit = channels[REVIEW].get_partial_message.return_value.edit
    return edit.call_args.kwargs["embed"]


def labels(view: discord.ui.View) -> list[str]:
    """The buttons' labels as Discord receives them."""
    return [button["label"] for row in view.to_components() for button in row["components"]]


# ----- the review message: the server's language --------------------------------------------------
async def test_a_spanish_server_gets_a_spanish_review_message_and_audit_line(
    db: Database, service: ApprovalService, bot: VideoBot, channels, clock: Clock
) -> None:
    await db.set_server_language(GUILD, "es-ES", MOD)
    await db.set_audit_channel(GUILD, AUDIT, MOD)
    job = await held_job(db, clock, credits=2)
    await service.open_review(job)
    embed, view = posted_review(channels)
    assert embed.title == "🔎 Solicitud de vídeo pendiente de aprobación"
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Coste previsto"] == "2 créditos reservados"
    assert {"Ajustes", "Modelo", "Cámara", "Solicitado por", "Caduca"} <= set(fields)
    assert fields["Cámara"] == "ninguno"
    assert embed.footer.text == f"Tarea {job.id} · solicitada"
    assert labels(view) == ["Aprobar", "Rechazar"]
    # The buttons' ids are interface: the same in every language.
    assert [c.custom_id for c in view.children] == [  # type: ignore[attr-defined]
        f"approval:approve:{job.id}",
        f"approval:deny:{job.id}",
    ]
    clock.advance(minutes=5)
    await service.approve(job.id, MOD, GUILD)
    decided = edited_review(channels)
    assert decided.title == "✅ Aprobada"
    [decision] = [f.value for f in decided.fields if f.name == "Decisión"]
    assert decision.startswith(f"Aprobada por <@{MOD}> <t:") and "el vídeo se está generando" in (
        decision or ""
    )
    [line] = [c.args[0] for c in channels[AUDIT].send.call_args_list]
    assert line == (
        f"👍 Tarea `{job.id}` de <@{USER}> aprobada por <@{MOD}> tras esperar 5 min; "
        "está empezando."
    )


async def test_the_review_message_of_an_english_server_stays_english(
    db: Database, service: ApprovalService, bot: VideoBot, channels, clock: Clock
) -> None:
    bot.get_guild.return_value = types.SimpleNamespace(  # type: ignore[attr-defined]
        preferred_locale=discord.Locale.american_english
    )
    job = await held_job(db, clock)
    await service.open_review(job)
    embed, view = posted_review(channels)
    approval = await db.approval(job.id)
    assert approval is not None
    english, _ = render_review(job, approval, expiry=DAY)
    assert embed.to_dict() == english.to_dict()
    assert embed.title == "🔎 Video request waiting for approval"
    assert labels(view) == ["Approve", "Deny"]


async def test_discords_server_language_applies_when_none_was_set(
    db: Database, service: ApprovalService, bot: VideoBot, channels, clock: Clock
) -> None:
    bot.get_guild.return_value = types.SimpleNamespace(  # type: ignore[attr-defined]
        preferred_locale=discord.Locale.japanese
    )
    await service.open_review(await held_job(db, clock))
    embed, view = posted_review(channels)
    assert embed.title == "🔎 承認待ちの動画リクエスト"
    assert labels(view) == ["承認", "却下"]


# ----- the clicking moderator's language ---------------------------------------------------------
async def test_a_turkish_moderator_gets_turkish_answers_while_the_english_review_stays_english(
    db: Database, service: ApprovalService, bot: VideoBot, channels, clock: Clock
) -> None:
    job = await held_job(db, clock)
    await service.open_review(job)
    turkish = discord.Locale.turkish

    deny = clicker(bot, db, turkish)
    await DenyButton(job.id).pressed(deny)
    [(form,), _] = deny.response.send_modal.call_args
    payload = form.to_dict()
    assert payload["title"] == f"{job.id} numaralı işi reddet"
    assert payload["custom_id"] == f"approval:deny-form:{job.id}"  # interface: unchanged
    assert payload["components"][0]["label"] == "Gerekçe (üye bunu görür)"
    assert payload["components"][0]["component"]["placeholder"] == "ör. Bu sunucu için uygun değil"

    approve = clicker(bot, db, turkish)
    await ApproveButton(job.id).pressed(approve)
    assert answered(approve) == f"{job.id} numaralı iş onaylandı: şimdi başlıyor."
    assert edited_review(channels).title == "✅ Approved"  # the server reads English

    late = clicker(bot, db, turkish)
    await ApproveButton(job.id).pressed(late)
    assert answered(late) == f"{job.id} numaralı iş zaten <@{MOD}> tarafından onaylandı."
    again = clicker(bot, db, turkish)
    await DenyButton(job.id).pressed(again)
    again.response.send_modal.assert_not_called()
    assert answered(again) == f"{job.id} numaralı iş zaten <@{MOD}> tarafından onaylandı."


async def test_a_turkish_moderators_denial_is_answered_in_turkish(
    db: Database, service: ApprovalService, bot: VideoBot, channels, clock: Clock
) -> None:
    await db.set_server_language(GUILD, "es-ES", MOD)
    job = await held_job(db, clock)
    await service.open_review(job)
    submit = clicker(bot, db, discord.Locale.turkish)
    submit.type = discord.InteractionType.modal_submit
    submit.data = {
        "custom_id": f"approval:deny-form:{job.id}",
        "components": [{"type": 18, "component": {"type": 4, "custom_id": "reason", "value": "x"}}],
    }
    await ApprovalCog(bot).on_interaction(submit)
    assert answered(submit) == (
        f"{job.id} numaralı iş reddedildi; üye gerekçeni görüyor ve kredilerini geri aldı."
    )
    decided = edited_review(channels)  # the server reads Spanish
    assert decided.title == "⛔ Rechazada"
    [decision] = [f.value for f in decided.fields if f.name == "Decisión"]
    assert "Motivo que ve el miembro: x" in (decision or "")


async def test_a_refusal_to_review_is_in_the_clickers_language(
    db: Database, service: ApprovalService, bot: VideoBot, clock: Clock
) -> None:
    job = await held_job(db, clock)
    member = clicker(bot, db, discord.Locale.spain_spanish)
    member.user = make_member(USER, GUILD)
    with pytest.raises(Exception) as refused:
        await ApproveButton(job.id).pressed(member)
    assert refused.value.words("es-ES") == (  # type: ignore[attr-defined]
        "Solo los moderadores (Gestionar servidor o el rol de moderador del bot) pueden revisar."
    )
    assert str(refused.value) == (
        "Only moderators (Manage Server, or the bot's moderator role) can review."
    )


# ----- what the member reads on the card: English kept, read back in the server's language -------
async def test_the_card_reasons_the_queue_stores_read_back_in_another_language(
    db: Database, service: ApprovalService, bot: VideoBot, clock: Clock
) -> None:
    denied = await held_job(db, clock)
    await service.deny(denied.id, MOD, GUILD, "too dark")
    reason = (await db.get_job(denied.id)).outcome_reason or ""
    assert reason == "A moderator denied this request: too dark"
    assert i18n.from_english("es-ES", reason) == "Un moderador rechazó esta solicitud: too dark"

    expired = await held_job(db, clock)
    clock.advance(hours=25)
    assert await service.sweep() == 1
    reason = (await db.get_job(expired.id)).outcome_reason or ""
    assert reason == (
        "No moderator reviewed this request within 24 hours, so it expired. "
        "Your credits were refunded."
    )
    assert i18n.from_english("tr", reason) == (
        "Hiçbir moderatör bu isteği 24 saat içinde incelemediği için isteğin süresi doldu. "
        "Kredilerin iade edildi."
    )
    cancelled = await held_job(db, clock)
    await service.cancel_waiting(cancelled.id, USER)
    reason = (await db.get_job(cancelled.id)).outcome_reason or ""
    assert i18n.from_english("de", reason) == "Während des Wartens auf einen Moderator abgebrochen."


# ----- audit lines and budget alerts: the server's language --------------------------------------
async def test_a_spanish_server_gets_spanish_job_lines_and_budget_alerts(
    db: Database, bot: VideoBot, channels, clock: Clock
) -> None:
    await db.set_server_language(GUILD, "es-ES", MOD)
    await db.set_audit_channel(GUILD, AUDIT, MOD)
    await db.set_budget(GUILD, 10.0, MOD)
    job = await reserve_and_walk(
        db, NewJob(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, prompt="x"),
        JobState.DELIVERING, now=clock(),
    )  # fmt: skip
    job = await db.transition(job.id, JobState.SUCCEEDED, settle="charge", total_cost_usd=8.4)
    poster = AuditPoster(bot)
    alerts = BudgetAlerts(storage=db, post=poster.post, words=budget_alert_text, clock=clock)
    await poster.job_finished(job)
    announced = await alerts.check(GUILD)
    line, alert = (c.args[0] for c in channels[AUDIT].send.call_args_list)
    assert line.startswith(f"✅ Tarea `{job.id}` · <@{USER}> · ")
    assert " · completada · 1 crédito cobrado · 8,40\xa0US$ · sin tarjeta\n> x" in line
    assert line == audit_line(job, None, "es-ES")
    assert alert.startswith(
        "⚠️ El gasto en vídeo superó el 80 % del presupuesto de este mes: 8,40\xa0US$ de "
        "10,00\xa0US$. Se renueva <t:"
    )
    # The moderators' log and the answer stay English.
    assert announced is not None and announced.startswith(
        "⚠️ Video spending passed 80 % of this month's budget: $8.40 of $10.00."
    )


async def test_an_unreachable_audit_channel_is_reported_in_the_servers_language(
    db: Database, bot: VideoBot, channels, clock: Clock
) -> None:
    await db.set_server_language(GUILD, "fr", MOD)
    await db.set_audit_channel(GUILD, AUDIT, MOD)
    response = mock.Mock(status=403, reason="Forbidden")
    channels[AUDIT].send.side_effect = discord.Forbidden(response, {"code": 50013, "message": "x"})
    job = await reserve_and_walk(
        db, NewJob(guild_id=GUILD, channel_id=CHANNEL, user_id=USER, prompt="x"),
        JobState.FAILED, now=clock(),
    )  # fmt: skip
    await AuditPoster(bot).job_finished(job)
    [notice] = [c.args[0] for c in channels[CHANNEL].send.call_args_list]
    assert notice == unreachable_notice(AUDIT, "fr")
    assert notice.startswith("⚠️ Je ne peux pas publier dans le salon du journal")


def test_english_budget_alert_lines_are_unchanged() -> None:
    resets = T0 + timedelta(days=5)
    stamp = f"<t:{int(resets.timestamp())}:R>"
    assert budget_alert_line(BudgetAlert(80, 8.4, 10.0, resets)) == (
        f"⚠️ Video spending passed 80 % of this month's budget: $8.40 of $10.00. It resets {stamp}."
    )
    assert str(budget_alert_text(BudgetAlert(100, 1234.5, 1000.0, resets))) == (
        "🛑 Video budget reached: $1,234.50 of this month's $1,000.00 is spent. New videos are "
        f"refused until it resets {stamp}, unless a moderator raises it with "
        "`/videoadmin budget set`."
    )
    assert budget_alert_line(BudgetAlert(100, 10.2, 10.0, resets), "de").startswith(
        "🛑 Videobudget erreicht: 10,20\xa0$ von 10,00\xa0$"
    )


# ----- every language within Discord's limits ----------------------------------------------------
def long_job(**fields: object) -> Job:
    base: dict[str, object] = {
        "id": 2**53, "guild_id": GUILD, "channel_id": CHANNEL, "user_id": 2**62,
        "prompt": "**@everyone** " * 400, "resolution": "1080P", "duration": 10,
        "prompt_optimizer": True, "credits": 999_999, "card_message_id": 2**60,
        "expected_cost_usd": 123_456.78, "camera": ", ".join(["Truck left"] * 40),
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return Job.model_validate(base | fields)


def decided(status: ApprovalStatus, **fields: object) -> Approval:
    base: dict[str, object] = {
        "job_id": 2**53, "guild_id": GUILD, "user_id": 2**62, "status": status,
        "review_channel_id": REVIEW, "review_message_id": 5, "requested_at": T0,
        "expires_at": T0 + DAY, "decided_by": 2**62, "decided_at": T0 + DAY,
        "reason": "`x`" * 100,
    }  # fmt: skip
    return Approval.model_validate(base | fields)


def embed_fits(embed: discord.Embed) -> None:
    payload = embed.to_dict()
    assert len(payload.get("title", "")) <= 256
    assert len(payload.get("description", "")) <= 4096
    assert len(payload.get("footer", {}).get("text", "")) <= 2048
    assert len(payload.get("fields", [])) <= 25
    for field in payload.get("fields", []):
        assert 1 <= len(field["name"]) <= 256 and 1 <= len(field["value"]) <= 1024, field
    assert len(embed) <= 6000


def every_state() -> Iterator[tuple[Job, Approval]]:
    yield long_job(), decided(ApprovalStatus.WAITING, decided_by=None, decided_at=None)
    for status in ApprovalStatus:
        yield long_job(), decided(status)
        yield long_job(expected_cost_usd=None), decided(status, decided_by=None, reason=None)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_review_messages_forms_and_lines_fit_discord_in_every_language(locale: str) -> None:
    for job, approval in every_state():
        embed, view = render_review(job, approval, expiry=timedelta(hours=999), locale=locale)
        embed_fits(embed)
        assert all(len(label) <= 80 for label in (labels(view) if view else []))
        held = long_job(state=JobState.CANCELLED)
        assert len(audit_line(held, approval, locale)) <= 2000
        assert len(approved_line(job, approval, locale)) <= 2000
        assert len(decided_words(approval, locale)) <= 2000
    form = deny_form(2**53, locale).to_dict()
    assert len(form["title"]) <= 45
    [label] = form["components"]
    assert len(label["label"]) <= 45 and len(label["component"]["placeholder"]) <= 100
    settings = ApprovalSettings(
        guild_id=GUILD, enabled=True, review_channel_id=2**62, trusted_role_id=2**62
    )
    assert len(approval_summary(settings, 999_999, timedelta(hours=999), locale)) <= 2000
    resets = T0 + DAY
    for threshold in (80, 100):
        alert = BudgetAlert(threshold, 999_999_999.99, 999_999_999.99, resets)
        assert len(budget_alert_line(alert, locale)) <= 2000
    assert len(unreachable_notice(2**62, locale)) <= 2000


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_every_review_state_reads_in_the_language(locale: str) -> None:
    """No English title or field name is left in a translated review message."""
    for job, approval in every_state():
        embed, _ = render_review(job, approval, expiry=DAY, locale=locale)
        english, _ = render_review(job, approval, expiry=DAY)
        assert embed.title != english.title
        names = {f.name for f in embed.fields} - {"Model"}  # Turkish: "Model" is Turkish too
        assert not names & {f.name for f in english.fields}, names
