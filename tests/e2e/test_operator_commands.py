"""`python -m bot doctor` and `python -m bot sync` as an operator runs them, against the doubles."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bot.wiro.simulator.server import WiroSimulator
from tests.discord_double import DiscordDouble
from tests.e2e.harness import BotProcess
from tests.factories import serving, wiro_env

KEY, SECRET = "doctor-key-0123", "doctor-secret-0123"


async def _run(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    async with BotProcess("bot", *args, env=env, cwd=cwd) as bot:
        assert bot.proc is not None
        code = await bot.proc.wait()
        await bot.wait_for_line("", timeout=1)  # let the reader drain the last lines
        output = bot.output
        bot.assert_clean()
    return code, output


def _sandbox_env(dd: DiscordDouble, tmp: Path, **variables: str) -> dict[str, str]:
    """A bot on the Discord double and Wiro's sandbox (no account), its database in `tmp`."""
    return {
        **dd.env(),
        "WIRO_SANDBOX": "true",
        "DATABASE_PATH": str(tmp / "bot.sqlite3"),
        **variables,
    }


async def test_doctor_passes_with_a_working_setup(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    async with serving(sim), DiscordDouble() as dd:
        env = {**dd.env(), **wiro_env(sim, tmp_path / "bot.sqlite3")}
        code, out = await _run(("doctor",), env, tmp_path)
    assert code == 0, out
    for line in ("✓ Configuration", "✓ Database", "✓ Discord token", "✓ Servers", "✓ Wiro"):
        assert line in out, out
    assert "signed call OK" in out
    # Each model a member can choose is described by Wiro (its own Tool/Detail).
    assert "Hailuo 2.3 (minimax/hailuo-2-3): image field inputImage" in out, out
    assert "Hailuo 2.3 Fast (minimax/hailuo-2-3-fast): image field inputImage" in out, out
    details = [f for path, f in sim.requests if path.endswith("/Tool/Detail")]
    assert {d.get("slugproject") for d in details} >= {"hailuo-2-3", "hailuo-2-3-fast"}
    assert "All checks passed." in out
    assert any(path.endswith("/Tool/Detail") for path, _ in sim.requests)
    assert SECRET not in out and KEY not in out


async def test_doctor_fails_when_wiro_does_not_offer_the_fast_model(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    sim.missing_projects = {"hailuo-2-3-fast"}
    async with serving(sim), DiscordDouble() as dd:
        env = {**dd.env(), **wiro_env(sim, tmp_path / "bot.sqlite3")}
        code, out = await _run(("doctor",), env, tmp_path)
    assert code == 1, out
    assert "✗ Wiro: signed call OK, but Wiro did not describe Hailuo 2.3 Fast" in out, out
    assert "Hailuo 2.3 (minimax/hailuo-2-3): image field inputImage" in out
    assert "members who choose that model are refused" in out
    assert "Some checks failed." in out


async def test_doctor_names_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    async with serving(sim), DiscordDouble() as dd:
        # The bot was invited without Attach Files / Embed Links in this server.
        bot_member = dd.guild.members[dd.world.bot_user.id]
        for role_id in bot_member.roles:
            dd.guild.roles[role_id].permissions = 1024 | 2048 | 65536
        database = tmp_path / "bot.sqlite3"
        env = {**dd.env(), **wiro_env(sim, database, secret="a-rotated-secret-value")}
        code, out = await _run(("doctor",), env, tmp_path)
    assert code == 1, out
    assert "✗ Servers" in out and "Embed Links" in out and "Attach Files" in out
    assert "✗ Wiro" in out and "check WIRO_API_KEY and WIRO_API_SECRET" in out
    assert "Some checks failed." in out
    assert "a-rotated-secret-value" not in out


async def test_doctor_reports_a_rejected_token(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        env = _sandbox_env(dd, tmp_path, DISCORD_TOKEN="not-the-right-token")
        code, out = await _run(("doctor",), env, tmp_path)
    assert code == 1
    assert "✗ Discord token: Discord rejected DISCORD_TOKEN" in out
    assert "Reset Token" in out


async def test_sync_publishes_commands_globally_or_to_one_server(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        env = _sandbox_env(dd, tmp_path)
        code, out = await _run(("sync",), env, tmp_path)
        assert code == 0 and "Synced 6 commands globally" in out, out
        code, out = await _run(("sync", "--guild", str(dd.guild.id)), env, tmp_path)
        assert code == 0 and f"Synced 6 commands to server {dd.guild.id}" in out, out
        puts = [c.path for c in dd.calls(method="PUT")]
    assert any(p.endswith("/commands") and "/guilds/" not in p for p in puts)
    assert any(p.endswith(f"/guilds/{dd.guild.id}/commands") for p in puts)


# ----------------------------------------------------------------------------------------------
# Failures an operator meets: one or two lines, the fix, and the exit status (2: configuration)
# ----------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def silent_host() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers; yields the port."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep it open, say nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lines_after_start(out: str) -> list[str]:
    """The output without discord.py's and the bot's start-up INFO lines."""
    return [line for line in out.splitlines() if line.strip() and " INFO " not in line]


async def test_doctor_ends_within_20_s_when_hosts_never_answer(tmp_path: Path) -> None:
    async with silent_host() as port:
        env = {
            "DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10",
            "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{port}/",
            "DISCORD_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456",
            "WIRO_API_KEY": KEY,
            "WIRO_API_SECRET": SECRET,
            "WIRO_API_BASE": f"http://127.0.0.1:{port}/v1",
            "WIRO_SOCKET_URL": f"ws://127.0.0.1:{port}/v1",
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        }
        started = time.monotonic()
        code, out = await _run(("doctor",), env, tmp_path)
        took = time.monotonic() - started
    assert code == 1, out
    assert took < 20, (took, out)
    lines = out.splitlines()
    # Each check says that it starts before its result, so a slow one is never silent.
    for name in ("Database", "Discord token", "Wiro"):
        assert any(line.startswith(f"… {name} (at most") for line in lines), out
    assert "✗ Discord token: no answer from Discord within 5 s" in out
    assert f"✗ Wiro: no answer from http://127.0.0.1:{port}/v1 within 5 s" in out
    assert "Tool/Detail failed" not in out and "Traceback" not in out


async def test_doctor_names_a_dev_guild_the_bot_is_not_in(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        env = _sandbox_env(dd, tmp_path, DEV_GUILD_ID="123456789012345678")
        code, out = await _run(("doctor",), env, tmp_path)
        env["DEV_GUILD_ID"] = str(dd.guild.id)
        code_ok, out_ok = await _run(("doctor",), env, tmp_path)
    assert code == 1, out
    assert "✗ DEV_GUILD_ID: the bot is not in server 123456789012345678" in out
    assert "scope=bot+applications.commands" in out and "remove DEV_GUILD_ID" in out
    assert code_ok == 0, out_ok
    assert f"✓ DEV_GUILD_ID: {dd.guild.name} ({dd.guild.id})" in out_ok


async def test_a_dev_guild_the_bot_is_not_in_stops_the_start_with_status_2(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        env = _sandbox_env(dd, tmp_path, DEV_GUILD_ID="123456789012345678")
        code, out = await _run((), env, tmp_path)
    assert code == 2, out  # deploy/hailuo-bot.service: RestartPreventExitStatus=2, no crash loop
    errors = [line for line in out.splitlines() if " ERROR " in line]
    assert len(errors) == 1, out
    assert "DEV_GUILD_ID=123456789012345678" in errors[0] and "remove DEV_GUILD_ID" in errors[0]
    assert "Traceback" not in out


async def test_start_without_discord_is_one_line_and_status_1(tmp_path: Path) -> None:
    port = closed_port()
    env = {
        "DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10",
        "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{port}/",
        "DISCORD_TOKEN": "abc.def.ghi",
        "WIRO_SANDBOX": "true",
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
    }
    code, out = await _run((), env, tmp_path)
    assert code == 1, out  # may pass by itself: the service manager restarts the bot
    errors = [line for line in out.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "could not reach Discord" in errors[0], out
    assert "Traceback" not in out and len(out.splitlines()) < 15, out


async def test_sync_needs_only_the_token_and_fails_in_one_line(tmp_path: Path) -> None:
    unusable = tmp_path / "a-folder.sqlite3"
    unusable.mkdir()  # a DATABASE_PATH the bot could not open: sync does not need it
    async with DiscordDouble() as dd:
        env = {**dd.env(), "DATABASE_PATH": str(unusable)}  # and no Wiro keys at all
        code, out = await _run(("sync",), env, tmp_path)
        assert code == 0 and "Synced 6 commands globally" in out, out
        env["DEV_GUILD_ID"] = "123456789012345678"
        code_guild, out_guild = await _run(("sync",), env, tmp_path)
    assert list(unusable.iterdir()) == []
    assert code_guild == 2, out_guild
    assert "DEV_GUILD_ID=123456789012345678" in out_guild and "Nothing was published" in out_guild
    port = closed_port()
    env = {
        "DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10",
        "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{port}/",
        "DISCORD_TOKEN": "abc.def.ghi",
    }
    code, out = await _run(("sync",), env, tmp_path)
    assert code == 1, out
    assert lines_after_start(out) == [
        next(line for line in out.splitlines() if line.startswith("could not reach Discord"))
    ], out
    assert "Nothing was published" in out
