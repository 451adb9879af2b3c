"""`python -m bot doctor` and `python -m bot sync` as an operator runs them, against the doubles."""

from __future__ import annotations

from pathlib import Path

from bot.wiro.sandbox import WiroSimulator
from tests.discord_double import DiscordDouble
from tests.e2e.harness import BotProcess

KEY, SECRET = "doctor-key-0123", "doctor-secret-0123"


async def _run(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    async with BotProcess("bot", *args, env=env, cwd=cwd) as bot:
        assert bot.proc is not None
        code = await bot.proc.wait()
        await bot.wait_for_line("", timeout=1)  # let the reader drain the last lines
        output = bot.output
        bot.assert_clean()
    return code, output


async def test_doctor_passes_with_a_working_setup(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    await sim.start()
    try:
        async with DiscordDouble() as dd:
            env = {
                **dd.env(),
                "WIRO_API_KEY": KEY,
                "WIRO_API_SECRET": SECRET,
                "WIRO_API_BASE": sim.api_base,
                "WIRO_SOCKET_URL": sim.socket_url,
                "WIRO_OUTPUT_HOSTS": sim.output_host,
                "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            }
            code, out = await _run(("doctor",), env, tmp_path)
    finally:
        await sim.stop()
    assert code == 0, out
    for line in ("✓ Configuration", "✓ Database", "✓ Discord token", "✓ Servers", "✓ Wiro"):
        assert line in out, out
    assert "signed call OK" in out and "image field: inputImage" in out
    assert "All checks passed." in out
    assert any(path.endswith("/Tool/Detail") for path, _ in sim.requests)
    assert SECRET not in out and KEY not in out


async def test_doctor_names_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    sim = WiroSimulator(api_key=KEY, api_secret=SECRET)
    await sim.start()
    try:
        async with DiscordDouble() as dd:
            # The bot was invited without Attach Files / Embed Links in this server.
            bot_member = dd.guild.members[dd.world.bot_user.id]
            for role_id in bot_member.roles:
                dd.guild.roles[role_id].permissions = 1024 | 2048 | 65536
            env = {
                **dd.env(),
                "WIRO_API_KEY": KEY,
                "WIRO_API_SECRET": "a-rotated-secret-value",
                "WIRO_API_BASE": sim.api_base,
                "WIRO_SOCKET_URL": sim.socket_url,
                "WIRO_OUTPUT_HOSTS": sim.output_host,
                "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            }
            code, out = await _run(("doctor",), env, tmp_path)
    finally:
        await sim.stop()
    assert code == 1, out
    assert "✗ Servers" in out and "Embed Links" in out and "Attach Files" in out
    assert "✗ Wiro" in out and "check WIRO_API_KEY and WIRO_API_SECRET" in out
    assert "Some checks failed." in out
    assert "a-rotated-secret-value" not in out


async def test_doctor_reports_a_rejected_token(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        env = {
            **dd.env(),
            "DISCORD_TOKEN": "not-the-right-token",
            "WIRO_SANDBOX": "true",
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        }
        code, out = await _run(("doctor",), env, tmp_path)
    assert code == 1
    assert "✗ Discord token: Discord rejected DISCORD_TOKEN" in out
    assert "Reset Token" in out


async def test_sync_publishes_commands_globally_or_to_one_server(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        env = {**dd.env(), "WIRO_SANDBOX": "true", "DATABASE_PATH": str(tmp_path / "b.sqlite3")}
        code, out = await _run(("sync",), env, tmp_path)
        assert code == 0 and "Synced 5 commands globally" in out, out
        code, out = await _run(("sync", "--guild", str(dd.guild.id)), env, tmp_path)
        assert code == 0 and f"Synced 5 commands to server {dd.guild.id}" in out, out
        puts = [c.path for c in dd.calls(method="PUT")]
    assert any(p.endswith("/commands") and "/guilds/" not in p for p in puts)
    assert any(p.endswith(f"/guilds/{dd.guild.id}/commands") for p in puts)
