"""Message catalogs: a sentence in the member's or the server's language, English as the source.

The catalogs are gettext `.po` files under `bot/locales/<language>/LC_MESSAGES/messages.po`
(Babel's layout), shipped inside the package. They are compiled in memory with Babel the first
time a language is asked for: the `.po` file is the only copy a translator edits and git keeps,
so no compiled `.mo` can fall behind it, and compiling one catalog takes milliseconds.

A message id is the English sentence itself, so anything a catalog lacks (a language not shipped,
a message not yet translated, a fuzzy entry) comes out in English, never as an id.

Two ways to say a sentence:
- where the reader's language is known (a cog answering an interaction, a card being drawn):
  `gettext(locale, "…")`, `ngettext(…)`;
- where it is not (the job service refusing a request, a reason kept for the card): a `Text`,
  `Text("Job {id} is not yours.", id=7)` or `plural_text(…)`. A `Text` is the English message id
  and its arguments; `str()` of it is English (logs, exceptions, the database), and whoever knows
  the reader puts it in their language with `text.render(locale)` (`words(locale, value)` takes a
  `Text` or a plain string). Arguments that are themselves a `Text`, a `Number`, a `Money` or a
  `Megabytes`
  render in the same language.

A reason the database keeps (a job's `outcome_reason`, its `image_note`) is English, which is
also its message id: `from_english(locale, stored)` reads the catalog backwards (an exact message,
else the template with `{fields}` it was formatted from) so an old row still reads in the server's
language; a sentence no catalog has stays English.

Locales are Discord's (`discord.Locale` values such as `es-ES`, `pt-BR`, `tr`); this module does
not import discord. A locale is matched to a catalog by its full name, then by its language
(`es-419` reads the Spanish catalog).
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

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
def _catalog(name: str) -> Catalog:
    with po_path(name).open("rb") as fp:
        return read_po(fp, locale=name, domain=DOMAIN)


@cache
def _compiled(name: str) -> _gettext.GNUTranslations:
    """Compile one `.po` catalog with Babel (fuzzy entries left out) and load it."""
    buffer = io.BytesIO()
    write_mo(buffer, _catalog(name), use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


@cache
def translations(locale: str | None) -> _gettext.NullTranslations:
    """The translations for a Discord locale; English (the message ids) when none is shipped."""
    name = catalog_name(locale)
    if name is None:
        return _gettext.NullTranslations()
    return _compiled(name)


def preload() -> None:
    """Compile every shipped catalog now (about 40 ms each with its templates), so the first
    answer in a language does not do it on the event loop. Blocking: run it on a thread."""
    for locale in SUPPORTED:
        name = catalog_name(locale)
        if name is not None:
            translations(locale)
            _templates(name)


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


def joined(locale: str | None, items: list[str] | tuple[str, ...]) -> str:
    """Items listed with the language's separator ('a, b, c'; Japanese 'a、b、c')."""
    return pgettext(locale, "list separator", ", ").join(items)


def money(locale: str | None, usd: float | Decimal) -> str:
    """An amount in US dollars as the language writes it ('$1,234.50'; German '1.234,50 $').

    Cents, except below one cent, which keeps its own digits ('$0.004', not '$0.00')."""
    small = 0 < abs(Decimal(str(usd))) < Decimal("0.01")
    return format_currency(usd, "USD", locale=babel_locale(locale), decimal_quantization=not small)


def megabytes(locale: str | None, size: int) -> str:
    """A file size as members read it: MB of 2^20 bytes (as Discord counts its limits), one
    decimal, with the language's decimal mark ('12.5 MB'; German '12,5 MB')."""
    if locale is None:
        return f"{size / 1048576:.1f} MB"
    return f"{format_decimal(size / 1048576, '0.0', locale=babel_locale(locale))} MB"


# ----- sentences whose reader is not known yet --------------------------------------------------
@dataclass(frozen=True)
class Number:
    """A number to write in the reader's language when its sentence is rendered."""

    value: float | int | Decimal

    def render(self, locale: str | None) -> str:
        return number(locale, self.value)


@dataclass(frozen=True)
class Money:
    """US dollars to write in the reader's language when its sentence is rendered."""

    usd: float | Decimal

    def render(self, locale: str | None) -> str:
        return money(locale, self.usd)


@dataclass(frozen=True)
class Megabytes:
    """A file size to write in the reader's language when its sentence is rendered."""

    size: int

    def render(self, locale: str | None) -> str:
        return megabytes(locale, self.size)


@dataclass(frozen=True, init=False)
class Text:
    """A sentence for a member or a moderator, in no language yet: the English message id and
    its arguments (`Text("Job {id} is not yours.", id=7)`). `str()` is the English sentence."""

    message: str
    args: Mapping[str, Any] = field(default_factory=dict)
    plural: str | None = None
    count: int | None = None

    def __init__(self, message: str, /, **args: Any) -> None:
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "plural", None)
        object.__setattr__(self, "count", None)

    def render(self, locale: str | None) -> str:
        """The sentence in the language of `locale` (English when it has no translation)."""
        if self.plural is not None and self.count is not None:
            template = ngettext(locale, self.message, self.plural, self.count)
        else:
            template = gettext(locale, self.message)
        if not self.args:
            return template
        return template.format(**{k: _in_language(locale, v) for k, v in self.args.items()})

    def __str__(self) -> str:
        return self.render(None)


def plural_text(singular: str, plural: str, count: int, /, **args: Any) -> Text:
    """A `Text` whose form follows `count` (`{count}` in the sentence is that number)."""
    made = Text(singular, **{"count": Number(count), **args})
    object.__setattr__(made, "plural", plural)
    object.__setattr__(made, "count", count)
    return made


def _in_language(locale: str | None, value: Any) -> Any:
    if isinstance(value, Text | Number | Money | Megabytes):
        return value.render(locale)
    return value


def words(locale: str | None, value: str | Text) -> str:
    """A `Text` in the language of `locale`; a plain string (already words) as it is."""
    return value.render(locale) if isinstance(value, Text) else value


# ----- English kept in the database, read back in another language ----------------------------
@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    message: str | tuple[str, str]
    fields: tuple[str, ...]


# A template with less literal text than this is too short to take a sentence apart: its
# values are single words ("Job {id}" reads "Job 12", not "Job 12 went where only Wiro knows.").
SHORT_TEMPLATE = 20


def _pattern(english: str) -> tuple[re.Pattern[str], tuple[str, ...]] | None:
    pieces = list(Formatter().parse(english))
    literal = "".join(text for text, _, _, _ in pieces)
    value = r"\S+?" if len(literal.strip()) < SHORT_TEMPLATE else ".+?"
    parts: list[str] = []
    fields: list[str] = []
    for text, name, _, _ in pieces:
        parts.append(re.escape(text))
        if name is not None:
            if not name.isidentifier() or name in fields:
                return None
            fields.append(name)
            parts.append(f"(?P<{name}>{value})")
    if not fields or not literal.strip():
        return None  # a sentence of placeholders only would match anything
    return re.compile("".join(parts) + r"\Z", re.DOTALL), tuple(fields)


@cache
def _templates(name: str) -> tuple[_Template, ...]:
    """The catalog's sentences with {fields}, most literal text first (the most specific)."""
    found: list[tuple[int, _Template]] = []
    for message in _catalog(name):
        if not message.id or message.context is not None or not message.string:
            continue
        ident: str | tuple[str, str] = (
            (str(message.id[0]), str(message.id[1]))
            if isinstance(message.id, tuple | list)
            else str(message.id)
        )
        for source in ident if isinstance(ident, tuple) else (ident,):
            made = _pattern(source)
            if made is not None:
                literal = len(re.sub(r"\{[^}]*\}", "", source))
                found.append((literal, _Template(made[0], ident, made[1])))
    found.sort(key=lambda pair: -pair[0])
    return tuple(template for _, template in found)


def from_english(locale: str | None, english: str) -> str:
    """An English sentence the bot wrote earlier (kept in the database), in another language.

    An exact message of the catalog is translated; else two sentences the lifecycle joined
    with a space (an Extend's note and the reason its clip is linked), each translated; else
    the sentence is matched against the templates it may have been formatted from, and the
    translation is formatted with the same values. Anything else (a sentence no catalog has,
    Wiro's own words) stays as it is."""
    name = catalog_name(locale)
    if name is None or not english:
        return english
    exact = gettext(locale, english)
    if exact != english:
        return exact
    for cut in (m.end() for m in re.finditer(r"[.!?] ", english)):
        first, second = english[: cut - 1], english[cut:]
        one, two = _one_sentence(locale, name, first), _one_sentence(locale, name, second)
        if one != first and two != second:
            return f"{one} {two}"
    return _one_sentence(locale, name, english)


def _one_sentence(locale: str | None, name: str, english: str) -> str:
    """One stored sentence through the catalog `name`: exact, else by its template."""
    exact = gettext(locale, english)
    if exact != english:
        return exact
    for template in _templates(name):
        match = template.pattern.match(english)
        if match is None:
            continue
        values = match.groupdict()
        if isinstance(template.message, tuple):
            count = _count(values.get("count"))
            if count is None:
                continue
            translated = ngettext(locale, *template.message, count)
        else:
            translated = gettext(locale, template.message)
        return translated.format(**{k: gettext(locale, v) for k, v in values.items()})
    return english


def _count(value: str | None) -> int | None:
    try:
        return int((value or "").replace(",", ""))
    except ValueError:
        return None
