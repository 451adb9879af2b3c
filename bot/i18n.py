"""Message catalogs: a sentence in the member's or the server's language, English as the source.

The catalogs are gettext `.po` files under `bot/locales/<language>/LC_MESSAGES/messages.po`
(Babel's layout), shipped inside the package. They are compiled in memory with Babel the first
time a language is asked for: the `.po` file is the only copy a translator edits and git keeps,
so no compiled `.mo` can fall behind it, and compiling one catalog takes milliseconds.

A message id is the English sentence itself, so anything a catalog lacks (a language not shipped,
a message not yet translated, a fuzzy entry) comes out in English, never as an id.

Locales are Discord's (`discord.Locale` values such as `es-ES`, `pt-BR`, `tr`); this module does
not import discord. A locale is matched to a catalog by its full name, then by its language
(`es-419` reads the Spanish catalog).
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
SOURCE = "en-US"
# The languages shipped, as Discord names them (the order of `/videoadmin language set`).
SUPPORTED: tuple[str, ...] = ("es-ES", "pt-BR", "tr", "de", "fr", "ja")


@cache
def catalog_name(locale: str | None) -> str | None:
    """The catalog folder that serves a Discord locale ('pt-BR' -> 'pt_BR', 'es-ES' -> 'es')."""
    if not locale:
        return None
    full = locale.replace("-", "_")
    for name in (full, full.split("_", 1)[0]):
        if (LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po").is_file():
            return name
    return None


def po_path(name: str) -> Path:
    return LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _compiled(name: str) -> _gettext.GNUTranslations:
    """Compile one `.po` catalog with Babel (fuzzy entries left out) and load it."""
    with po_path(name).open("rb") as fp:
        catalog = read_po(fp, locale=name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


@cache
def translations(locale: str | None) -> _gettext.NullTranslations:
    """The translations for a Discord locale; English (the message ids) when none is shipped."""
    name = catalog_name(locale)
    if name is None:
        return _gettext.NullTranslations()
    return _compiled(name)


def gettext(locale: str | None, message: str) -> str:
    """`message` in the language of `locale`, else in English."""
    return translations(locale).gettext(message)


def ngettext(locale: str | None, singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` for `n` under the language's plural rules."""
    return translations(locale).ngettext(singular, plural, n)


def pgettext(locale: str | None, context: str, message: str) -> str:
    """`message` in the language of `locale` where the same English means different things."""
    return translations(locale).pgettext(context, message)


def babel_locale(locale: str | None) -> Locale:
    """Babel's locale for a Discord locale (English for none or one Babel does not know)."""
    try:
        return Locale.parse((locale or SOURCE).replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(SOURCE.replace("-", "_"))


def number(locale: str | None, value: float | int | Decimal) -> str:
    """A number as the language writes it ('1,234.5'; German '1.234,5')."""
    return format_decimal(value, locale=babel_locale(locale))
