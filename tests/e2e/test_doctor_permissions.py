"""`python -m bot doctor` reads channel overrides of the channels where /video runs (issue 12).

The permissions are the double's real model: role permissions, then the channel's overwrites for
@everyone, roles and the member ("Permission Overwrites", topics/permissions).
"""

from __future__ import annotations

from pathlib import Path

from tests.discord_double import ATTACH_FILES, READ_MESSAGE_HISTORY, VIEW_CHANNEL, DiscordDouble
from tests.e2e.harness import BotProcess


async def _doctor(dd: DiscordDouble, tmp: Path) -> tuple[int, str]:
    env = {**dd.env(), "WIRO_SANDBOX": "true", "DATABASE_PATH": str(tmp / "bot.sqlite3")}
    async with BotProcess("bot", "doctor", env=env, cwd=tmp) as bot:
        assert bot.proc is not None
        code = await bot.proc.wait()
        await bot.wait_for_line("", timeout=1)  # let the reader drain the last lines
        bot.assert_clean()
        return code, bot.output


async def _allow(tmp: Path, guild_id: int, *channel_ids: int) -> None:
    from storage.db import Database

    db = Database(tmp / "bot.sqlite3")
    await db.open()
    try:
        for channel_id in channel_ids:
            await db.allow_channel(guild_id, channel_id, actor_id=1)
    finally:
        await db.close()


async def test_doctor_reads_the_overrides_of_the_allowed_channels(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        videos = dd.add_channel("videos")
        also = dd.add_channel("clips")
        mods = dd.add_channel("mods")  # not a /video channel: its overrides do not matter
        await dd.set_overwrite(videos, dd.bot_role(), deny=ATTACH_FILES)
        await dd.set_overwrite(mods, None, deny=VIEW_CHANNEL)
        await _allow(tmp_path, dd.guild.id, videos.id, also.id, 4242)
        code, out = await _doctor(dd, tmp_path)
    assert code == 1, out
    assert "✗ Servers" in out and "channel overrides" in out
    assert f"#videos ({videos.id}) lacks: Attach Files" in out
    assert "#clips" not in out and "#mods" not in out
    assert "allowed channel 4242 no longer exists" in out


async def test_without_a_channel_list_every_visible_channel_is_checked(tmp_path: Path) -> None:
    async with DiscordDouble() as dd:
        general = dd.channel
        assert general is not None
        hidden = dd.add_channel("staff")
        await dd.set_overwrite(general, dd.bot_role(), deny=READ_MESSAGE_HISTORY)
        await dd.set_overwrite(hidden, None, deny=VIEW_CHANNEL)  # hidden from the bot on purpose
        code, out = await _doctor(dd, tmp_path)
        assert code == 1, out
        assert f"#general ({general.id}) lacks: Read Message History" in out
        assert "#staff" not in out

        await dd.set_overwrite(general, dd.bot_role())  # the override is removed
        code, out = await _doctor(dd, tmp_path)
    assert code == 0, out
    assert "✓ Servers" in out and "channel overrides" not in out
