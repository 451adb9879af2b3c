"""`python -m bot doctor`: a checklist an operator can read, each ✗ with how to fix it.

Checks, in order: configuration, the database (writable and migrated), the Discord token (who
the bot is, its servers, permissions it lacks in each), the Wiro credentials (a signed
Tool/Detail call and the model's parameter schema). Exit status 0 when every check passes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.settings import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

# Channel-level permissions the bot needs everywhere /video may run, and why.
NEEDED_PERMISSIONS = {
    "view_channel": "View Channels (see the channels where /video runs)",
    "send_messages": "Send Messages (post job cards and clips)",
    "embed_links": "Embed Links (the job card is an embed)",
    "attach_files": "Attach Files (the clip and the first-frame thumbnail)",
    "read_message_history": "Read Message History (reply to the job card with the clip)",
}

# View Channel, Send Messages, Embed Links, Attach Files, Read Message History.
INVITE_PERMISSIONS = 1024 + 2048 + 16384 + 32768 + 65536


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    lines: list[str] = field(default_factory=list)


class Checklist:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.checks: list[Check] = []

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        mark = "✓" if check.ok else "✗"
        detail = f": {check.detail}" if check.detail else ""
        print(f"{mark} {check.name}{detail}", file=self.out)
        for line in check.lines:
            print(f"    {line}", file=self.out)
        if not check.ok and check.fix:
            print(f"    fix: {check.fix}", file=self.out)
        self.out.flush()
        return check

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)


async def check_database(settings: Settings, checklist: Checklist) -> None:
    from storage.db import Database

    db = Database(settings.database_path)
    try:
        await db.open()
        version = await db.schema_version()
        # open() created the file and ran the migrations; this catches a read-only file later.
        if not os.access(settings.database_path, os.W_OK):
            raise PermissionError("the file is not writable by this user")
        checklist.add(
            Check(
                "Database",
                True,
                f"{settings.database_path} is writable, schema version {version}",
            )
        )
    except Exception as exc:
        checklist.add(
            Check(
                "Database",
                False,
                f"{settings.database_path}: {exc}",
                fix="make DATABASE_PATH point to a writable location (its folder is created)",
            )
        )
    finally:
        with contextlib.suppress(Exception):
            await db.close()


async def check_discord(settings: Settings, checklist: Checklist) -> None:
    import discord

    from bot.app import build_intents, quiet_voice_warnings

    quiet_voice_warnings()
    client = discord.Client(intents=build_intents())
    try:
        await client.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        checklist.add(
            Check(
                "Discord token",
                False,
                "Discord rejected DISCORD_TOKEN",
                fix="reset the token in the developer portal (Bot → Reset Token) and update .env",
            )
        )
        await client.close()
        return
    except Exception as exc:
        checklist.add(
            Check(
                "Discord token",
                False,
                f"could not reach Discord: {exc}",
                fix="check the network connection to discord.com",
            )
        )
        await client.close()
        return
    try:
        assert client.user is not None
        checklist.add(
            Check("Discord token", True, f"logged in as {client.user} ({client.user.id})")
        )
        try:
            guilds = [g async for g in client.fetch_guilds(limit=200)]
        except discord.HTTPException as exc:
            checklist.add(
                Check(
                    "Servers",
                    False,
                    f"Discord did not list the bot's servers ({exc.status})",
                    fix="try again; if it persists, check Discord's status page",
                )
            )
            return
        if not guilds:
            app_id = client.application_id
            checklist.add(
                Check(
                    "Servers",
                    False,
                    "the bot is in no server yet",
                    fix=(
                        "invite it: https://discord.com/oauth2/authorize?client_id="
                        f"{app_id}&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
                    ),
                )
            )
            return
        lines: list[str] = []
        all_ok = True
        allowed = await allowed_channels(settings, [g.id for g in guilds])
        for partial in guilds:
            gaps: list[str] = []
            try:
                guild = await client.fetch_guild(partial.id)
                member = await guild.fetch_member(client.user.id)
                perms = member.guild_permissions
                missing = [
                    why for attr, why in NEEDED_PERMISSIONS.items() if not getattr(perms, attr)
                ]
                gaps = channel_gaps(
                    await guild.fetch_channels(), member, allowed.get(guild.id, frozenset())
                )
            except discord.HTTPException as exc:
                missing = [f"could not read permissions ({exc.status})"]
            if missing or gaps:
                all_ok = False
                what = "lacks: " + "; ".join(missing) if missing else "channel overrides:"
                lines.append(f"✗ {partial.name} ({partial.id}) {what}")
                lines.extend(gaps)
            else:
                lines.append(f"✓ {partial.name} ({partial.id})")
        checklist.add(
            Check(
                "Servers",
                all_ok,
                f"{len(guilds)} server{'s' if len(guilds) != 1 else ''}",
                fix="give the bot's role the missing permissions (server-wide or per channel)",
                lines=lines,
            )
        )
    finally:
        await client.close()


async def allowed_channels(
    settings: Settings, guild_ids: Sequence[int]
) -> dict[int, frozenset[int]]:
    """Each server's /video channel list (`/videoadmin channels`); empty when none is set."""
    from storage.db import Database

    db = Database(settings.database_path)
    try:
        await db.open()
        return {g: (await db.guild_settings(g)).allowed_channel_ids for g in guild_ids}
    except Exception:
        log.warning("could not read the allowed channels", exc_info=True)
        return {}
    finally:
        with contextlib.suppress(Exception):
            await db.close()


def channel_gaps(channels: Sequence[Any], member: Any, allowed: frozenset[int]) -> list[str]:
    """Lines for channels where /video may run and an override takes a needed permission away.

    With an allowed-channel list, every listed channel is checked (and one that no longer exists
    is named); without one, every text channel the bot can see. Permissions are computed the way
    Discord does, overwrites included (discord.py's `permissions_for`); what the server-wide
    check already reports is not repeated."""
    import discord

    base = member.guild_permissions
    gone = sorted(allowed - {c.id for c in channels})
    lines = [f"  ✗ allowed channel {cid} no longer exists" for cid in gone]
    for channel in sorted(channels, key=lambda c: c.position):
        if not isinstance(channel, discord.TextChannel) or (allowed and channel.id not in allowed):
            continue
        perms = channel.permissions_for(member)
        if not allowed and not perms.view_channel:
            continue  # hidden from the bot on purpose; /video there says so itself
        lost = [
            why.split(" (")[0]
            for attr, why in NEEDED_PERMISSIONS.items()
            if getattr(base, attr) and not getattr(perms, attr)
        ]
        if lost:
            lines.append(f"  ✗ #{channel.name} ({channel.id}) lacks: " + ", ".join(lost))
    return lines


async def check_wiro(settings: Settings, checklist: Checklist) -> None:
    from bot.__main__ import build_wiro

    wiro, simulator = await build_wiro(settings)
    try:
        await wiro.start()
        tool = await wiro.tool_detail()
        prices = ", ".join(
            f"{r}/{d}s ${p:.2f}"
            for r in tool.resolutions
            for d in tool.durations
            if (p := tool.price_for(r, int(d))) is not None
        )
        mode = (
            "sandbox simulator (no Wiro account used)"
            if settings.wiro_sandbox
            else "signed call OK"
        )
        checklist.add(
            Check(
                "Wiro",
                True,
                mode,
                lines=[
                    f"image field: {tool.image_field_id} ({tool.image_field_type})",
                    f"resolutions: {', '.join(tool.resolutions)}; durations: "
                    f"{', '.join(tool.durations)} s",
                    f"prices: {prices or 'not published by Wiro (budget uses past costs)'}",
                ],
            )
        )
    except Exception as exc:
        from bot.wiro.errors import WiroAuthError

        fix = (
            "check WIRO_API_KEY and WIRO_API_SECRET (a signature project's key and secret)"
            if isinstance(exc, WiroAuthError)
            else "check WIRO_API_BASE and the network connection to Wiro"
        )
        checklist.add(Check("Wiro", False, str(exc) or type(exc).__name__, fix=fix))
    finally:
        await wiro.close()
        if simulator is not None:
            await simulator.stop()


async def run_doctor(out: TextIO | None = None, *, live: bool = False, yes: bool = False) -> int:
    """Print the checklist; return 0 when everything passes, 1 otherwise.

    With `live`, then make one real Wiro run and check Wiro's behaviour (bot/doctor_live.py)."""
    out = out or sys.stdout
    checklist = Checklist(out)
    try:
        settings = load_settings()
    except ConfigError as error:
        checklist.add(
            Check(
                "Configuration",
                False,
                "incomplete",
                lines=[f"✗ {p}" for p in error.problems],
                fix="edit .env (copy .env.example to start)",
            )
        )
        return 1
    from bot.logs import setup_logging

    secrets = [
        s.get_secret_value()
        for s in (settings.discord_token, settings.wiro_api_key, settings.wiro_api_secret)
        if s is not None
    ]
    setup_logging("WARNING", secrets=secrets, stream=sys.stderr)
    sandbox = " (WIRO_SANDBOX=true)" if settings.wiro_sandbox else ""
    checklist.add(Check("Configuration", True, f"all variables valid{sandbox}"))
    for name, check in (
        ("Database", check_database),
        ("Discord", check_discord),
        ("Wiro", check_wiro),
    ):
        try:
            await check(settings, checklist)
        except Exception as exc:  # a checklist, not a traceback, whatever went wrong
            log.debug("doctor check %s crashed", name, exc_info=exc)
            checklist.add(
                Check(
                    name,
                    False,
                    f"the check itself failed: {type(exc).__name__}: {exc}",
                    fix="run again with LOG_LEVEL=DEBUG and report the output",
                )
            )
    print("", file=out)
    print("All checks passed." if checklist.passed else "Some checks failed.", file=out)
    status = 0 if checklist.passed else 1
    if live:
        if not all(c.ok for c in checklist.checks if c.name == "Wiro"):
            print("\nLive check skipped: the Wiro check above must pass first.", file=out)
            return 1
        from bot.doctor_live import run_live_check

        status = max(status, await run_live_check(settings, out, yes=yes))
    return status
