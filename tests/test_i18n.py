"""The message catalogs: a Discord locale finds its language, English is the fallback."""

from __future__ import annotations

import pytest

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
