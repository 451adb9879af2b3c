"""The job card and the clip message in the server's language, the card's forms in the member's
(issue 24): every state reads in that language and fits Discord's limits, a reason the database
keeps in English reads back translated, and English stays as it was."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot import i18n
from bot.jobs._link_reasons import DOWNLOAD_FAILED, TOO_LARGE, local_fault_reason
from bot.jobs.contracts import CardExtras, ClipToPost
from cogs.cards.render import render_card
from cogs.cards.studio import ExtendForm, RemixForm, extend_button
from cogs.cards.text import compressed_note
from storage.models import Job, JobState, Stage
from tests.cogs.test_cards import (
    NOW,
    Author,
    FakeChannel,
    History,
    Posted,
    clip_file,
    fields,
    job,
    presenter_for,
)

ETA = NOW + timedelta(minutes=3)
DONE_AT = NOW + timedelta(seconds=135)
LONG_REASON = str(
    i18n.Text(
        "Discord was unavailable for too long to post the clip, so here is its link (it "
        "expires after a while, download it soon): {url}",
        url="https://cdn1.wiro.ai/" + "x" * 900 + ".mp4",
    )
)

TIMED_OUT_REASON = str(
    i18n.plural_text(
        "No result after {count} minute, so the task was stopped.",
        "No result after {count} minutes, so the task was stopped.",
        10,
    )
)
# Every state a card can show: (name, job fields, extras).
STATES: list[tuple[str, dict[str, Any], CardExtras]] = [
    (
        "waiting for Wiro",
        {"state": JobState.WAITING, "stage": Stage.WAITING},
        CardExtras(queue_position=4),
    ),
    (
        "held for review",
        {"state": JobState.PENDING, "stage": Stage.WAITING},
        CardExtras(approval="waiting"),
    ),
    ("sending", {"state": JobState.SUBMITTING, "stage": Stage.SUBMITTING}, CardExtras(eta=ETA)),
    (
        "queued",
        {"state": JobState.RUNNING, "stage": Stage.QUEUED},
        CardExtras(eta=ETA, sandbox=True),
    ),
    (
        "generating",
        {"state": JobState.RUNNING, "stage": Stage.GENERATING, "progress": 40},
        CardExtras(eta=ETA, retrying=True),
    ),
    (
        "cancelling",
        {"state": JobState.RUNNING, "stage": Stage.STARTING, "cancelled_by": 3},
        CardExtras(cancelling=True),
    ),
    (
        "posting late",
        {"state": JobState.DELIVERING, "stage": Stage.DELIVERING, "progress": 100},
        CardExtras(delivery_delayed=True),
    ),
    (
        "ready",
        {
            "state": JobState.SUCCEEDED,
            "stage": Stage.DONE,
            "result_message_id": 123,
            "outcome_reason": LONG_REASON,
            "image_note": "Cropped to 16:9.",
            "source_url": "https://discord.com/channels/1/2/3",
            "image_author_id": 8,
            "has_image": True,
            "camera": "Pan left,Zoom in",
            "remix_of": 5,
            "style": "Noir",
        },
        CardExtras(remix_of_message_id=77),
    ),
    (
        "extended",
        {
            "state": JobState.SUCCEEDED,
            "stage": Stage.DONE,
            "extends_job_id": 4,
            "chain_seconds": 12,
        },
        CardExtras(max_clip_seconds=12),
    ),
    (
        "remade",
        {"state": JobState.SUCCEEDED, "stage": Stage.DONE, "remake_of": 4, "resolution": "1080P"},
        CardExtras(),
    ),
    (
        "deleted",
        {"state": JobState.SUCCEEDED, "stage": Stage.DONE, "deleted_at": DONE_AT, "deleted_by": 42},
        CardExtras(),
    ),
    (
        "failed",
        {
            "state": JobState.FAILED,
            "stage": Stage.DONE,
            "outcome_reason": str(i18n.Text("Wiro rejected these settings.")),
        },
        CardExtras(),
    ),
    (
        "timed out",
        {"state": JobState.TIMED_OUT, "stage": Stage.DONE, "outcome_reason": TIMED_OUT_REASON},
        CardExtras(),
    ),
    (
        "cancelled",
        {"state": JobState.CANCELLED, "stage": Stage.DONE, "cancelled_by": 5},
        CardExtras(),
    ),
    ("denied", {"state": JobState.CANCELLED, "stage": Stage.DONE}, CardExtras(approval="denied")),
]

# A word of each language that only its catalog would put on the card.
SPANISH = {"title": "Vídeo listo", "settings": "Ajustes", "footer": "Tarea 7"}
JAPANESE = {"title": "動画ができました", "settings": "設定", "footer": "ジョブ 7"}


def card_job(overrides: dict[str, Any]) -> Job:
    values = {"finished_at": DONE_AT, **overrides}
    if values["state"] in (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT) or (
        values["state"] is JobState.CANCELLED
    ):
        values.setdefault("finished_at", DONE_AT)
    return job(**values)


def assert_fits_discord(embed: discord.Embed, view: discord.ui.View | None) -> None:
    assert len(embed.title or "") <= 256
    assert len(embed.description or "") <= 4096
    assert len(embed.footer.text or "") <= 2048
    for f in embed.fields:
        assert 0 < len(f.name or "") <= 256 and 0 < len(f.value or "") <= 1024, f
    assert len(embed) <= 6000
    for item in view.children if view is not None else []:
        assert 0 < len(item.item.label or "") <= 80  # type: ignore[attr-defined]


def button_labels(view: discord.ui.View | None) -> list[str]:
    return [i.item.label for i in view.children] if view else []  # type: ignore[attr-defined]


def english_words(embed: discord.Embed) -> set[str]:
    """The card's field names (English words a translation must have replaced)."""
    return {f.name or "" for f in embed.fields}


@pytest.mark.parametrize(("name", "overrides", "extras"), STATES, ids=[s[0] for s in STATES])
@pytest.mark.parametrize("locale", ["es-ES", "ja"])
def test_every_card_state_reads_in_the_servers_language_and_fits_discord(
    locale: str, name: str, overrides: dict[str, Any], extras: CardExtras
) -> None:
    shown = card_job(overrides)
    english, english_view = render_card(shown, extras)
    embed, view = render_card(shown, extras, locale=locale)
    assert_fits_discord(embed, view)
    assert embed.title != english.title
    # Every field name is translated (none is the same word in both languages here).
    same = {"Clip", "Prompt"} if locale == "es-ES" else set()
    assert not (english_words(embed) & english_words(english)) - same
    assert (embed.footer.text or "").startswith("Tarea 7" if locale == "es-ES" else "ジョブ 7")
    labels = button_labels(view)
    english_labels = button_labels(english_view)
    assert len(labels) == len(english_labels)
    assert not set(labels) & set(english_labels)
    # The custom_ids (interface) are the same in every language.
    ids = [i.custom_id for i in view.children] if view else []  # type: ignore[attr-defined]
    assert ids == [i.custom_id for i in english_view.children] if english_view else not ids  # type: ignore[attr-defined]


def test_a_spanish_and_a_japanese_ready_card() -> None:
    ready = card_job(STATES[7][1])
    es, _ = render_card(ready, STATES[7][2], locale="es-ES")
    ja, _ = render_card(ready, STATES[7][2], locale="ja")
    assert SPANISH["title"] in (es.title or "") and JAPANESE["title"] in (ja.title or "")
    assert fields(es)[SPANISH["settings"]].startswith(
        "Hailuo 2.3 · 768P · 6 s · optimizador activado"
    )
    assert fields(ja)[JAPANESE["settings"]].endswith("最適化オン · 最初のフレーム")
    assert fields(es)["Origen"].endswith("Imagen de <@8>")
    assert "remezcla de [tarea 5](" in fields(es)["Remezcla"]
    # The camera moves are Hailuo's own words: as the member chose them.
    assert fields(es)["Cámara"] == "Pan left + Zoom in"


def test_credits_agree_with_their_number() -> None:
    for credits, reserved, refunded in (
        (1, "1 réservé", "1 remboursé"),
        (2, "2 réservés", "2 remboursés"),
    ):
        running, _ = render_card(
            job(credits=credits, state=JobState.RUNNING), CardExtras(), locale="fr"
        )
        failed, _ = render_card(
            card_job({"credits": credits, **STATES[11][1]}), CardExtras(), locale="fr"
        )
        assert fields(running)["Crédits"] == reserved and fields(failed)["Crédits"] == refunded
    english, _ = render_card(job(credits=2, state=JobState.RUNNING), CardExtras())
    assert fields(english)["Credits"] == "2 reserved"


def test_the_time_taken_is_written_the_languages_way() -> None:
    done = card_job(STATES[9][1])  # 135 seconds
    assert fields(render_card(done, CardExtras(), locale="ja")[0])["所要時間"] == "2分15秒"
    assert fields(render_card(done, CardExtras(), locale="tr")[0])["Geçen süre"] == "2 dk 15 sn"
    assert fields(render_card(done, CardExtras())[0])["Time taken"] == "2m 15s"


def test_a_stored_english_reason_reads_back_translated() -> None:
    timed_out = card_job(STATES[12][1])
    es, _ = render_card(timed_out, CardExtras(), locale="es-ES")
    tr, _ = render_card(timed_out, CardExtras(), locale="tr")
    assert fields(es)["Qué pasó"] == "Sin resultado tras 10 minutos, así que se detuvo la tarea."
    assert fields(tr)["Ne oldu"] == "10 dakika sonra sonuç yoktu, bu yüzden görev durduruldu."
    english, _ = render_card(timed_out, CardExtras())
    assert (
        fields(english)["What happened"] == "No result after 10 minutes, so the task was stopped."
    )


@pytest.mark.parametrize(
    ("stored", "spanish"),
    [
        (
            TOO_LARGE,
            "Discord rechazó la subida por ser demasiado grande, así que el clip se publica "
            "como enlace.",
        ),
        (
            DOWNLOAD_FAILED,
            "El bot no pudo descargar el clip de Wiro ahora mismo, así que se publica como enlace.",
        ),
        (
            local_fault_reason(OSError(28, "No space left on device")),
            "El disco del bot está lleno, así que el clip se publica como enlace.",
        ),
        (
            # An Extend's part posted alone and linked: two sentences the lifecycle joined.
            "The earlier clip is no longer stored, so only the new part is posted. " + TOO_LARGE,
            "El clip anterior ya no está guardado, así que solo se publica la parte nueva. "
            "Discord rechazó la subida por ser demasiado grande, así que el clip se publica "
            "como enlace.",
        ),
        ("Wiro's own words stay as they are.", "Wiro's own words stay as they are."),
        # The card's short words ("Job {id}", "{credits} refunded") are no templates of reasons.
        ("Job 12 went where only Wiro knows.", "Job 12 went where only Wiro knows."),
        ("All 3 refunded", "All 3 refunded"),
    ],
)
def test_stored_notes_read_in_the_servers_language(stored: str, spanish: str) -> None:
    assert i18n.from_english("es-ES", stored) == spanish
    assert i18n.from_english(None, stored) == stored


def test_the_compressed_note_keeps_its_sizes_and_link_in_another_language() -> None:
    note = compressed_note(job(output_url="https://cdn1.wiro.ai/o.mp4"), 12 * 1048576, 9 * 1048576)
    assert note.startswith("Compressed to fit the upload limit (12.0 MB → 9.0 MB).")
    german = i18n.from_english("de", note)
    assert german.startswith("Komprimiert, um ins Upload-Limit zu passen (12.0 MB → 9.0 MB).")
    assert "[Das Original](https://cdn1.wiro.ai/o.mp4)" in german


def test_english_cards_are_the_same_with_or_without_a_locale() -> None:
    for _, overrides, extras in STATES:
        shown = card_job(overrides)
        plain, _ = render_card(shown, extras)
        english, _ = render_card(shown, extras, locale="en-US")
        assert plain.to_dict() == english.to_dict()


# ----- the presenter: the server's language for the card and the clip message ----------------
async def test_the_card_is_posted_and_edited_in_the_servers_language() -> None:
    channel = FakeChannel()
    running = job(state=JobState.RUNNING, stage=Stage.GENERATING, progress=10)
    presenter, bot = presenter_for(running, channel)
    bot.storage.language = "tr"  # set with /videoadmin language set
    await presenter.post_card(running, CardExtras(), None)
    card = channel.sent[0]["embed"]
    assert card.title == "🎬 Oluşturuluyor…" and card.footer.text == "İş 7"
    assert button_labels(channel.sent[0]["view"]) == ["İptal"]


async def test_the_clip_message_and_its_link_reason_are_in_the_servers_language(
    tmp_path: Path,
) -> None:
    channel = FakeChannel()
    done = job(state=JobState.DELIVERING, output_url="https://cdn1.wiro.ai/x/0.mp4")
    presenter, bot = presenter_for(done, channel)
    bot.storage.language = "es-ES"
    size = 11 * 1024 * 1024
    delivery = await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 10), size))
    text = channel.sent[0]["content"]
    assert text.startswith("<@3> tu vídeo está listo (tarea 7).\nhttps://cdn1.wiro.ai/x/0.mp4\n")
    assert "-# El clip ocupa 11.0 MB, más que el límite de subida de 10 MB" in text
    assert "Los enlaces de Wiro caducan al cabo de un tiempo" in text
    assert button_labels(channel.sent[0]["view"]) == ["Eliminar"]
    # The job keeps the English reason (the card translates it when drawn).
    assert delivery.note == (
        "The clip is 11.0 MB, above this server's 10 MB upload limit, so it is linked."
    )


async def test_an_english_server_gets_the_english_clip_message(tmp_path: Path) -> None:
    channel = FakeChannel()
    done = job(state=JobState.DELIVERING, delivery_nonce="00ff00ff00ff00ff")
    presenter, _ = presenter_for(done, channel)
    await presenter.deliver_clip(done, ClipToPost(clip_file(tmp_path, 1000), 1000))
    assert channel.sent[0]["content"] == "<@3> your video is ready (job 7)."
    assert button_labels(channel.sent[0]["view"]) == ["Delete"]


async def test_a_clip_posted_in_another_language_is_found_after_a_restart() -> None:
    """The server's language may have changed between the post and the restart."""
    card = discord.Embed().set_footer(text="ジョブ 7 · サンドボックス")
    history = History(
        [
            Posted(600, Author(1), [], content="<@3> ta vidéo est prête (tâche 7)."),
            Posted(601, Author(1), [card]),
        ]
    )
    done = job(state=JobState.DELIVERING)
    presenter, bot = presenter_for(done, history)
    bot.user = Author(1)  # type: ignore[attr-defined]
    assert await presenter.find_delivery(done) == 600
    assert await presenter.find_card(done) == 601


# ----- the forms and buttons a member opens: the member's language --------------------------
def test_the_extend_and_remix_forms_are_in_the_members_language() -> None:
    ready = job(state=JobState.SUCCEEDED, stage=Stage.DONE)
    for locale, title in (("tr", "Bu videoyu uzat"), ("es-ES", "Extender este vídeo")):
        form = ExtendForm(ready, (6, 10), locale)
        assert form.title == title and len(form.title) <= 45
        labels = [item.text for item in form.children]  # type: ignore[attr-defined]
        assert all(len(label) <= 45 for label in labels)
    remix = RemixForm(ready, "ja")
    assert remix.title == "この動画をリミックス"
    assert [item.text for item in remix.children] == [
        "プロンプト",
        "カメラの動き（同時に 3 つまで）",
    ]  # type: ignore[attr-defined]
    english = ExtendForm(ready, (6, 10))
    assert english.title == "Extend this video"


def test_a_disabled_extend_button_says_why_in_the_servers_language() -> None:
    full = job(state=JobState.SUCCEEDED, stage=Stage.DONE, extends_job_id=5, chain_seconds=54)
    assert extend_button(full, 58, None, "de").item.label == "Verlängern: 58 s erreicht"
    assert extend_button(full, 58).item.label == "Extend: 58 s reached"
    assert extend_button(full, 60, None, "de").item.label == "Verlängern"
