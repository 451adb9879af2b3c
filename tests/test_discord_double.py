"""Tests of the Discord double: the sample discord.py bot end to end, and the REST/gateway rules."""

from __future__ import annotations

import asyncio
import json
import os
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.discord_double import DiscordDouble, snowflake_time
from tests.e2e.harness import BotProcess

SAMPLE = "tests.discord_double_sample_bot"
MIB = 1024 * 1024
ECHO_COMMAND = {
    "name": "echo",
    "description": "Echo",
    "type": 1,
    "options": [
        {"type": 3, "name": "text", "description": "t", "required": True},
        {"type": 11, "name": "file", "description": "f"},
    ],
}


@pytest.fixture
async def dd() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as double:
        yield double


@pytest.fixture
async def http(dd: DiscordDouble) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {dd.token}"}
    async with aiohttp.ClientSession(dd.api_base + "/", headers=headers) as session:
        yield session


def bot_process(dd: DiscordDouble) -> BotProcess:
    return BotProcess(SAMPLE, env={**dd.env(), "SAMPLE_GUILD_ID": str(dd.guild.id)})


async def sync_echo(http: aiohttp.ClientSession, dd: DiscordDouble) -> None:
    path = f"applications/{dd.world.app_id}/guilds/{dd.guild.id}/commands"
    async with http.put(path, json=[ECHO_COMMAND]) as resp:
        assert resp.status == 200


async def call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, path.lstrip("/"), **kw) as resp:
        body = await resp.read()
        return resp.status, json.loads(body) if body else None


# ----- the real bot process against the double -----
async def test_sample_bot_slash_followup_messages_and_click_after_restart(
    dd: DiscordDouble,
) -> None:
    video = os.urandom(300_000)
    async with bot_process(dd) as bot:
        await bot.wait_for_line("Ready:", 15)
        # Login, then sync in setup_hook, then the gateway; a plain Client never asks /gateway.
        paths = [(c.method, c.route) for c in dd.world.calls]
        assert paths[:3] == [
            ("GET", "/users/@me"),
            ("GET", "/oauth2/applications/@me"),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands"),
        ]
        assert dd.calls(path_glob="/gateway*") == []
        assert "echo" in dd.world.guild_commands[dd.guild.id]
        opened = next(g for g in dd.world.gateway_log if g["dir"] == "open")
        assert opened["query"]["compress"] == "zlib-stream"

        inter = await dd.slash(
            "echo",
            {"text": "hi <@&1> @everyone"},
            attachments={"file": ("in.mp4", video, "video/mp4")},
        )
        await dd.wait_for_ack(inter, 5)
        assert inter.ack_type == 5 and inter.ephemeral
        assert inter.ack_latency is not None and inter.ack_latency < 3.0
        callback = dd.calls("POST", f"/interactions/{inter.id}/*/callback")[0]
        assert callback.query.get("with_response") and callback.status == 200
        await bot.wait_for_line("Echoed:", 10)

        # The attachment came from the double's CDN, byte for byte.
        cdn = dd.calls("GET", "/cdn/ephemeral-attachments/*/in.mp4")
        assert [c.status for c in cdn] == [200]
        # The followup filled the ephemeral loading message; nobody else sees it.
        (reply,) = dd.ephemeral_replies(inter)
        assert reply.id == inter.original_message_id and not reply.loading
        assert f"{len(video)} bytes" in reply.content
        visible = dd.messages_in()
        assert reply.id not in {m.id for m in visible}
        card, clip = visible
        assert card.embeds[0]["title"] == "Echo"
        assert card.custom_ids() == ["sample:press:0"]
        assert card.allowed_mentions == {"parse": []} and clip.allowed_mentions == {"parse": []}
        assert dd.blob(clip.attachments[0]["url"]) == video
        async with aiohttp.ClientSession() as s, s.get(clip.attachments[0]["url"]) as r:
            assert await r.read() == video
        posts = dd.calls("POST", f"/channels/{dd.channel.id}/messages")
        assert all(c.json["enforce_nonce"] and c.json["nonce"] for c in posts)
        assert posts[1].files[0]["filename"] == "echo.bin" and posts[1].files[0]["size"] == len(
            video
        )

        click = await dd.click(card.id, "sample:press:0")
        await dd.wait_for_ack(click, 5)
        assert click.ack_type == 6
        await dd.wait_for(lambda: card.content.startswith("pressed 1"), 5)
        assert card.custom_ids() == ["sample:press:1"] and len(card.history) == 1

        assert await bot.kill() == -9
        bot.assert_clean()
    assert not dd.gateway.live_ready()

    async with bot_process(dd) as bot2:
        await dd.wait_for_ready(15, count=2)
        await bot2.wait_for_line("Ready:", 15)
        # The DynamicItem is found by its custom_id template, not by a view stored in memory.
        click = await dd.click(card.id, "sample:press:1")
        await dd.wait_for_ack(click, 5)
        await dd.wait_for(lambda: card.content.startswith("pressed 2"), 5)
        code, seconds = await bot2.terminate()
        assert code == 0 and seconds < 5
        bot2.assert_clean()
    assert dd.unknown_calls() == []


async def test_gateway_drop_resumes_the_same_session(dd: DiscordDouble) -> None:
    async with bot_process(dd) as bot:
        await bot.wait_for_line("Ready:", 15)
        session_id = next(iter(dd.gateway.sessions))
        await dd.drop_gateway(4000)
        await bot.wait_for_line("successfully RESUMED", 10)
        resume = next(g for g in dd.world.gateway_log if g["dir"] == "recv" and g["op"] == 6)
        assert resume["conn"] == 2 and list(dd.gateway.sessions) == [session_id]
        assert dd.ready_count == 1  # resumed, not re-identified
        inter = await dd.slash("echo", {"text": "after resume"})
        await dd.wait_for_ack(inter, 5)
        await bot.wait_for_line("Echoed:", 10)
        await bot.terminate()
        bot.assert_clean()


async def test_oversized_file_is_413_40005(dd: DiscordDouble) -> None:
    async with bot_process(dd) as bot:
        await bot.wait_for_line("Ready:", 15)
        inter = await dd.slash("echo", {"text": "big", "pad": 10 * MIB + 1})
        await bot.wait_for_line("Upload failed: status=413 code=40005", 15)
        failed = dd.calls("POST", f"/channels/{dd.channel.id}/messages")[-1]
        assert (failed.status, failed.error_code) == (413, 40005)
        await dd.wait_for(lambda: len(dd.ephemeral_replies(inter)) == 2, 5)
        assert dd.ephemeral_replies(inter)[-1].content == "upload failed: 413 40005"
        assert len(dd.messages_in()) == 1  # only the card; the clip was refused
        await bot.terminate()
        bot.assert_clean()


# ----- REST rules, driven directly -----
async def test_rate_limiter_sends_headers_and_429_with_via(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    dd.world.config.rate_limits = True
    status, msg = await call(
        http, "POST", f"channels/{dd.channel.id}/messages", json={"content": "x"}
    )
    assert status == 200
    path = f"channels/{dd.channel.id}/messages/{msg['id']}"
    remaining = []
    for i in range(5):
        async with http.patch(path, json={"content": f"edit {i}"}) as resp:
            assert resp.status == 200
            h = resp.headers
            assert h["X-RateLimit-Limit"] == "5" and h["X-RateLimit-Bucket"]
            assert (
                float(h["X-RateLimit-Reset-After"]) > 0
                and float(h["X-RateLimit-Reset"]) > time.time()
            )
            remaining.append(int(h["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    async with http.patch(path, json={"content": "too fast"}) as resp:
        assert resp.status == 429
        assert resp.headers["Via"] and resp.headers["Content-Type"] == "application/json"
        body = await resp.json()
        assert body["global"] is False and 0 < body["retry_after"] <= 5
    assert dd.world.rate_limit_hits == 1
    assert dd.world.messages[int(msg["id"])].content == "edit 4"


async def test_discord_py_paces_itself_on_the_simulated_headers(
    dd: DiscordDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = dd.world.config
    cfg.rate_limits = True
    cfg.buckets[("PATCH", "/channels/{channel_id}/messages/{message_id}")] = (3, 0.6)
    monkeypatch.setattr(discord.http.Route, "BASE", dd.api_base)
    client = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await client.static_login(dd.token)
        msg = await client.send_message(
            dd.channel.id, params=discord.http.handle_message_parameters(content="a")
        )
        for i in range(7):
            params = discord.http.handle_message_parameters(content=f"e{i}")
            await client.edit_message(dd.channel.id, msg["id"], params=params)
    finally:
        await client.close()
    edits = dd.calls("PATCH", f"/channels/{dd.channel.id}/messages/*")
    # discord.py read Remaining/Reset-After and waited: every edit landed, nothing was retried.
    assert [c.status for c in edits] == [200] * 7
    assert edits[3].at - edits[0].at >= 0.5
    assert dd.world.rate_limit_hits == 0


async def test_backdated_interaction_token_is_expired(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    await sync_echo(http, dd)
    inter = await dd.slash("echo", {"text": "old"}, backdate_seconds=16 * 60, dispatch=False)
    assert abs(snowflake_time(inter.id) - (time.time() - 960)) < 2
    base = f"interactions/{inter.id}/{inter.token}/callback"
    status, body = await call(http, "POST", base, json={"type": 5})
    assert (status, body["code"]) == (404, 10062)  # missed the 3 s window long ago
    hook = f"webhooks/{dd.world.app_id}/{inter.token}"
    status, body = await call(http, "POST", hook + "?wait=1", json={"content": "late"})
    assert (status, body["code"]) == (401, 50027)
    status, body = await call(http, "PATCH", hook + "/messages/@original", json={"content": "x"})
    assert (status, body["code"]) == (401, 50027)

    # Acknowledged in time, then the 15-minute life (shortened here) runs out.
    dd.world.config.token_ttl = 0.3
    fresh = await dd.slash("echo", {"text": "new"}, dispatch=False)
    cb = f"interactions/{fresh.id}/{fresh.token}/callback"
    assert (await call(http, "POST", cb, json={"type": 5}))[0] == 204
    await asyncio.sleep(0.4)
    status, body = await call(
        http, "POST", f"webhooks/{dd.world.app_id}/{fresh.token}", json={"content": "x"}
    )
    assert (status, body["code"]) == (401, 50027)


async def test_interaction_callback_rules(dd: DiscordDouble, http: aiohttp.ClientSession) -> None:
    await sync_echo(http, dd)
    inter = await dd.slash("echo", {"text": "a"}, dispatch=False)
    hook = f"webhooks/{dd.world.app_id}/{inter.token}"
    assert (await call(http, "POST", hook, json={"content": "early"}))[1]["code"] == 10015
    cb = f"interactions/{inter.id}/{inter.token}/callback"
    assert (await call(http, "POST", cb, json={"type": 6}))[1]["code"] == 50035  # not a component
    status, body = await call(http, "POST", cb + "?with_response=1", json={"type": 5})
    assert status == 200 and body["interaction"]["id"] == str(inter.id)
    assert body["interaction"]["response_message_loading"] is True
    loading_id = int(body["interaction"]["response_message_id"])
    status, body = await call(http, "POST", cb, json={"type": 4, "data": {"content": "again"}})
    assert (status, body["code"]) == (400, 40060)
    # First followup fills the loading message; the next one is a new message.
    status, first = await call(http, "POST", hook + "?wait=1", json={"content": "one"})
    assert int(first["id"]) == loading_id and first["flags"] == 0
    status, second = await call(
        http, "POST", hook + "?wait=1", json={"content": "two", "flags": 64}
    )
    assert int(second["id"]) != loading_id and second["flags"] == 64
    assert [m.content for m in dd.messages_in()] == ["one"]
    assert [m.content for m in dd.ephemeral_replies(inter)] == ["two"]
    status, edited = await call(http, "PATCH", hook + "/messages/@original", json={"content": "1!"})
    assert edited["content"] == "1!"

    late = await dd.slash("echo", {"text": "b"}, backdate_seconds=3.5, dispatch=False)
    status, body = await call(
        http, "POST", f"interactions/{late.id}/{late.token}/callback", json={"type": 5}
    )
    assert (status, body["code"]) == (404, 10062)


def _button(cid: str) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "b", "custom_id": cid}


def _row(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(items)}


INVALID_BODIES = [
    ("content 2001", {"content": "x" * 2001}, 400, 50035),
    ("11 embeds", {"embeds": [{"title": "t"}] * 11}, 400, 50035),
    ("title 257", {"embeds": [{"title": "t" * 257}]}, 400, 50035),
    (
        "6001 total",
        {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
        400,
        50035,
    ),
    ("26 fields", {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, 400, 50035),
    ("6 rows", {"components": [_row(_button(f"r{i}")) for i in range(6)]}, 400, 50035),
    ("6 buttons", {"components": [_row(*[_button(f"b{i}") for i in range(6)])]}, 400, 50035),
    ("custom_id 101", {"components": [_row(_button("c" * 101))]}, 400, 50035),
    ("empty custom_id", {"components": [_row(_button(""))]}, 400, 50035),
    ("duplicate custom_id", {"components": [_row(_button("x")), _row(_button("x"))]}, 400, 50035),
    ("empty message", {"content": ""}, 400, 50006),
]


@pytest.mark.parametrize(
    ("why", "body", "status", "code"), INVALID_BODIES, ids=[b[0] for b in INVALID_BODIES]
)
async def test_message_validators(
    dd: DiscordDouble,
    http: aiohttp.ClientSession,
    why: str,
    body: dict[str, Any],
    status: int,
    code: int,
) -> None:
    got = await call(http, "POST", f"channels/{dd.channel.id}/messages", json=body)
    assert (got[0], got[1]["code"]) == (status, code), why
    assert dd.messages_in() == []


def _form(
    payload: dict[str, Any], files: dict[str, bytes], payload_type: str = "text/plain"
) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps(payload), content_type=payload_type)
    for name, data in files.items():
        form.add_field(
            name, data, filename=f"{name[6:-1]}.bin", content_type="application/octet-stream"
        )
    return form


async def test_multipart_files_and_upload_limits(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    path = f"channels/{dd.channel.id}/messages"
    ok = _form(
        {"content": "c", "attachments": [{"id": 0, "filename": "clip.mp4", "description": "d"}]},
        {"files[0]": b"abc"},
    )
    status, msg = await call(http, "POST", path, data=ok)
    assert status == 200 and msg["attachments"][0]["filename"] == "clip.mp4"
    assert dd.blob(msg["attachments"][0]["url"]) == b"abc"
    mismatch = _form(
        {"attachments": [{"id": 0, "filename": "a"}]}, {"files[1]": b"x"}, "application/json"
    )
    assert (await call(http, "POST", path, data=mismatch))[1]["code"] == 50035
    eleven = _form(
        {"attachments": [{"id": i} for i in range(11)]}, {f"files[{i}]": b"x" for i in range(11)}
    )
    assert (await call(http, "POST", path, data=eleven))[1]["code"] == 50035
    big = _form({"attachments": [{"id": 0}]}, {"files[0]": b"\0" * (10 * MIB + 1)})
    assert await call(http, "POST", path, data=big) == (
        413,
        {"code": 40005, "message": "Request entity too large"},
    )
    dd.guild.premium_tier = 2  # 50 MiB per file
    big = _form({"attachments": [{"id": 0}]}, {"files[0]": b"\0" * (10 * MIB + 1)})
    assert (await call(http, "POST", path, data=big))[0] == 200
    # Edit keeps only the attachments listed in `attachments`.
    edit = _form({"attachments": [{"id": 0, "filename": "new.bin"}]}, {"files[0]": b"new"})
    status, edited = await call(http, "PATCH", f"{path}/{msg['id']}", data=edit)
    assert [a["filename"] for a in edited["attachments"]] == ["new.bin"]


async def test_nonce_dedup_old_edits_auth_and_unknown_routes(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    path = f"channels/{dd.channel.id}/messages"
    body = {"content": "once", "nonce": "n-1", "enforce_nonce": True}
    first = (await call(http, "POST", path, json=body))[1]
    again = (await call(http, "POST", path, json=body))[1]
    assert first["id"] == again["id"] and len(dd.messages_in()) == 1
    await call(http, "POST", path, json={"content": "twice", "nonce": "n-2"})
    await call(http, "POST", path, json={"content": "twice", "nonce": "n-2"})
    assert len(dd.messages_in()) == 3  # without enforce_nonce, no deduplication

    dd.world.config.old_edit_age = 3600
    dd.age_message(int(first["id"]), 3700)
    status, err = await call(http, "PATCH", f"{path}/{first['id']}", json={"content": "late"})
    assert (status, err["code"]) == (429, 30046)

    async with http.get("oauth2/applications/@me") as resp:
        assert resp.headers["Content-Type"] == "application/json"  # exact: discord.py trap
        assert {"id", "name", "description", "icon", "bot_public", "owner", "verify_key"} <= set(
            await resp.json()
        )
    async with aiohttp.ClientSession() as anon, anon.get(dd.api_base + "/users/@me") as resp:
        assert resp.status == 401
    assert (await call(http, "GET", "gateway/bot"))[1]["url"] == dd.gateway_url
    status, err = await call(http, "POST", "channels/1/pins/2")
    assert (status, err["code"]) == (404, 0)
    assert dd.unknown_calls()[0].path == "/channels/1/pins/2"
    assert (await call(http, "GET", f"channels/{dd.channel.id}/messages/123"))[1]["code"] == 10008
    assert (await call(http, "GET", "channels/999/messages/123"))[1]["code"] == 10003


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"name": "Echo"}, "upper case"),
        ({"name": "two words"}, "space"),
        ({"description": "d" * 101}, "description 101"),
        (
            {
                "options": [
                    {"type": 3, "name": "a", "description": "a"},
                    {"type": 3, "name": "b", "description": "b", "required": True},
                ]
            },
            "required after optional",
        ),
        (
            {"options": [{"type": 3, "name": f"o{i}", "description": "o"} for i in range(26)]},
            "26 options",
        ),
    ],
)
async def test_command_sync_validation(
    dd: DiscordDouble, http: aiohttp.ClientSession, change: dict[str, Any], why: str
) -> None:
    path = f"applications/{dd.world.app_id}/commands"
    status, err = await call(http, "PUT", path, json=[{**ECHO_COMMAND, **change}])
    assert (status, err["code"]) == (400, 50035), why
    status, first = await call(http, "PUT", path, json=[ECHO_COMMAND])
    status, second = await call(http, "PUT", path, json=[ECHO_COMMAND])
    assert first[0]["id"] == second[0]["id"] and first[0]["application_id"] == str(dd.world.app_id)


async def test_gateway_handshake_compression_and_faults(dd: DiscordDouble) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(dd.gateway_url + "?v=10&encoding=json") as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1}})
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4004
        async with s.ws_connect(dd.gateway_url + "?v=10&encoding=json") as ws:
            await ws.receive_json()
            await ws.send_json({"op": 6, "d": {"token": dd.token, "session_id": "nope", "seq": 3}})
            assert (await ws.receive_json())["op"] == 9
        async with s.ws_connect(dd.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:
            inflate = zlib.decompressobj()

            async def frame() -> dict[str, Any]:
                data = (await ws.receive()).data
                assert data[-4:] == b"\x00\x00\xff\xff"
                return json.loads(inflate.decompress(data))

            assert (await frame())["op"] == 10
            await ws.send_json({"op": 1, "d": None})
            assert (await frame())["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": dd.token, "intents": 513}})
            ready, guild = await frame(), await frame()
            assert ready["t"] == "READY" and ready["d"]["resume_gateway_url"] == dd.gateway_url
            assert ready["d"]["guilds"] == [{"id": str(dd.guild.id), "unavailable": True}]
            g = guild["d"]
            # Without the presences intent Discord lists only the bot (and voice users).
            assert guild["t"] == "GUILD_CREATE" and g["member_count"] == 3
            assert [m["user"]["id"] for m in g["members"]] == [str(dd.world.bot_user.id)]
            assert all("flags" in m and "joined_at" in m for m in g["members"])
            assert g["channels"][0]["type"] == 0 and "permissions" in g["roles"][0]
            # The control API triggers INTERACTION_CREATE through the live connection.
            async with s.put(
                f"{dd.api_base}/applications/{dd.world.app_id}/guilds/{dd.guild.id}/commands",
                json=[ECHO_COMMAND],
                headers={"Authorization": f"Bot {dd.token}"},
            ) as r:
                assert r.status == 200
            async with s.post(
                f"{dd.base_url}/_test/slash", json={"name": "echo", "options": {"text": "x"}}
            ) as r:
                assert r.status == 200
            event = await frame()
            assert event["t"] == "INTERACTION_CREATE" and event["s"] == 3
            d = event["d"]
            required = {"id", "type", "token", "version", "application_id", "attachment_size_limit"}
            assert required <= set(d) and d["attachment_size_limit"] == 10 * MIB
            assert d["member"]["permissions"] and d["data"]["options"] == [
                {"name": "text", "type": 3, "value": "x"}
            ]
            await ws.send_json(
                {
                    "op": 8,
                    "d": {"guild_id": str(dd.guild.id), "query": "", "limit": 0, "nonce": "q"},
                }
            )
            chunk = await frame()
            assert chunk["t"] == "GUILD_MEMBERS_CHUNK" and chunk["d"]["nonce"] == "q"
        async with s.ws_connect(dd.gateway_url) as ws:
            await ws.receive_json()
            await ws.send_json({"op": 2, "d": {"token": dd.token, "intents": 1 << 1}})
            dd.world.config.privileged_intents = 0
            async with s.ws_connect(dd.gateway_url) as ws2:
                await ws2.receive_json()
                await ws2.send_json({"op": 2, "d": {"token": dd.token, "intents": 1 << 15}})
                assert (await ws2.receive()).data == 4014


async def test_slash_builds_subcommand_paths_and_resolved_options(dd: DiscordDouble) -> None:
    role = dd.add_role("mods", permissions=1 << 5)
    mod = dd.add_member(name="mod", roles=[role])
    dd.world.guild_commands[dd.guild.id] = {}
    cmd = {
        "name": "videoadmin",
        "description": "admin",
        "options": [
            {
                "type": 2,
                "name": "limit",
                "description": "l",
                "options": [
                    {
                        "type": 1,
                        "name": "set",
                        "description": "s",
                        "options": [
                            {"type": 6, "name": "member", "description": "m", "required": True},
                            {"type": 4, "name": "credits", "description": "c", "required": True},
                        ],
                    },
                ],
            },
            {
                "type": 1,
                "name": "modrole",
                "description": "m",
                "options": [
                    {"type": 8, "name": "role", "description": "r", "required": True},
                ],
            },
        ],
    }
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {dd.token}"}) as s:
        url = f"{dd.api_base}/applications/{dd.world.app_id}/guilds/{dd.guild.id}/commands"
        async with s.put(url, json=[cmd]) as r:
            assert r.status == 200
    inter = await dd.slash(
        "videoadmin limit set", {"member": mod.user.id, "credits": 5}, user=mod, dispatch=False
    )
    data = inter.payload["data"]
    (group,) = data["options"]
    (sub,) = group["options"]
    assert (group["type"], group["name"], sub["type"], sub["name"]) == (2, "limit", 1, "set")
    assert sub["options"][0] == {"name": "member", "type": 6, "value": str(mod.user.id)}
    expected = str((1 << 5) | dd.guild.roles[dd.guild.id].permissions)
    assert data["resolved"]["members"][str(mod.user.id)]["permissions"] == expected
    assert inter.payload["member"]["permissions"] == expected
    inter = await dd.slash("videoadmin modrole", {"role": role.id}, dispatch=False)
    assert inter.payload["data"]["resolved"]["roles"][str(role.id)]["name"] == "mods"
    with pytest.raises(ValueError, match="required"):
        await dd.slash("videoadmin limit set", {"credits": 5}, dispatch=False)
    with pytest.raises(LookupError, match="not synced"):
        await dd.slash("video", {}, dispatch=False)


# ----- scripted faults (faults.py) -----
@pytest.fixture
async def dpy_http(
    dd: DiscordDouble, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[discord.http.HTTPClient]:
    """discord.py's own HTTP client, logged in to the double (its retry rules are under test)."""
    monkeypatch.setattr(discord.http.Route, "BASE", dd.api_base)
    client = discord.http.HTTPClient(asyncio.get_running_loop())
    await client.static_login(dd.token)
    yield client
    await client.close()


def _post(dd: DiscordDouble) -> discord.http.Route:
    return discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=dd.channel.id)


async def test_server_errors_on_any_route_as_the_proxies_send_them(
    dd: DiscordDouble, http: aiohttp.ClientSession, dpy_http: discord.http.HTTPClient
) -> None:
    """5xx: 500 is Discord's JSON; 503 is the proxy's plain text. discord.py retries 500 (and
    502/504/524) itself but raises on a 503 at once: the bot must survive that (issue 12)."""
    fault = dd.fail("GET", "/users/@me", status=503)
    async with http.get("users/@me") as resp:
        assert resp.status == 503 and resp.content_type == "text/plain"
        assert "upstream connect error" in await resp.text()
    assert (await call(http, "GET", "users/@me"))[0] == 200  # times=1: used up
    assert fault.hits == 1

    dd.fail("POST", "/channels/*/messages", status=503, times=2)
    with pytest.raises(discord.DiscordServerError) as info:
        await dpy_http.request(_post(dd), json={"content": "x"})
    assert info.value.status == 503
    assert [c.status for c in dd.calls("POST", "/channels/*")] == [503]  # not retried
    assert dd.messages_in() == []

    dd.faults.clear()
    dd.fail(None, "/channels/*/messages", status=500)
    started = time.monotonic()
    sent = await dpy_http.request(_post(dd), json={"content": "after a 500"})
    assert sent["content"] == "after a 500" and time.monotonic() - started >= 1.0
    assert [c.status for c in dd.calls("POST", "/channels/*")][-2:] == [500, 200]


async def test_dropped_connection_after_the_message_was_stored(
    dd: DiscordDouble, http: aiohttp.ClientSession, dpy_http: discord.http.HTTPClient
) -> None:
    """The socket closes with no answer after Discord stored the message: the client cannot
    tell, and only a retry with the same nonce + enforce_nonce avoids a second post ("Create
    Message": enforce_nonce, resources/message)."""
    dd.drop_connection("POST", "/channels/*/messages")
    body = {"content": "clip", "nonce": "job-7", "enforce_nonce": True}
    with pytest.raises(aiohttp.ClientConnectionError):
        await dpy_http.request(_post(dd), json=body)
    assert [m.content for m in dd.messages_in()] == ["clip"]  # stored all the same
    assert dd.calls("POST", "/channels/*")[-1].status == 0  # no answer was sent
    again = await dpy_http.request(_post(dd), json=body)
    assert again["id"] == str(dd.messages_in()[0].id) and len(dd.messages_in()) == 1

    dd.drop_connection("POST", "/channels/*/messages", after=False)
    with pytest.raises(aiohttp.ClientConnectionError):
        await dpy_http.request(_post(dd), json={"content": "lost"})
    assert len(dd.messages_in()) == 1  # never processed


async def test_429_scopes_codes_and_cloudflare(
    dd: DiscordDouble, http: aiohttp.ClientSession, dpy_http: discord.http.HTTPClient
) -> None:
    """429 as "Exceeding A Rate Limit" (topics/rate-limits) describes it: JSON body with
    retry_after, global and an optional code; X-RateLimit-Scope user/global/shared; Via. A
    Cloudflare ban ("Invalid Request Limit") is plain text without Via."""
    path = f"channels/{dd.channel.id}/messages"
    dd.rate_limit("POST", "/channels/*/messages", scope="global", code=40062, retry_after=0.2)
    async with http.post(path, json={"content": "x"}) as resp:
        assert resp.status == 429 and resp.headers["Content-Type"] == "application/json"
        assert resp.headers["X-RateLimit-Scope"] == "global"
        assert resp.headers["X-RateLimit-Global"] == "true" and "Via" in resp.headers
        assert await resp.json() == {
            "message": "You are being rate limited.",
            "retry_after": 0.2,
            "global": True,
            "code": 40062,
        }
    dd.rate_limit("POST", "/channels/*/messages", scope="shared", retry_after=0.1)
    async with http.post(path, json={"content": "x"}) as resp:
        assert resp.headers["X-RateLimit-Scope"] == "shared"
        assert (await resp.json())["global"] is False and "X-RateLimit-Global" not in resp.headers
    # discord.py waits retry_after on a 429 that carries Via, then retries and succeeds.
    dd.rate_limit("POST", "/channels/*/messages", scope="global", retry_after=0.1)
    assert (await dpy_http.request(_post(dd), json={"content": "waited"}))["content"] == "waited"

    dd.cloudflare_ban("POST", "/channels/*/messages")
    async with http.post(path, json={"content": "x"}) as resp:
        assert resp.status == 429 and "Via" not in resp.headers
        assert resp.content_type == "text/plain"
    dd.cloudflare_ban("POST", "/channels/*/messages")
    with pytest.raises(discord.HTTPException) as info:
        await dpy_http.request(_post(dd), json={"content": "banned"})
    assert info.value.status == 429 and not isinstance(info.value, discord.RateLimited)
    assert [m.content for m in dd.messages_in()] == ["waited"]


# ----- permissions: overwrites, app_permissions, 50001/50013/160002 -----
async def test_channel_overwrites_follow_discords_order(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """ "Permission Overwrites" (topics/permissions): @everyone, then roles (denies, then
    allows), then the member; "Implicit Permissions": no View Channel, nothing; no Send
    Messages, no files or embeds."""
    from tests.discord_double import (
        ATTACH_FILES,
        EMBED_LINKS,
        READ_MESSAGE_HISTORY,
        SEND_MESSAGES,
        VIEW_CHANNEL,
    )

    bot_role = dd.bot_role()
    base = dd.bot_permissions()
    assert base & SEND_MESSAGES and base & ATTACH_FILES and base & READ_MESSAGE_HISTORY
    await dd.set_overwrite(dd.channel, None, deny=SEND_MESSAGES)  # @everyone
    assert not dd.bot_permissions() & SEND_MESSAGES
    assert not dd.bot_permissions() & (EMBED_LINKS | ATTACH_FILES)  # implied by no Send
    await dd.set_overwrite(dd.channel, bot_role, allow=SEND_MESSAGES)  # a role beats @everyone
    assert dd.bot_permissions() & SEND_MESSAGES
    bot_member = dd.guild.members[dd.world.bot_user.id]
    await dd.set_overwrite(dd.channel, bot_member, deny=SEND_MESSAGES)  # the member beats roles
    assert not dd.bot_permissions() & SEND_MESSAGES
    await dd.set_overwrite(dd.channel, bot_member)  # removed
    await dd.set_overwrite(dd.channel, bot_role, deny=VIEW_CHANNEL)
    assert dd.bot_permissions() == 0
    assert dd.channel.payload()["permission_overwrites"] == [
        {"id": str(dd.guild.id), "type": 0, "allow": "0", "deny": str(SEND_MESSAGES)},
        {"id": str(bot_role.id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
    ]
    other = dd.add_channel("other")
    assert dd.bot_permissions(other) == base  # overwrites are per channel


async def test_sends_without_permissions_are_403(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """50001 Missing Access without View Channel, 50013 Missing Permissions without Send
    Messages or (for files) Attach Files (opcodes-and-status-codes; "Create Message")."""
    from tests.discord_double import ATTACH_FILES, SEND_MESSAGES, VIEW_CHANNEL

    path = f"channels/{dd.channel.id}/messages"
    role = dd.bot_role()
    await dd.set_overwrite(dd.channel, role, deny=ATTACH_FILES)
    form = _form({"attachments": [{"id": 0, "filename": "a.mp4"}]}, {"files[0]": b"x"})
    assert (await call(http, "POST", path, data=form))[1] == {
        "code": 50013,
        "message": "Missing Permissions",
    }
    assert (await call(http, "POST", path, json={"content": "text is fine"}))[0] == 200
    await dd.set_overwrite(dd.channel, role, deny=SEND_MESSAGES)
    status, err = await call(http, "POST", path, json={"content": "x"})
    assert (status, err["code"]) == (403, 50013)
    await dd.set_overwrite(dd.channel, role, deny=VIEW_CHANNEL)
    status, err = await call(http, "POST", path, json={"content": "x"})
    assert (status, err["code"], err["message"]) == (403, 50001, "Missing Access")
    status, err = await call(http, "GET", f"channels/{dd.channel.id}/messages")
    assert (status, err["code"]) == (403, 50001)
    assert [m.content for m in dd.messages_in()] == ["text is fine"]


async def test_app_permissions_are_computed_in_the_channel(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """Interaction `app_permissions`: "permissions the app has within the channel the
    interaction was sent from"; `member.permissions` includes overwrites too."""
    from tests.discord_double import ATTACH_FILES, SEND_MESSAGES

    await sync_echo(http, dd)
    role = dd.add_role("muted")
    member = dd.add_member(name="muted", roles=[role])
    await dd.set_overwrite(dd.channel, dd.bot_role(), deny=ATTACH_FILES)
    await dd.set_overwrite(dd.channel, role, deny=SEND_MESSAGES)
    inter = await dd.slash("echo", {"text": "t"}, user=member, dispatch=False)
    app = int(inter.payload["app_permissions"])
    assert app & SEND_MESSAGES and not app & ATTACH_FILES
    assert not int(inter.payload["member"]["permissions"]) & SEND_MESSAGES
    assert inter.payload["channel"]["permission_overwrites"]
    elsewhere = await dd.slash(
        "echo", {"text": "t"}, user=member, channel=dd.add_channel("free"), dispatch=False
    )
    assert int(elsewhere.payload["app_permissions"]) & ATTACH_FILES


async def test_reply_without_read_message_history(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """Without Read Message History a reply is 403 160002 ("Cannot reply without permission to
    read message history") and the history reads as empty ("Get Channel Messages": "no
    messages will be returned")."""
    from tests.discord_double import READ_MESSAGE_HISTORY

    path = f"channels/{dd.channel.id}/messages"
    card = (await call(http, "POST", path, json={"content": "card"}))[1]
    await dd.set_overwrite(dd.channel, dd.bot_role(), deny=READ_MESSAGE_HISTORY)
    reply = {"content": "clip", "message_reference": {"message_id": card["id"]}}
    status, err = await call(http, "POST", path, json=reply)
    assert (status, err["code"]) == (403, 160002)
    assert await call(http, "GET", path) == (200, [])
    status, err = await call(http, "GET", f"{path}/{card['id']}")
    assert (status, err["code"]) == (403, 50013)
    assert (await call(http, "POST", path, json={"content": "plain"}))[0] == 200


# ----- replies and nonces -----
async def test_replies_echo_their_reference_and_fail_if_not_exists(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """ "Message Reference Structure" (resources/message): fail_if_not_exists (default true)
    decides between 400 50035 MESSAGE_REFERENCE_UNKNOWN_MESSAGE and a plain message."""
    path = f"channels/{dd.channel.id}/messages"
    card = (await call(http, "POST", path, json={"content": "card"}))[1]
    status, reply = await call(
        http, "POST", path, json={"content": "r", "message_reference": {"message_id": card["id"]}}
    )
    assert status == 200 and reply["type"] == 19
    assert reply["message_reference"] == {
        "type": 0,
        "channel_id": str(dd.channel.id),
        "message_id": card["id"],
        "guild_id": str(dd.guild.id),
    }
    assert reply["referenced_message"]["id"] == card["id"]
    await call(http, "DELETE", f"{path}/{card['id']}")
    gone = {"message_id": card["id"]}
    status, err = await call(http, "POST", path, json={"content": "r", "message_reference": gone})
    assert (status, err["code"]) == (400, 50035)
    assert err["errors"]["message_reference"]["_errors"][0]["code"] == (
        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
    )
    lenient = dict(gone, fail_if_not_exists=False)
    status, plain = await call(
        http, "POST", path, json={"content": "p", "message_reference": lenient}
    )
    assert status == 200 and plain["type"] == 0 and "message_reference" not in plain
    # The earlier reply now points at a deleted message: referenced_message is null.
    assert (await call(http, "GET", f"{path}/{reply['id']}"))[1]["referenced_message"] is None


async def test_nonce_of_a_since_deleted_message_is_10008(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """enforce_nonce returns the earlier message for a nonce seen in the last few minutes;
    once that message was deleted the same nonce gets 404 10008, and a fresh nonce posts."""
    path = f"channels/{dd.channel.id}/messages"
    body = {"content": "clip", "nonce": "job-9", "enforce_nonce": True}
    first = (await call(http, "POST", path, json=body))[1]
    await call(http, "DELETE", f"{path}/{first['id']}")
    status, err = await call(http, "POST", path, json=body)
    assert (status, err["code"]) == (404, 10008)
    assert dd.messages_in() == []
    status, fresh = await call(http, "POST", path, json=dict(body, nonce="job-9b"))
    assert status == 200 and fresh["id"] != first["id"]


# ----- history paging -----
async def test_history_after_returns_the_oldest_page_newest_first(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """ "Get Channel Messages": `after` gives the `limit` messages right after the id (sorted
    newest first, as every page is); cursors are exclusive; limit is 1-100."""
    ids = [(await dd.post_message(f"m{i}")).id for i in range(250)]
    path = f"channels/{dd.channel.id}/messages"
    page = (await call(http, "GET", path, params={"after": str(ids[0]), "limit": "100"}))[1]
    assert [int(m["id"]) for m in page] == list(reversed(ids[1:101]))
    before = (await call(http, "GET", path, params={"before": str(ids[100]), "limit": "3"}))[1]
    assert [int(m["id"]) for m in before] == [ids[99], ids[98], ids[97]]
    # Paging forward the way discord.py's history(after=...) does reaches every message once.
    seen: list[int] = []
    cursor = ids[0]
    for _ in range(10):
        page = (await call(http, "GET", path, params={"after": str(cursor), "limit": "100"}))[1]
        if not page:
            break
        seen.extend(int(m["id"]) for m in reversed(page))
        cursor = int(page[0]["id"])
    assert seen == ids[1:]
    status, err = await call(http, "GET", path, params={"limit": "101"})
    assert (status, err["code"]) == (400, 50035)


# ----- 30046 and the false failures -----
async def test_old_message_edits_are_429_30046_in_a_rolling_window_per_channel(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """Edits of messages older than an hour are capped per channel (30046, reported as a 429
    with that code); the limit frees up as the window rolls. Numbers are unpublished
    (discord-api-docs#4413), so they are parameters."""
    dd.world.config.old_edit_age = 3600
    dd.world.config.old_edit_allowance = 2
    dd.world.config.old_edit_window = 0.5
    path = f"channels/{dd.channel.id}/messages"
    old = [(await call(http, "POST", path, json={"content": f"o{i}"}))[1]["id"] for i in range(3)]
    for mid in old:
        dd.age_message(int(mid), 3700)
    young = (await call(http, "POST", path, json={"content": "young"}))[1]["id"]
    assert (await call(http, "PATCH", f"{path}/{old[0]}", json={"content": "a"}))[0] == 200
    assert (await call(http, "PATCH", f"{path}/{old[1]}", json={"content": "b"}))[0] == 200
    async with http.patch(f"{path}/{old[2]}", json={"content": "c"}) as resp:
        body = await resp.json()
        assert resp.status == 429 and "Via" in resp.headers
    assert body["code"] == 30046 and 0 < body["retry_after"] <= 0.5 and body["global"] is False
    assert (await call(http, "PATCH", f"{path}/{young}", json={"content": "y"}))[0] == 200
    other = dd.add_channel("other")
    elsewhere = await call(http, "POST", f"channels/{other.id}/messages", json={"content": "x"})
    dd.age_message(int(elsewhere[1]["id"]), 3700)
    edit_elsewhere = f"channels/{other.id}/messages/{elsewhere[1]['id']}"
    assert (await call(http, "PATCH", edit_elsewhere, json={"content": "z"}))[0] == 200

    async def window_rolled() -> bool:
        return (await call(http, "PATCH", f"{path}/{old[2]}", json={"content": "c"}))[0] == 200

    await dd.wait_for(window_rolled, timeout=5.0, interval=0.1)


async def test_embed_limits_count_trimmed_text(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """ "Embed Limits": leading and trailing whitespace is trimmed before the limits apply."""
    path = f"channels/{dd.channel.id}/messages"
    padded = {"title": "t" * 256 + "   \n", "description": "  " + "d" * 4096 + "  "}
    assert (await call(http, "POST", path, json={"embeds": [padded]}))[0] == 200
    spaced = [{"description": " " * 3000 + "d" * 1000}, {"description": "e" * 4000 + " " * 96}]
    assert (await call(http, "POST", path, json={"embeds": spaced}))[0] == 200  # 5000 counted
    blank_field = {"fields": [{"name": "  ", "value": "v"}]}
    assert (await call(http, "POST", path, json={"embeds": [blank_field]}))[1]["code"] == 50035


async def test_flags_only_edits_of_others_messages_need_manage_messages(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """ "Edit Message": others can edit only flags, and only with Manage Messages."""
    from tests.discord_double import MANAGE_MESSAGES

    theirs = await dd.post_message("https://example.com")
    path = f"channels/{dd.channel.id}/messages/{theirs.id}"
    status, err = await call(http, "PATCH", path, json={"flags": 4})
    assert (status, err["code"]) == (403, 50013)
    await dd.set_overwrite(dd.channel, dd.bot_role(), allow=MANAGE_MESSAGES)
    status, edited = await call(http, "PATCH", path, json={"flags": 4})
    assert status == 200 and edited["flags"] & 4 and edited["content"] == "https://example.com"
    status, err = await call(http, "PATCH", path, json={"content": "mine now"})
    assert (status, err["code"]) == (403, 50005)
    assert theirs.content == "https://example.com"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("echo", True),
        ("café-au_lait's", True),
        ("नमस्ते", True),  # Devanagari vowel signs and virama are marks: \p{sc=Deva}
        ("สวัสดี", True),  # Thai vowel marks: \p{sc=Thai}
        ("ß", True),
        ("٣٤", True),  # \p{N} in any script
        ("Echo", False),
        ("two words", False),
        ("emoji🎬", False),
        ("a" * 33, False),
    ],
)
async def test_command_names_use_discords_pattern(
    dd: DiscordDouble, http: aiohttp.ClientSession, name: str, ok: bool
) -> None:
    """ "Application Command Naming": ^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$,
    lowercase where a lowercase form exists."""
    path = f"applications/{dd.world.app_id}/commands"
    status, _ = await call(http, "PUT", path, json=[{**ECHO_COMMAND, "name": name}])
    assert status == (200 if ok else 400)


async def test_a_null_sync_body_clears_the_commands(
    dd: DiscordDouble, http: aiohttp.ClientSession
) -> None:
    """Bulk overwrite with `null` is accepted like [] (it removes every command)."""
    path = f"applications/{dd.world.app_id}/commands"
    await call(http, "PUT", path, json=[ECHO_COMMAND])
    async with http.put(path, data=b"null", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 200 and await r.json() == []
    assert dd.world.global_commands == {}
