"""What only the member reads is in their Discord language (issue 24): `/video` and Animate
refusals, the accepted-request answer, `/jobs`, `/videoprivacy`, the Animate form. English stays
word for word what it was; Discord timestamps and mentions are left as they are."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from unittest import mock

import discord
import pytest

from bot import i18n
from bot.camera import CameraRefused, parse_moves
from bot.governance.quota import Refusal
from bot.jobs.contracts import Refused
from bot.media.images import ImageRejected, check_declared_size, check_image
from cogs.animate import AnimateForm
from cogs.consent import ConsentCog
from cogs.member_commands import GovernanceCog, describe_jobs
from cogs.video import VideoCog
from cogs.words import refusal_words, refused_words
from storage.db import Database
from storage.models import JobState
from tests.cogs.conftest import GUILD, MOD, OTHER, USER, make_job, make_member
from tests.cogs.test_commands import answer, bot, interaction_for, run  # noqa: F401 (fixture)

RESETS = datetime(2026, 1, 2, tzinfo=UTC)
STAMP = f"<t:{int(RESETS.timestamp())}:R>"


def member_in(db: Database, locale: discord.Locale, user_id: int = USER):
    interaction = interaction_for(make_member(user_id), db)
    interaction.locale = locale
    interaction.channel_id = 55
    return interaction


async def video_answer(bot, db: Database, locale: discord.Locale, **options) -> str:  # noqa: F811
    member = member_in(db, locale)
    await run(VideoCog(bot), "video", member, **{"prompt": "a fox in the snow", **options})
    return answer(member)[0]


# ----- /video refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            discord.Locale.turkish,
            "İstemin, bu sunucunun engellediği bir kelime içeriyor (“fox”).",
        ),
        (
            discord.Locale.spain_spanish,
            "Tu prompt contiene una palabra que este servidor ha bloqueado («fox»).",
        ),
        (
            discord.Locale.american_english,
            "Your prompt contains a word this server has blocked (“fox”).",
        ),
    ],
)
async def test_a_blocked_word_is_refused_in_the_members_language(
    db: Database,
    bot,  # noqa: F811
    locale: discord.Locale,
    expected: str,
) -> None:
    await db.add_blocked_word(GUILD, "fox", MOD)
    assert await video_answer(bot, db, locale) == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (discord.Locale.turkish, "`/video` bu kanalda etkin değil. Şurayı dene: <#777>."),
        (
            discord.Locale.spain_spanish,
            "`/video` no está activado en este canal. Prueba en <#777>.",
        ),
        (discord.Locale.american_english, "`/video` is not enabled in this channel. Try <#777>."),
    ],
)
async def test_a_channel_not_allowed_is_refused_in_the_members_language(
    db: Database,
    bot,  # noqa: F811
    locale: discord.Locale,
    expected: str,
) -> None:
    await db.allow_channel(GUILD, 777, MOD)
    assert await video_answer(bot, db, locale) == expected


async def test_no_access_and_a_paused_server_in_turkish(db: Database, bot) -> None:  # noqa: F811
    await db.set_limit(GUILD, "user", USER, 0, "day", MOD)
    text = await video_answer(bot, db, discord.Locale.turkish)
    assert text == "Bu sunucuda video oluşturma erişimin yok."
    await db.set_paused(GUILD, True, "bakım", MOD)
    text = await video_answer(bot, db, discord.Locale.turkish)
    assert text == "Bu sunucuda video oluşturma duraklatıldı: bakım"  # the moderator's own words


async def test_a_camera_refusal_in_turkish_and_english(db: Database, bot) -> None:  # noqa: F811
    turkish = await video_answer(bot, db, discord.Locale.turkish, camera="Moonwalk")
    assert turkish.startswith(
        "“Moonwalk” bir kamera hareketi değil. Şunlardan en fazla 3 tane seç:"
    )
    english = await video_answer(bot, db, discord.Locale.american_english, camera="Moonwalk")
    assert english.startswith("“Moonwalk” is not a camera move. Choose up to 3 of:")
    with pytest.raises(CameraRefused) as two:
        parse_moves("Moonwalk, Moonjump")
    assert "are not camera moves" in two.value.reason
    assert "kamera hareketi değil" in two.value.text.render("tr")


# ----- limits: numbers and money the language's way, timestamps untouched ------------------------
def test_credits_refusal_in_turkish_spanish_and_english() -> None:
    refusal = Refusal("credits", used=2, limit=3, resets_at=RESETS, needs=2, period="week")
    assert refusal_words(refusal, "tr") == (
        "Yeterli kredin yok: bu hafta 3 kredinin 2 kadarını kullandın ve bu çalıştırma 2 kredi "
        f"tutuyor. Kredilerin sıfırlanma zamanı: {STAMP}."
    )
    assert refusal_words(refusal, "es-ES").startswith(
        "No tienes créditos suficientes: has usado 2 de 3 esta semana y esta generación cuesta "
        "2 créditos."
    )
    assert refusal_words(refusal) == (
        "Not enough credits: you have used 2 of 3 this week and this run costs 2 credits. "
        f"Your credits reset {STAMP}."
    )


def test_budget_refusal_writes_money_the_languages_way() -> None:
    refusal = Refusal("budget", used=1234.5, limit=1500, resets_at=RESETS, needs=0.28)
    german = refusal_words(refusal, "de").replace("\xa0", " ")  # Babel's no-break space
    assert "(1.234,50 $ von 1.500,00 $ ausgegeben oder in Arbeit)" in german
    assert "Dieser Durchlauf kostet etwa 0,28 $." in german and STAMP in german
    english = refusal_words(refusal)
    assert english == (
        "This server's video budget for the month is used up ($1,234.50 of $1,500.00 spent or "
        f"in progress). This run costs about $0.28. It resets {STAMP}."
    )


@pytest.mark.parametrize(
    ("used", "english", "turkish"),
    [
        (1, "You already have 1 video in progress", "Zaten devam eden 1 videon var"),
        (2, "You already have 2 videos in progress", "Zaten devam eden 2 videon var"),
    ],
)
def test_concurrency_plural_follows_each_language(used: int, english: str, turkish: str) -> None:
    refusal = Refusal("user_concurrency", used=used, limit=2)
    assert refusal_words(refusal).startswith(english)
    assert refusal_words(refusal, "tr").startswith(turkish)
    assert refusal_words(refusal, "ja").startswith(f"作成中の動画がすでに {used} 本あります")


def test_a_service_refusal_and_a_stored_english_reason_read_in_the_members_language() -> None:
    refused = Refused(i18n.Text("Job {id} was already refunded.", id=12345))
    assert refused.message == "Job 12345 was already refunded."  # logs: English, id as is
    assert refused_words(refused, "tr") == "12345 numaralı iş zaten iade edildi."
    # A reason a button keeps as English (extend_blocker) still reads in the member's language.
    kept = Refused("This clip is 16 s long: the longest a clip may grow to is 16 s.")
    assert refused_words(kept, "es-ES") == (
        "Este clip dura 16 s: lo máximo que puede llegar a durar un clip es 16 s."
    )
    assert refused_words(kept) == kept.message


def test_image_refusals_in_turkish() -> None:
    with pytest.raises(ImageRejected) as empty:
        check_image(b"")
    assert empty.value.reason == "The file is empty."
    assert empty.value.text.render("tr") == "Dosya boş."
    with pytest.raises(ImageRejected) as big:
        check_declared_size(60 * 1024 * 1024)
    assert big.value.reason.startswith("The image is 60.0 MB; the bot reads images up to 50 MB")
    assert big.value.text.render("tr").startswith("Görsel 60,0 MB; bot en fazla 50 MB")


# ----- /jobs -------------------------------------------------------------------------------------
async def test_jobs_in_turkish_and_english(db: Database, bot) -> None:  # noqa: F811
    job = await make_job(db, JobState.FAILED, user_id=USER)
    turkish = member_in(db, discord.Locale.turkish)
    await run(GovernanceCog(bot), "jobs", turkish, member=None)
    text = answer(turkish)[0]
    assert text.startswith("**Son video işlerin**\n")
    assert f"`{job.id}`" in text and "kart yok" in text and "6 sn" in text
    english = member_in(db, discord.Locale.american_english)
    await run(GovernanceCog(bot), "jobs", english, member=None)
    assert answer(english)[0].startswith("**Your latest video jobs**\n")
    assert "no card" in answer(english)[0]


def test_jobs_empty_and_someone_elses_in_spanish() -> None:
    assert describe_jobs([], own=True, user_id=USER, locale="es-ES") == (
        "Todavía no tienes tareas de vídeo en este servidor. Prueba `/video`."
    )
    assert describe_jobs([], own=False, user_id=OTHER, locale="es-ES") == (
        f"<@{OTHER}> no tiene tareas de vídeo en este servidor."
    )
    assert describe_jobs([], own=True, user_id=USER) == (
        "You have no video jobs in this server yet. Try `/video`."
    )


async def test_another_members_jobs_are_refused_in_turkish(db: Database, bot) -> None:  # noqa: F811
    member = member_in(db, discord.Locale.turkish)
    with pytest.raises(Refused) as refused:
        await run(GovernanceCog(bot), "jobs", member, member=make_member(OTHER))
    assert refused_words(refused.value, "tr") == (
        "Başka bir üyenin işlerini yalnızca moderatörler görebilir. Kendi işlerin için `/jobs` "
        "kullan."
    )


# ----- /videoprivacy, the Animate form ------------------------------------------------------------
async def test_videoprivacy_answers_in_the_members_language(db: Database, bot) -> None:  # noqa: F811
    spanish = member_in(db, discord.Locale.spain_spanish)
    await run(ConsentCog(bot), "videoprivacy", spanish, animate="deny")
    assert answer(spanish)[0].startswith(
        "Hecho: nadie más puede animar tus imágenes en este servidor con Animar con Hailuo,"
    )
    english = member_in(db, discord.Locale.american_english)
    await run(ConsentCog(bot), "videoprivacy", english, animate="deny")
    assert answer(english)[0].startswith(
        "Already so: nobody else can animate your images in this server with Animate with Hailuo"
    )


@pytest.mark.parametrize("locale", [None, *i18n.SUPPORTED])
async def test_the_animate_form_is_in_the_members_language_within_discords_limits(
    locale: str | None,
) -> None:
    cog = types.SimpleNamespace(open_forms=set())
    message = mock.create_autospec(discord.Message, instance=True)
    message.id = 42
    form = AnimateForm(cog, message, mock.Mock(), USER, (), locale)  # type: ignore[arg-type]
    assert len(form.title) <= 45
    labels = [item.text for item in form.children if isinstance(item, discord.ui.Label)]
    assert all(1 <= len(label) <= 45 for label in labels)
    if locale == "tr":
        assert form.title == "Hailuo ile canlandır"
        assert labels[:3] == ["Ne olmalı? (isteğe bağlı)", "Klip", "Model"]
    if locale is None:
        assert form.title == "Animate with Hailuo"
        assert labels[1:3] == ["Clip", "Model"]


async def test_an_accepted_request_is_answered_in_the_members_language(
    db: Database,
    bot,  # noqa: F811
    wiro,
) -> None:
    from bot.wiro.schema import ToolInfo

    wiro.tool = ToolInfo.from_body({"tool": [{"parameters": []}]})
    turkish = await video_answer(bot, db, discord.Locale.turkish)
    assert turkish.startswith("Videon yolda (iş "), turkish
    assert turkish.split(", ", 1)[1].startswith("1 kredi)")
    english = await video_answer(bot, db, discord.Locale.american_english)
    assert english.startswith("Your video is on its way (job "), english
    assert english.split(", ", 1)[1].startswith("1 credit)")


def test_what_was_done_to_an_image_reads_in_the_members_language() -> None:
    from cogs.video import frame_note

    fixes = (
        str(i18n.Text("Turned upright, as the photo's orientation tag says.")),
        str(i18n.Text("Converted from {source} to {target}.", source="WebP", target="PNG")),
    )
    assert frame_note(None, fixes) == (
        "Turned upright, as the photo's orientation tag says. Converted from WebP to PNG."
    )
    assert frame_note("tr", fixes) == (
        "Fotoğrafın yön etiketine göre dik konuma çevrildi. "
        "WebP biçiminden PNG biçimine dönüştürüldü."
    )
