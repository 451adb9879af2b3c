"""`assert_fits_discord`: does a rendered message or form fit Discord's limits, in any language?

A translation is often a third longer than the English, so a test that renders a card, a review
message or a form in every language calls this on what it would send:

    embed, view = render_card(job, extras, locale="de")
    assert_fits_discord({"embed": embed, "view": view})
    assert_fits_discord({"modal": ExtendForm(job, lengths, "ja")})

It takes the keyword arguments of a send or an edit (`content`, `embed`, `embeds`, `view`, or
raw `components`) or a form (`modal`), as discord.py objects or as the JSON Discord receives,
and checks them with the Discord double's own validators (tests/discord_double/validate.py,
menus.py), so that a limit has one home: content 2,000; embed title 256, description 4,096,
25 fields, field name 256 and value 1,024, footer 2,048, author 256, 6,000 in all the embeds;
button label 80; select placeholder 150, option label, value and description 100; modal title
45, text input and label 45, text input placeholder 100, a label's description 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord

from tests.discord_double.errors import DiscordError
from tests.discord_double.menus import check_modal
from tests.discord_double.validate import (
    FLAG_COMPONENTS_V2,
    check_components,
    check_content,
    check_embeds,
)

KNOWN = frozenset({"content", "embed", "embeds", "view", "components", "modal"})


def _embed(embed: discord.Embed | Mapping[str, Any]) -> dict[str, Any]:
    return embed.to_dict() if isinstance(embed, discord.Embed) else dict(embed)  # type: ignore[return-value]


def message_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body Discord would receive for these keyword arguments of a send or an edit."""
    unknown = set(message) - KNOWN
    assert not unknown, f"assert_fits_discord does not know {sorted(unknown)}"
    payload: dict[str, Any] = {}
    if message.get("content") is not None:
        payload["content"] = str(message["content"])
    embeds = list(message.get("embeds") or [])
    if message.get("embed") is not None:
        embeds.append(message["embed"])
    payload["embeds"] = [_embed(e) for e in embeds]
    view = message.get("view")
    if isinstance(view, discord.ui.View | discord.ui.LayoutView):
        payload["components"] = view.to_components()
        if view.has_components_v2():
            payload["flags"] = FLAG_COMPONENTS_V2
    elif message.get("components") is not None:
        payload["components"] = list(message["components"])
    return payload


def modal_payload(modal: discord.ui.Modal | Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of the type 9 response that opens this form."""
    return modal.to_dict() if isinstance(modal, discord.ui.Modal) else dict(modal)


def assert_fits_discord(message: Mapping[str, Any]) -> None:
    """Fail, saying which limit, if Discord would refuse this message or form."""
    try:
        if message.get("modal") is not None:
            assert set(message) == {"modal"}, "a form is sent alone"
            check_modal(modal_payload(message["modal"]))
            return
        payload = message_payload(message)
        check_content(payload)
        check_embeds(payload["embeds"])
        check_components(payload.get("components"), int(payload.get("flags") or 0))
    except DiscordError as exc:
        where = "; ".join(_errors(exc.errors or {}))
        raise AssertionError(f"Discord would refuse it: {where or exc}") from None


def _errors(tree: Mapping[str, Any], path: str = "") -> list[str]:
    """Discord's nested form errors as `embeds.0.title: Must be 256 or fewer in length.`"""
    found: list[str] = []
    for key, value in tree.items():
        if key == "_errors":
            found.extend(f"{path}: {error['message']}" for error in value)
        elif isinstance(value, Mapping):
            found.extend(_errors(value, f"{path}.{key}" if path else key))
    return found
