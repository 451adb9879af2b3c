"""No message of any catalog breaks a Discord limit (issue 24), and the helper that checks a
rendered message or form, `tests.limits.assert_fits_discord`, says which limit when one does.

Where a sentence is used decides its limit (a field value 1,024, a button label 80), which a
catalog does not record; so every sentence in every language, each plural form, must fit the
largest place a bot's words go (a message's 2,000 characters) with its placeholders filled by
40-character values, and the tests that render a card, a review or a form call
`assert_fits_discord` on it in every language. The command tree's translations are checked by
tests/test_command_localizations.py, through the Discord double's validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from string import Formatter
from typing import Any

import aiohttp
import discord
import pytest
from babel.messages.pofile import read_po

from bot import i18n
from cogs.language import LANGUAGE_NAMES, language_set_words, language_show_words
from tests.discord_double import DiscordDouble
from tests.limits import assert_fits_discord

CATALOGS = [i18n.catalog_name(locale) or locale for locale in i18n.SUPPORTED]  # a new one too
FILLER = "x" * 40  # a long value for any placeholder: a name, a number, a link
MESSAGE_LIMIT = 2000


def sentences(name: str) -> Iterator[tuple[str, str]]:
    """(English message id, translated form) for every form of every message of a catalog
    outside the command tree (whose strings carry a context and Discord's own rules)."""
    with i18n.po_path(name).open("rb") as fp:
        catalog = read_po(fp)
    for message in catalog:
        if not message.id or message.context is not None:
            continue
        english = message.id[0] if isinstance(message.id, tuple | list) else message.id
        forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for form in forms:
            yield str(english), str(form or english)


def filled(text: str) -> str:
    """The sentence with every `{placeholder}` replaced by 40 characters."""
    names = {field for _, field, _, _ in Formatter().parse(text) if field}
    return text.format(**dict.fromkeys(names, FILLER))


@pytest.mark.parametrize("name", CATALOGS)
def test_every_translation_fits_a_message_with_long_values(name: str) -> None:
    found = list(sentences(name))
    assert found  # the catalog was read
    too_long = [
        (english[:60], len(filled(form)))
        for english, form in found
        if len(filled(form)) > MESSAGE_LIMIT
    ]
    assert too_long == []


def test_the_english_sources_fit_too() -> None:
    assert all(len(filled(english)) <= MESSAGE_LIMIT for english, _ in sentences("es"))


@pytest.mark.parametrize("locale", [i18n.SOURCE, *i18n.SUPPORTED])
def test_the_language_answers_fit_in_every_language(locale: str) -> None:
    for chosen in LANGUAGE_NAMES:
        assert_fits_discord({"content": language_set_words(locale, chosen)})
        assert_fits_discord({"content": language_show_words(locale, chosen, None)})
    for guild_locale in (None, "es-ES", "ko"):
        assert_fits_discord({"content": language_show_words(locale, None, guild_locale)})


# ----- assert_fits_discord: each limit, just inside and just over ----------------------------
def embed_with(**parts: Any) -> discord.Embed:
    embed = discord.Embed(title=parts.get("title"), description=parts.get("description"))
    for name, value in parts.get("fields", [("a", "b")]):
        embed.add_field(name=name, value=value)
    if "footer" in parts:
        embed.set_footer(text=parts["footer"])
    if "author" in parts:
        embed.set_author(name=parts["author"])
    return embed


def buttons(label: str) -> discord.ui.View:
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label=label, custom_id="video:cancel:1"))
    return view


def select(**kw: Any) -> discord.ui.View:
    view = discord.ui.View()
    placeholder = kw.pop("placeholder", None)
    option = discord.SelectOption(**{"label": "a", **kw})
    view.add_item(discord.ui.Select(custom_id="pick", placeholder=placeholder, options=[option]))
    return view


def form(title: str = "Extend this video", **kw: Any) -> discord.ui.Modal:
    modal = discord.ui.Modal(title=title, custom_id="video:extendform:1")
    modal.add_item(
        discord.ui.TextInput(
            label=kw.get("label", "Prompt"), placeholder=kw.get("placeholder"), custom_id="p"
        )
    )
    labelled: discord.ui.Select[Any] = discord.ui.Select(
        custom_id="len", options=[discord.SelectOption(label="6 s")]
    )
    modal.add_item(
        discord.ui.Label(
            text=kw.get("text", "Length"), description=kw.get("description"), component=labelled
        )
    )
    return modal


def x(n: int) -> str:
    return "x" * n


# Each limit: a message or form built around a text of n characters, and the largest n that fits.
Make = Callable[[str], dict[str, Any]]
LIMITS: dict[str, tuple[Make, int]] = {
    "content 2,000": (lambda s: {"content": s}, 2000),
    "embed title 256": (lambda s: {"embed": embed_with(title=s)}, 256),
    "embed description 4,096": (lambda s: {"embed": embed_with(description=s)}, 4096),
    "field name 256": (lambda s: {"embed": embed_with(fields=[(s, "v")])}, 256),
    "field value 1,024": (lambda s: {"embed": embed_with(fields=[("n", s)])}, 1024),
    "25 fields": (lambda s: {"embed": embed_with(fields=[("n", "v")] * len(s))}, 25),
    "footer 2,048": (lambda s: {"embed": embed_with(footer=s)}, 2048),
    "author 256": (lambda s: {"embed": embed_with(author=s)}, 256),
    # Two embeds of a description and a field ("a", "b"): 2 × (2,998 + 2) = 6,000.
    "6,000 in all embeds": (lambda s: {"embeds": [embed_with(description=s)] * 2}, 2998),
    "button label 80": (lambda s: {"view": buttons(s)}, 80),
    "select placeholder 150": (lambda s: {"view": select(placeholder=s)}, 150),
    "select option label 100": (lambda s: {"view": select(label=s)}, 100),
    "select option description 100": (lambda s: {"view": select(description=s)}, 100),
    "modal title 45": (lambda s: {"modal": form(s)}, 45),
    "text input label 45": (lambda s: {"modal": form(label=s)}, 45),
    "text input placeholder 100": (lambda s: {"modal": form(placeholder=s)}, 100),
    "label 45": (lambda s: {"modal": form(text=s)}, 45),
    "label description 100": (lambda s: {"modal": form(description=s)}, 100),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_assert_fits_discord_knows_each_limit(limit: str) -> None:
    make, most = LIMITS[limit]
    assert_fits_discord(make(x(most)))
    with pytest.raises(AssertionError, match="Discord would refuse it"):
        assert_fits_discord(make(x(most + 1)))


def test_assert_fits_discord_reads_the_json_discord_receives_too() -> None:
    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": x(81), "custom_id": "b"}]}
    with pytest.raises(AssertionError, match=r"components\.0\.components\.0\.label"):
        assert_fits_discord({"content": "hi", "components": [row]})
    assert_fits_discord({"embeds": [{"title": x(256)}], "content": ""})


def test_assert_fits_discord_refuses_what_it_does_not_check() -> None:
    with pytest.raises(AssertionError, match="does not know"):
        assert_fits_discord({"content": "hi", "stickers": []})


async def test_the_double_refuses_a_button_label_over_80_like_discord() -> None:
    async with DiscordDouble() as dd:
        assert dd.channel is not None
        url = f"{dd.api_base}/channels/{dd.channel.id}/messages"
        headers = {"Authorization": f"Bot {dd.token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            for label, status in ((x(80), 200), (x(81), 400)):
                body = {"content": "hi", "components": buttons(label).to_components()}
                async with http.post(url, json=body) as resp:
                    assert resp.status == status, await resp.text()
                    if status == 400:
                        assert (await resp.json())["code"] == 50035
