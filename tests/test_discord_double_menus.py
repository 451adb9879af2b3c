"""The Discord double's message context menus and modals (payload builders and Discord's checks).

The real bot uses them end to end in tests/e2e/test_studio.py; these pin the shapes."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.discord_double import DiscordDouble
from tests.discord_double.errors import DiscordError
from tests.discord_double.interactions import base_payload
from tests.discord_double.menus import check_modal, message_command_data, modal_submit_data


def text_input(custom_id: str, **kw: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": custom_id, "style": 2, **kw}


MODAL: dict[str, Any] = {
    "custom_id": "video:animate:1:2",
    "title": "Animate with Hailuo",
    "components": [
        {
            "type": 18,
            "label": "Prompt",
            "component": text_input("prompt", required=False, max_length=2000),
        },
        {
            "type": 18,
            "label": "Clip",
            "component": {
                "type": 3,
                "custom_id": "clip",
                "options": [
                    {"label": "768P · 6 s", "value": "768P:6", "default": True},
                    {"label": "1080P · 6 s", "value": "1080P:6"},
                ],
            },
        },
        {
            "type": 18,
            "label": "Camera",
            "component": {
                "type": 3,
                "custom_id": "camera",
                "min_values": 0,
                "max_values": 2,
                "required": False,
                "options": [{"label": m, "value": m} for m in ("Pan left", "Zoom in", "Shake")],
            },
        },
        {"type": 1, "components": [text_input("note", label="Note", style=1)]},
    ],
}


def test_a_valid_modal_passes() -> None:
    check_modal(MODAL)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m.update(components=[]), "components"),
        (lambda m: m["components"][0].update(label="x" * 46), "label"),
        (lambda m: m["components"][3]["components"].append(text_input("more", label="x")), "WIDTH"),
        (lambda m: m["components"][1]["component"].update(options=[]), "options"),
        (lambda m: m["components"][0]["component"].update(max_length=5000), "max_length"),
        (lambda m: m["components"].append({"type": 2, "custom_id": "b"}), "4"),
    ],
    ids=[
        "empty",
        "long-label",
        "two-inputs-in-a-row",
        "no-options",
        "too-long",
        "button",
    ],
)
def test_discord_refuses_bad_modals(change: Any, field: str) -> None:
    import copy

    modal = copy.deepcopy(MODAL)
    change(modal)
    with pytest.raises(DiscordError) as err:
        check_modal(modal)
    assert err.value.code == 50035
    assert field in str(err.value.errors)


def test_submit_mirrors_the_layout_with_values() -> None:
    data = modal_submit_data(
        MODAL, {"prompt": "waves", "camera": ["Pan left", "Zoom in"], "note": "n"}
    )
    assert data["custom_id"] == "video:animate:1:2"
    prompt, clip, camera, row = data["components"]
    assert prompt["type"] == 18 and prompt["component"] == {
        "type": 4,
        "id": 0,
        "custom_id": "prompt",
        "value": "waves",
    }
    assert clip["component"]["values"] == ["768P:6"]  # the default option
    assert camera["component"]["values"] == ["Pan left", "Zoom in"]
    assert row == {
        "type": 1,
        "id": 0,
        "components": [{"type": 4, "id": 0, "custom_id": "note", "value": "n"}],
    }


@pytest.mark.parametrize(
    "values",
    [
        {"note": ""},  # required text input left empty
        {"note": "n", "camera": ["Pan left", "Zoom in", "Shake"]},  # more than max_values
        {"note": "n", "clip": "4K:6"},  # not an option
        {"note": "n", "nope": "x"},  # no such field
        {"note": "n", "prompt": "x" * 2001},
    ],
    ids=["required-empty", "too-many", "not-offered", "unknown-field", "too-long"],
)
def test_a_member_cannot_submit_what_discord_would_not_let_through(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        modal_submit_data(MODAL, values)


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
async def dd() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as double:
        yield double


async def test_member_message_and_message_command_payload(dd: DiscordDouble) -> None:
    msg = await dd.post_message(
        "look", attachments=[("cat.png", png(640, 480), "image/png")], embeds=[{"title": "t"}]
    )
    [att] = msg.attachments
    assert (att["width"], att["height"], att["size"]) == (640, 480, len(png(640, 480)))
    async with aiohttp.ClientSession() as http, http.get(att["url"]) as resp:
        assert await resp.read() == png(640, 480)
    command = {"id": "99", "name": "Animate with Hailuo", "guild_id": str(dd.guild.id)}  # type: ignore[union-attr]
    data = message_command_data(dd.world, command, msg)
    assert data["type"] == 3 and data["target_id"] == str(msg.id)
    resolved = data["resolved"]["messages"][str(msg.id)]
    assert resolved["attachments"][0]["url"] == att["url"]
    assert resolved["author"]["id"] == str(dd.user.id)  # type: ignore[union-attr]


async def test_modal_response_is_validated_at_the_callback(dd: DiscordDouble) -> None:
    inter = base_payload(
        dd.world,
        itype=2,
        guild=dd.guild,  # type: ignore[arg-type]
        channel_id=dd.channel.id,  # type: ignore[union-attr]
        member=dd.guild.members[dd.user.id],  # type: ignore[union-attr]
    )
    await dd._send_interaction(inter, dispatch=False)
    url = f"{dd.api_base}/interactions/{inter.id}/{inter.token}/callback"
    bad = {"type": 9, "data": {**MODAL, "components": []}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=bad) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 50035
        async with http.post(url, json={"type": 9, "data": MODAL}) as resp:
            assert resp.status == 204
    assert inter.ack_type == 9 and inter.response_data == MODAL
    with pytest.raises(LookupError):
        await dd.submit_modal(
            base_payload(
                dd.world,
                itype=2,
                guild=dd.guild,
                channel_id=dd.channel.id,
                member=dd.guild.members[dd.user.id],
            )
        )  # type: ignore[union-attr, arg-type]
