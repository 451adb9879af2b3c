"""The message catalogs: a Discord locale finds its language, English is the fallback."""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n


@pytest.mark.parametrize(
    ("locale", "catalog"),
    [
        ("es-ES", "es"),
        ("es-419", "es"),  # Latin American Spanish reads the Spanish catalog
        ("pt-BR", "pt_BR"),
        ("tr", "tr"),
        ("de", "de"),
        ("fr", "fr"),
        ("ja", "ja"),
        ("en-US", None),
        ("ko", None),
        (None, None),
    ],
)
def test_a_discord_locale_finds_its_catalog(locale: str | None, catalog: str | None) -> None:
    assert i18n.catalog_name(locale) == catalog


def test_every_supported_locale_has_a_catalog() -> None:
    assert all(i18n.catalog_name(locale) for locale in i18n.SUPPORTED)


@pytest.mark.parametrize(
    ("locale", "forms"),
    [
        ("en-US", ["0 credits", "1 credit", "2 credits"]),
        ("es-ES", ["0 créditos", "1 crédito", "2 créditos"]),
        ("fr", ["0 crédit", "1 crédit", "2 crédits"]),  # French: 0 is singular
        ("pt-BR", ["0 crédito", "1 crédito", "2 créditos"]),
        ("ja", ["0 クレジット", "1 クレジット", "2 クレジット"]),  # one form
    ],
)
def test_plurals_follow_each_languages_rules(locale: str, forms: list[str]) -> None:
    got = [
        i18n.ngettext(locale, "{count} credit", "{count} credits", n).format(count=n)
        for n in (0, 1, 2)
    ]
    assert got == forms


def test_a_missing_language_or_message_falls_back_to_english_never_an_id() -> None:
    assert i18n.gettext("ko", "Your video quota") == "Your video quota"
    assert i18n.gettext("tr", "A sentence no catalog has") == "A sentence no catalog has"
    assert i18n.pgettext("de", "command", "no such name") == "no such name"


def test_numbers_are_written_the_languages_way() -> None:
    assert i18n.number("en-US", 1234.5) == "1,234.5"
    assert i18n.number("de", 1234.5) == "1.234,5"
    assert i18n.number("not-a-locale", 3) == "3"


def test_the_catalogs_ship_inside_the_package() -> None:
    assert i18n.LOCALES_DIR.parent.name == "bot"
    assert (i18n.LOCALES_DIR / "messages.pot").is_file()


# ----- every catalog has every message of the English template, with the same placeholders -----
CATALOGS = ("es", "pt_BR", "tr", "de", "fr", "ja")


def _read(path: Path) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp)


def _key(message: Message) -> tuple[str | None, str]:
    ident = message.id[0] if isinstance(message.id, tuple) else message.id
    return message.context, ident


def _placeholders(text: str) -> list[str]:
    """The {fields} a sentence is formatted with, and the `code` spans it must keep."""
    fields = sorted(name for _, name, _, _ in Formatter().parse(text) if name is not None)
    return fields + sorted(re.findall(r"`[^`]+`", text))


def test_the_template_holds_every_sentence_marked_in_the_code() -> None:
    from scripts.update_catalogs import KEYWORDS  # the functions that mark a sentence

    root = i18n.LOCALES_DIR.parents[1]
    found = set()
    for folder in ("bot", "cogs"):
        for _, _, message, _, context in extract_from_dir(
            root / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
        ):
            found.add((context, message[0] if isinstance(message, tuple) else message))
    assert len(found) > 20  # the extraction sees the marked sentences
    template = {_key(m) for m in _read(i18n.LOCALES_DIR / "messages.pot") if m.id}
    assert found - template == set(), "run the extraction in README 'Adding a language'"


async def test_the_template_holds_every_string_of_the_command_tree() -> None:
    from scripts.command_strings import full_tree, tree_strings

    template = {_key(m) for m in _read(i18n.LOCALES_DIR / "messages.pot") if m.id}
    assert set(await tree_strings(full_tree())) - template == set()


@pytest.mark.parametrize("name", CATALOGS)
def test_each_catalog_has_every_message_with_the_same_placeholders(name: str) -> None:
    template = _read(i18n.LOCALES_DIR / "messages.pot")
    catalog = _read(i18n.po_path(name))
    # The catalog's own Plural-Forms (GNU gettext's traditional rules; CLDR adds a form for
    # millions in French, Spanish and Portuguese that no count here reaches).
    num_plurals = catalog.num_plurals
    assert num_plurals == (1 if name == "ja" else 2)
    for source in template:
        if not source.id:
            continue
        message = catalog.get(source.id, context=source.context)
        assert message is not None, f"{name} lacks {source.id!r}"
        assert "fuzzy" not in message.flags, f"{name}: {source.id!r} is fuzzy"
        if isinstance(source.id, tuple):
            assert isinstance(message.string, tuple) and len(message.string) == num_plurals
            forms = list(message.string)
            want = _placeholders(source.id[1])
        else:
            forms = [message.string]
            want = _placeholders(source.id)
        for form in forms:
            assert form, f"{name}: {source.id!r} is not translated"
            assert _placeholders(form) == want, f"{name}: {form!r} for {source.id!r}"


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_a_translation_formats_with_the_english_arguments(locale: str) -> None:
    for message in _read(i18n.LOCALES_DIR / "messages.pot"):
        if not message.id or message.context is not None:
            continue
        if isinstance(message.id, tuple):
            for n in (0, 1, 2, 5):
                text = i18n.ngettext(locale, *message.id, n)
                fields = {f for _, f, _, _ in Formatter().parse(text) if f}
                text.format(**dict.fromkeys(fields, "x"))
        else:
            i18n.gettext(locale, message.id)


# ----- sentences made before their reader is known -----------------------------------------------
def test_a_text_is_english_until_rendered_in_a_language() -> None:
    text = i18n.Text("I couldn't understand `{value}`.", value="abc")
    assert str(text) == "I couldn't understand `abc`."
    assert text.render("de") == "Ich konnte `abc` nicht verstehen."
    assert text.render("ko") == str(text)  # a language not shipped reads English


def test_a_text_renders_its_arguments_in_the_same_language() -> None:
    inner = i18n.Text("This command only works in a server.")
    outer = i18n.Text("I couldn't understand `{value}`.", value=inner)
    assert (
        outer.render("fr")
        == "Je n'ai pas compris `Cette commande ne fonctionne que sur un serveur.`."
    )
    assert i18n.Text("{amount}", amount=i18n.Money(1234.5)).render("de") == "1.234,50\xa0$"
    assert str(i18n.Text("{amount}", amount=i18n.Money(1234.5))) == "$1,234.50"
    assert i18n.money("en-US", 0.004) == "$0.004"  # less than a cent is not rounded to nothing


def test_a_plural_text_follows_the_languages_rules_and_writes_its_count() -> None:
    made = [i18n.plural_text("{count} credit", "{count} credits", n) for n in (1, 2, 1500)]
    assert [str(t) for t in made] == ["1 credit", "2 credits", "1,500 credits"]
    assert made[2].render("es-ES") == "1.500 créditos"
    assert made[0].render("pt-BR") == "1 crédito"


def test_a_text_without_arguments_keeps_braces_as_they_are() -> None:
    assert str(i18n.Text("a {literal} brace")) == "a {literal} brace"


def test_english_kept_in_the_database_reads_back_in_another_language() -> None:
    stored = str(i18n.Text("Sorry, something went wrong on our side (error {ref}).", ref="X1"))
    assert (
        i18n.from_english("tr", stored)
        == "Üzgünüz, bizim tarafımızda bir şeyler ters gitti (hata X1)."
    )
    assert i18n.from_english("de", "This command only works in a server.") == (
        "Dieser Befehl funktioniert nur auf einem Server."
    )
    stored_plural = str(i18n.plural_text("{count} credit", "{count} credits", 3))
    assert i18n.from_english("pt-BR", stored_plural) == "3 créditos"
    # Words no catalog has (Wiro's own, a member's) stay as they are, even when a short
    # template could swallow them ("Job {job_id}").
    assert i18n.from_english("es-ES", "Job 12 went where only Wiro knows.") == (
        "Job 12 went where only Wiro knows."
    )
    assert i18n.from_english("fr", "Task failed: out of memory") == "Task failed: out of memory"
    assert i18n.from_english("en-US", stored) == stored


def test_a_file_size_is_written_with_the_languages_decimal_mark() -> None:
    size = i18n.Text("The image is {size}.", size=i18n.Megabytes(25 * 1048576 + 524288))
    assert str(size) == "The image is 25.5 MB."
    assert size.render("de") == "The image is 25,5 MB."  # no catalog entry: English words
