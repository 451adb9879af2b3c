"""`/videoadmin …` in the moderator's own Discord language: answers, refusals, usage, styles.

A moderator's answers are ephemeral, so they follow `interaction.locale` (German and Japanese
here), whatever the server's language; English stays word for word what it was."""

from __future__ import annotations

import discord
import pytest

from bot import i18n
from bot.governance.usage import usd
from bot.jobs.contracts import Refused
from cogs.admin.commands import AdminCog
from cogs.admin.limits import describe_channels, describe_limits, validate_channel
from cogs.admin.server import describe_words
from cogs.admin.styles import add_style
from cogs.common import answer_error
from cogs.usage import usage_summary
from storage.db import Database
from storage.models import JobState, UsageRow
from tests.cogs.conftest import (
    DEFAULT,
    GUILD,
    MOD,
    ROLE_A,
    T0,
    USER,
    make_job,
    make_member,
    make_role,
)
from tests.cogs.test_commands import answer, bot, interaction_for, run  # noqa: F401


@pytest.fixture
def cog(bot) -> AdminCog:  # noqa: F811
    return AdminCog(bot)


def moderator(db: Database, locale: discord.Locale) -> discord.Interaction:
    interaction = interaction_for(make_member(MOD, manage_guild=True), db)
    interaction.locale = locale
    return interaction


async def refusal(interaction, exc: pytest.ExceptionInfo[Refused]) -> str:
    """What the error funnel answers the moderator for a refusal."""
    await answer_error(interaction, exc.value, "test")
    return answer(interaction)[0]


async def test_a_german_moderator_sets_and_reads_limits_in_german(
    db: Database, cog: AdminCog
) -> None:
    await db.set_server_language(GUILD, "es-ES", MOD)  # public messages only: not this answer
    mod = moderator(db, discord.Locale.german)
    await run(cog, "videoadmin limit set", mod, scope="role", credits=7, period="week",
              target=make_role(ROLE_A))  # fmt: skip
    assert answer(mod)[0] == f"Limit für die Rolle <@&{ROLE_A}>: **7 Credits pro Woche**."

    mod = moderator(db, discord.Locale.german)
    await run(cog, "videoadmin limit show", mod, member=make_member(USER, roles=(ROLE_A,)))
    shown = answer(mod)[0]
    assert shown.startswith("**Videolimits auf diesem Server**\n")
    assert f"Für <@{USER}>: **7 Credits pro Woche**, laut " in shown
    assert "**Letzte Änderungen**" in shown and "limit.set" in shown  # the log stays English

    mod = moderator(db, discord.Locale.german)
    with pytest.raises(Refused) as refused:
        await run(cog, "videoadmin limit set", mod, scope="server", credits=1, period="day",
                  target=make_member(USER))  # fmt: skip
    assert (await refusal(mod, refused)).startswith(
        "Der Geltungsbereich `server` legt den Standard für alle fest: Lass `target` leer."
    )


async def test_a_german_moderator_blocks_in_german_and_is_refused_in_german(
    db: Database, cog: AdminCog
) -> None:
    mod = moderator(db, discord.Locale.german)
    await run(cog, "videoadmin block", mod, user=make_member(USER), reason="Spam")
    assert answer(mod)[0] == (
        f"⛔ <@{USER}> kann hier keine Videos mehr erstellen. Angezeigter Grund: „Spam“."
    )
    mod = moderator(db, discord.Locale.german)
    await run(cog, "videoadmin unblock", mod, user=make_member(USER))
    assert answer(mod)[0] == f"<@{USER}> kann wieder Videos erstellen."
    mod = moderator(db, discord.Locale.german)
    with pytest.raises(Refused) as refused:
        await run(cog, "videoadmin unblock", mod, user=make_member(USER))
    assert await refusal(mod, refused) == f"<@{USER}> ist nicht gesperrt."
    mod = moderator(db, discord.Locale.german)
    with pytest.raises(Refused) as refused:
        await run(cog, "videoadmin block", mod, user=make_member(USER), reason="x" * 201)
    assert await refusal(mod, refused) == "Der Grund darf höchstens 200 Zeichen lang sein."


async def test_a_german_moderators_usage_report_writes_numbers_and_money_the_german_way(
    db: Database, cog: AdminCog
) -> None:
    await make_job(db, JobState.FAILED)
    mod = moderator(db, discord.Locale.german)
    await run(cog, "videoadmin usage", mod, days=30, user=None)
    mod.response.is_done.return_value = True
    text, kwargs = answer(mod)
    assert text.startswith("**Nutzung in den letzten 30 Tagen**\n")
    assert "1 Auftrag (0 erfolgreich) von 1 Mitglied: 1 Credit, 0,00\xa0$." in text
    assert kwargs["file"].filename.endswith("-30d.csv")  # the CSV is for scripts: unchanged

    rows = [
        UsageRow(user_id=10**17 + i, jobs=1500, succeeded=1499, credits=2500, usd=1234.5, denied=1)
        for i in range(2)
    ]
    report = usage_summary(rows, days=1, locale="de")
    assert report.startswith("**Nutzung am letzten Tag**\n")
    assert (
        "3.000 Aufträge (2.998 erfolgreich, 2 abgelehnt) von 2 Mitgliedern: 5.000 Credits, "
        "2.469,00\xa0$." in report
    )
    # English as it always was: digits without grouping for counts, $ first.
    assert "3000 jobs (2998 succeeded, 2 denied) by 2 members: 5000 credits, $2,469.00." in (
        usage_summary(rows, days=1)
    )
    assert usd(0.0045, "de") == "0,0045\xa0$" and usd(0.0045) == "$0.0045"


async def test_a_german_moderator_adds_and_lists_styles_in_german(
    db: Database, cog: AdminCog
) -> None:
    text = await add_style(db, GUILD, MOD, T0, name="Alter Film", prompt="{prompt}, körnig",
                           moves=None, model=None, resolution="768P", duration=10,
                           locale="de")  # fmt: skip
    assert text.startswith("Stil „Alter Film“ hinzugefügt (768P · 10 s).")
    assert "an die Stelle von {prompt}" in text

    mod = moderator(db, discord.Locale.german)
    await run(cog, "videoadmin style list", mod)
    assert answer(mod)[0].startswith("**1 von 25 Stilen**\n• **Alter Film** (768P · 10 s)")

    with pytest.raises(Refused) as refused:
        await add_style(db, GUILD, MOD, T0, name="ALTER FILM", prompt="x", moves=None,
                        model=None, resolution=None, duration=None, locale="de")  # fmt: skip
    mod = moderator(db, discord.Locale.german)
    assert (await refusal(mod, refused)).startswith(
        "Dieser Server hat schon einen Stil namens „ALTER FILM“"
    )
    with pytest.raises(Refused) as refused:
        await add_style(db, GUILD, MOD, T0, name="x" * 33, prompt="x", moves=None, model=None,
                        resolution=None, duration=None)  # fmt: skip
    assert refused.value.words("de") == (
        f"Der Name eines Stils darf höchstens 32 Zeichen lang sein („{'x' * 33}“ hat 33)."
    )


async def test_a_japanese_moderator_reads_the_budget_and_limits_in_japanese(
    db: Database, cog: AdminCog
) -> None:
    mod = moderator(db, discord.Locale.japanese)
    await run(cog, "videoadmin budget set", mod, usd=1234.5)
    assert answer(mod)[0] == (
        "月間予算を **$1,234.50** に設定しました（Wiro での費用、暦月ごと、UTC）。"
    )
    mod = moderator(db, discord.Locale.japanese)
    await run(cog, "videoadmin budget show", mod)
    shown = answer(mod)[0]
    assert shown.startswith("**動画の予算**\n上限：1か月あたり **$1,234.50** · 残り：**$1,234.50**")
    assert "<t:" in shown  # Discord writes the reset time in the client's language
    mod = moderator(db, discord.Locale.japanese)
    with pytest.raises(Refused) as refused:
        await run(cog, "videoadmin budget set", mod, usd=2_000_000.0)
    assert await refusal(mod, refused) == "予算は 1か月あたり最大 $1,000,000.00 です。"


@pytest.mark.parametrize("locale", ["en-US", *i18n.SUPPORTED])
async def test_long_listings_fit_one_message_in_every_language(db: Database, locale: str) -> None:
    for i in range(300):
        await db.set_limit(GUILD, "user", 10**17 + i, i, "month", MOD)
    assert (
        len(await describe_limits(db, GUILD, default=DEFAULT, member_id=USER, locale=locale))
        <= 2000
    )
    text, full = describe_words([f"word{i:03d}-{'z' * 40}" for i in range(200)], locale)
    assert len(text) <= 2000 and full is not None
    assert len(describe_channels(range(1, 500), locale=locale)) <= 2000
    rows = [
        UsageRow(user_id=10**17 + i, jobs=1, succeeded=1, credits=1, usd=0.1) for i in range(500)
    ]
    assert len(usage_summary(rows, days=7, locale=locale)) <= 2000


def test_missing_permissions_are_named_as_discord_names_them_in_the_moderators_language() -> None:
    seen = discord.Permissions(view_channel=True, send_messages=True)
    assert validate_channel(GUILD, GUILD, seen, need_send=False, locale="de") == [
        "Links einbetten", "Dateien anhängen", "Nachrichtenverlauf anzeigen"
    ]  # fmt: skip
    assert validate_channel(GUILD, GUILD, seen, need_send=False) == [
        "Embed Links", "Attach Files", "Read Message History"
    ]  # fmt: skip


def test_a_usage_line_lists_and_labels_the_languages_way() -> None:
    from cogs.usage import usage_line

    row = UsageRow(user_id=7, jobs=4, succeeded=2, credits=4, usd=1.0, denied=1, expired=1)
    assert usage_line(row).startswith("<@7>: 4 jobs (2 succeeded, 1 denied, 1 expired)")
    # French: a no-break space before the colon
    assert usage_line(row, "fr").startswith("<@7>\xa0: ")
    japanese = usage_line(row, "ja")
    assert japanese.startswith("<@7>：") and "、" in japanese and ", " not in japanese
