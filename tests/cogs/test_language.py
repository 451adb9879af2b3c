"""Who reads which language: the member's own for private answers, the server's for public ones."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from cogs.admin.commands import AdminCog
from cogs.language import language_name, language_show_words, member_locale, public_locale
from cogs.member_commands import GovernanceCog
from storage.db import Database
from tests.cogs.conftest import GUILD, MOD, USER, make_member
from tests.cogs.test_commands import answer, bot, interaction_for, run  # noqa: F401

SPANISH = app_commands.Choice(name="Español", value="es-ES")


async def test_a_server_set_to_spanish_gets_spanish_public_messages(db: Database) -> None:
    assert await public_locale(db, GUILD, None) == "en-US"  # nothing set, no Discord language
    assert await public_locale(db, GUILD, discord.Locale.german) == "de"  # Discord's guild_locale
    await db.set_server_language(GUILD, "es-ES", MOD)
    assert await public_locale(db, GUILD, discord.Locale.german) == "es-ES"  # the set one wins
    [entry] = await db.audit_log(GUILD)
    assert (entry.action, entry.actor_id) == ("language.set", MOD)
    assert "es-ES" in entry.detail


async def test_the_language_commands_answer_in_the_moderators_language(db: Database, bot) -> None:  # noqa: F811
    cog = AdminCog(bot)
    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    mod.locale = discord.Locale.turkish
    await run(cog, "videoadmin language set", mod, language=SPANISH)
    assert await db.server_language(GUILD) == "es-ES"
    text = answer(mod)[0]
    assert text.startswith("Tamam: bu sunucunun herkese açık mesajları") and "Español" in text

    mod = interaction_for(make_member(MOD, manage_guild=True), db)
    await run(cog, "videoadmin language show", mod)
    assert answer(mod)[0].startswith(
        "This server's public messages are in Español, set with `/videoadmin language set`."
    )


@pytest.mark.parametrize(
    ("chosen", "guild_locale", "start"),
    [
        (None, "fr", "This server's public messages are in Français, the server's language"),
        (None, "ko", "This server's public messages are in English: none was set"),
        (None, None, "This server's public messages are in English: none was set"),
        ("ja", "fr", "This server's public messages are in 日本語, set with"),
    ],
)
def test_show_says_what_applies_and_why(
    chosen: str | None, guild_locale: str | None, start: str
) -> None:
    assert language_show_words("en-US", chosen, guild_locale).startswith(start)


def test_language_names_are_each_languages_own() -> None:
    assert [language_name(c) for c in ("es-419", "pt-BR", "en-GB", "ko")] == [
        "Español", "Português do Brasil", "English", "English"
    ]  # fmt: skip


async def test_a_turkish_member_gets_turkish_quota_and_an_english_one_english(
    db: Database,
    bot,  # noqa: F811
) -> None:
    await db.set_server_language(GUILD, "es-ES", MOD)  # the server's language is for public ones
    turkish = interaction_for(make_member(USER), db)
    turkish.locale = discord.Locale.turkish
    assert member_locale(turkish) == "tr"
    await run(GovernanceCog(bot), "quota", turkish)
    text = answer(turkish)[0]
    assert text.startswith("**Bu sunucudaki video kotan**")
    assert "Video başına maliyet:" in text and "kredi" in text

    english = interaction_for(make_member(USER), db)
    await run(GovernanceCog(bot), "quota", english)
    assert answer(english)[0].startswith("**Your video quota in this server**")


async def test_a_japanese_member_gets_japanese_no_access(db: Database, bot) -> None:  # noqa: F811
    await db.set_limit(GUILD, "user", USER, 0, "day", MOD)
    member = interaction_for(make_member(USER), db)
    member.locale = discord.Locale.japanese
    await run(GovernanceCog(bot), "quota", member)
    assert "ここでは動画を生成できません" in answer(member)[0]
