"""The slash commands in every language: names, descriptions and choices from the catalogs."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from babel.messages.pofile import read_po
from discord import app_commands

from bot import i18n
from bot.ops.publishing import tree_digest
from cogs.language import CHOICE, DESCRIPTION, MENU, NAME, CatalogTranslator, valid_name
from scripts.command_strings import full_tree, tree_strings
from tests.discord_double.errors import DiscordError
from tests.discord_double.validate import MAX_COMMAND_SIZE, check_commands, command_size


async def translated_payload() -> list[dict[str, Any]]:
    tree = full_tree()
    await tree.set_translator(CatalogTranslator())
    translator = tree.translator
    assert translator is not None
    return [
        await c.get_translated_payload(tree, translator)
        for c in tree.get_commands(type=None)  # type: ignore[call-overload]
    ]


def items(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every command, group, subcommand and option of the payload."""
    found: list[dict[str, Any]] = []

    def walk(item: dict[str, Any]) -> None:
        found.append(item)
        for option in item.get("options") or []:
            walk(option)

    for command in payload:
        walk(command)
    return found


@pytest.mark.parametrize("name", ["es", "pt_BR", "tr", "de", "fr", "ja"])
async def test_every_string_of_the_tree_is_in_each_catalog_and_translated(name: str) -> None:
    with i18n.po_path(name).open("rb") as fp:
        catalog = read_po(fp)
    for context, text in await tree_strings(full_tree()):
        message = catalog.get(text, context=context)
        assert message is not None and message.string, (name, context, text)
        assert "fuzzy" not in message.flags


async def test_the_localized_tree_passes_discords_validation() -> None:
    payload = await translated_payload()
    check_commands(payload)  # names, descriptions, choices, distinct option names per language


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
async def test_every_name_and_description_is_localized_in_each_language(locale: str) -> None:
    payload = await translated_payload()
    for item in items(payload):
        chat_input = item.get("type", 1) != 3
        name = item["name"]
        localized = item.get("name_localizations", {}).get(locale)
        context = NAME if chat_input else MENU
        if localized is None:  # the same word in this language ("usd")
            assert i18n.pgettext(locale, context, name) == name, (locale, name)
        else:
            assert valid_name(localized) if chat_input else 1 <= len(localized) <= 32
        if chat_input:
            description = item["description"]
            got = item.get("description_localizations", {}).get(locale)
            assert got is not None and got != description, (locale, description)
            assert 1 <= len(got) <= 100
        for choice in item.get("choices") or []:
            text = choice.get("name_localizations", {}).get(locale, choice["name"])
            assert text == i18n.pgettext(locale, CHOICE, choice["name"])
            assert 1 <= len(text) <= 100


async def test_a_turkish_member_sees_turkish_command_names() -> None:
    payload = {c["name"]: c for c in await translated_payload()}
    assert payload["quota"]["name_localizations"]["tr"] == "kota"
    assert payload["video"]["name_localizations"]["ja"] == "動画"
    assert "en-US" not in payload["video"]["name_localizations"]  # English is the default
    assert payload["quota"]["description_localizations"]["de"].startswith("Deine Video-Credits")


async def test_a_changed_translation_changes_the_published_hash() -> None:
    tree = full_tree()
    plain = await tree_digest(tree, None)
    await tree.set_translator(CatalogTranslator())
    localized = await tree_digest(tree, None)
    assert localized != plain

    class Other(CatalogTranslator):
        async def translate(self, string, locale, context):  # type: ignore[no-untyped-def]
            text = await super().translate(string, locale, context)
            return "otra" if text == "cuota" else text

    await tree.set_translator(Other())
    assert await tree_digest(tree, None) != localized
    await tree.set_translator(CatalogTranslator())
    assert await tree_digest(tree, None) == localized


def _name_context() -> app_commands.TranslationContext:
    tree = full_tree()
    return app_commands.TranslationContext(
        app_commands.TranslationContextLocation.command_name, tree.get_command("quota")
    )


async def test_a_broken_name_translation_is_left_out_not_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quota = app_commands.locale_str("quota")
    translator = CatalogTranslator()
    monkeypatch.setattr(i18n, "pgettext", lambda locale, context, message: "Two Words")
    assert await translator.translate(quota, discord.Locale.turkish, _name_context()) is None


async def test_a_language_not_shipped_keeps_the_english_name() -> None:
    quota = app_commands.locale_str("quota")
    translator = CatalogTranslator()
    assert await translator.translate(quota, discord.Locale.korean, _name_context()) is None
    assert await translator.translate(quota, discord.Locale.turkish, _name_context()) == "kota"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name_localizations": {"tr": "Kota"}}, "APPLICATION_COMMAND_INVALID_NAME"),
        ({"name_localizations": {"tr": "iki kelime"}}, "APPLICATION_COMMAND_INVALID_NAME"),
        ({"name_localizations": {"xx": "kota"}}, "INVALID_LOCALE"),
        ({"description_localizations": {"de": "x" * 101}}, "BASE_TYPE_BAD_LENGTH"),
    ],
)
def test_the_double_checks_localizations_like_discord(change: dict[str, Any], code: str) -> None:
    command = {"name": "quota", "type": 1, "description": "Your credits", **change}
    with pytest.raises(DiscordError) as caught:
        check_commands([command])
    assert code in str(caught.value.errors)


def test_the_double_wants_option_names_distinct_in_each_language() -> None:
    options = [
        {"name": "user", "type": 6, "description": "a", "name_localizations": {"de": "nutzer"}},
        {"name": "member", "type": 6, "description": "b", "name_localizations": {"de": "nutzer"}},
    ]
    with pytest.raises(DiscordError):
        check_commands([{"name": "x", "type": 1, "description": "x", "options": options}])


def test_the_contexts_are_distinct() -> None:
    assert len({NAME, DESCRIPTION, CHOICE, MENU}) == 4


async def test_each_command_stays_under_discords_size_counting_the_longest_localization() -> None:
    for command in await translated_payload():
        assert command_size(command) <= MAX_COMMAND_SIZE, command["name"]
    big = {
        "name": "x",
        "type": 1,
        "description": "x",
        "description_localizations": {"de": "y" * 100},
        "options": [
            {"name": f"o{k}", "type": 3, "description": "z" * 100, "choices": [
                {"name": "c" * 100, "value": f"v{j}"} for j in range(25)
            ]}
            for k in range(4)
        ],
    }  # fmt: skip
    assert command_size(big) > MAX_COMMAND_SIZE
    with pytest.raises(DiscordError, match="50035"):
        check_commands([big])
