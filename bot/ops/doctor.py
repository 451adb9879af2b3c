"""`python -m bot doctor`: a checklist an operator can read, each ✗ with how to fix it.

Checks, in order: configuration, the database (writable and migrated), the disk (free space
against MIN_FREE_DISK_MB, kept clips against CLIP_STORE_MB), the Discord token (who
the bot is), its servers (permissions it lacks in each, and DEV_GUILD_ID), the Wiro credentials
(a signed Tool/Detail call and the model's parameter schema). Each check says when it starts and
has its own time budget (`BUDGETS`), so a host that never answers costs that budget, not minutes:
the whole run ends within 20 s. Exit status 0 when every check passes.

To add a check: write `async def check_x(settings, checklist)` that adds one or more `Check`s,
and list it in `CHECKS` with its budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.ops.publishing import invite_url
from bot.permissions import CHANNEL_PERMISSIONS
from bot.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    import discord

    from bot.wiro.schema import ToolInfo

log = logging.getLogger(__name__)

# Channel-level permissions the bot needs everywhere /video may run, and why.
NEEDED_PERMISSIONS = {
    attr: f"{label} ({why})" for attr, (label, why) in CHANNEL_PERMISSIONS.items()
}

# Seconds each check may take. A host that accepts the connection and never answers costs
# exactly this; together with start-up they stay under 20 s.
BUDGETS = {"Database": 3.0, "Disk": 1.0, "Discord token": 5.0, "Servers": 5.0, "Wiro": 5.0}


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
        self._progress = False  # a "checking …" line is on screen, waiting to be replaced

    def start(self, name: str, budget: float) -> None:
        """Say which check runs now (replaced by its result on a terminal)."""
        text = f"… {name} (at most {budget:.0f} s)"
        if self.out.isatty():
            print(text, end="", file=self.out)
            self._progress = True
        else:
            print(text, file=self.out)
        self.out.flush()

    def add(self, check: Check) -> Check:
        if self._progress:
            print("\r\x1b[K", end="", file=self.out)
            self._progress = False
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
    """Open (create, migrate) the database and check that it is writable.

    While a bot process runs on it (it holds the database's lock), only read it: migrating a
    file under a running bot of another version could break that bot."""
    from storage.db import Database
    from storage.lock import ProcessLock

    pid = ProcessLock(settings.database_path).holder()
    if pid is not None:
        await _check_database_in_use(settings, checklist, pid)
        return
    db = Database(settings.database_path)
    try:
        async with asyncio.timeout(BUDGETS["Database"]):
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
                f"{settings.database_path}: "
                + (str(exc) or f"no answer within {BUDGETS['Database']:.0f} s (locked?)"),
                fix="make DATABASE_PATH point to a writable location (its folder is created)",
            )
        )
    finally:
        with contextlib.suppress(Exception):
            await db.close()


async def _check_database_in_use(settings: Settings, checklist: Checklist, pid: int) -> None:
    from storage.sqlite import read_schema_version

    who = f"pid {pid}" if pid else "another process"
    path = settings.database_path
    try:
        async with asyncio.timeout(BUDGETS["Database"]):
            version = await asyncio.to_thread(read_schema_version, path)
        if not os.access(path, os.W_OK):
            raise PermissionError("the file is not writable by this user")
    except Exception as exc:
        checklist.add(
            Check(
                "Database",
                False,
                f"{path} (the bot runs on it: {who}): {exc or 'no answer (locked?)'}",
                fix="make DATABASE_PATH point to a writable location (its folder is created)",
            )
        )
        return
    detail = f"{path} is writable, schema version {version}; the bot runs on it ({who})"
    checklist.add(Check("Database", True, detail))


async def check_disk(
    settings: Settings,
    checklist: Checklist,
    *,
    free_bytes: Callable[[Path], int] | None = None,
) -> None:
    """Free space on the data directory's disk against MIN_FREE_DISK_MB, and what the kept
    clips and first frames take against CLIP_STORE_MB."""
    from bot.ops.disk import MIB, free_bytes_at
    from storage.frame_files import frames_dir_for

    data_dir = settings.database_path.parent
    free = await asyncio.to_thread(free_bytes or free_bytes_at, data_dir)
    kept = await asyncio.to_thread(
        _bytes_in, data_dir / "clips", frames_dir_for(settings.database_path)
    )
    floor = settings.min_free_disk_mb
    detail = (
        f"{free // MIB:,} MB free at {data_dir} (floor MIN_FREE_DISK_MB={floor}); kept clips "
        f"and first frames {kept // MIB:,} MB of CLIP_STORE_MB={settings.clip_store_mb}"
    )
    if free < floor * MIB:
        checklist.add(
            Check(
                "Disk",
                False,
                f"only {detail}: new videos are refused until space is freed",
                fix="free space on that disk (old backups, logs, other programs), or lower "
                "CLIP_STORE_MB so that fewer clips are kept",
            )
        )
        return
    checklist.add(Check("Disk", True, detail))


def _bytes_in(*directories: Path) -> int:
    total = 0
    for directory in directories:
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                with contextlib.suppress(OSError):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


async def check_discord(settings: Settings, checklist: Checklist) -> None:
    """Log in with the token (who the bot is), then list its servers and what each lacks."""
    import discord

    from bot.app.video_bot import build_intents, quiet_voice_warnings

    quiet_voice_warnings()
    client = discord.Client(intents=build_intents())
    try:
        if await _check_token(settings, checklist, client):
            checklist.start("Servers", BUDGETS["Servers"])
            try:
                async with asyncio.timeout(BUDGETS["Servers"]):
                    await _check_servers(settings, checklist, client)
            except TimeoutError:
                checklist.add(
                    Check(
                        "Servers",
                        False,
                        f"Discord did not list the bot's servers within {BUDGETS['Servers']:.0f} s",
                        fix="check the network connection to discord.com and try again",
                    )
                )
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _check_token(settings: Settings, checklist: Checklist, client: discord.Client) -> bool:
    import discord

    from bot.app.startup import network_error

    budget = BUDGETS["Discord token"]
    try:
        async with asyncio.timeout(budget):
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
        return False
    except TimeoutError:
        checklist.add(
            Check(
                "Discord token",
                False,
                f"no answer from Discord within {budget:.0f} s",
                fix="check the network connection to discord.com (firewall, DNS, proxy)",
            )
        )
        return False
    except Exception as exc:
        if not (network_error(exc) or isinstance(exc, discord.HTTPException)):
            raise
        checklist.add(
            Check(
                "Discord token",
                False,
                f"could not reach Discord: {exc or type(exc).__name__}",
                fix="check the network connection to discord.com (firewall, DNS, proxy)",
            )
        )
        return False
    assert client.user is not None
    checklist.add(
        Check(
            "Discord token",
            True,
            f"logged in as {client.user} ({client.user.id})",
            lines=[f"invite link: {invite_url(client.application_id)}"],
        )
    )
    return True


async def _check_servers(settings: Settings, checklist: Checklist, client: discord.Client) -> None:
    import discord

    assert client.user is not None
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
    invite = invite_url(client.application_id)
    if not guilds:
        checklist.add(
            Check("Servers", False, "the bot is in no server yet", fix=f"invite it: {invite}")
        )
    else:
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
    check_dev_guild(settings.dev_guild_id, {g.id: g.name for g in guilds}, invite, checklist)


def check_dev_guild(
    dev_guild_id: int | None, guilds: dict[int, str], invite: str, checklist: Checklist
) -> None:
    """DEV_GUILD_ID must name a server the bot is in: the commands are published there."""
    if dev_guild_id is None:
        return
    if dev_guild_id in guilds:
        checklist.add(
            Check(
                "DEV_GUILD_ID",
                True,
                f"{guilds[dev_guild_id]} ({dev_guild_id}): commands are published there at start",
            )
        )
        return
    checklist.add(
        Check(
            "DEV_GUILD_ID",
            False,
            f"the bot is not in server {dev_guild_id}, so the bot would stop at start (exit 2)",
            fix=f"invite it there ({invite}), or remove DEV_GUILD_ID from .env to publish globally",
        )
    )


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
    """One signed Tool/Detail call per model members can choose (or the sandbox simulator's),
    all within the Wiro budget. A model Wiro does not answer for fails the check: members who
    choose it would be refused."""
    import aiohttp

    from bot.app.startup import build_wiro
    from bot.catalogue import MODELS
    from bot.wiro.errors import WiroAuthError, WiroPermissionError

    budget = BUDGETS["Wiro"]
    # The client's start() would also fetch the schema in the background and warn; doctor asks
    # exactly once per model, with its own session and budget, and reports the answers here.
    session = aiohttp.ClientSession()
    wiro, simulator = await build_wiro(settings, session=session)
    lines: list[str] = []
    failed: list[str] = []
    try:
        async with asyncio.timeout(budget):
            for model in MODELS.values():
                try:
                    tool = await wiro.for_project(model.slug_project).tool_detail()
                except Exception as exc:
                    if isinstance(exc, WiroAuthError) and not isinstance(exc, WiroPermissionError):
                        raise  # the key or the signature: every model fails alike
                    failed.append(model.label)
                    lines.append(f"{model.label} ({model.slug}): {exc or type(exc).__name__}")
                    continue
                lines.append(f"{model.label} ({model.slug}): {_tool_words(tool)}")
        mode = (
            "sandbox simulator (no Wiro account used)"
            if settings.wiro_sandbox
            else "signed call OK"
        )
        if failed:
            checklist.add(
                Check(
                    "Wiro",
                    False,
                    f"{mode}, but Wiro did not describe {' and '.join(failed)}",
                    lines=lines,
                    fix="members who choose that model are refused until Wiro answers for it; "
                    "check that the model is available to this Wiro account",
                )
            )
        else:
            checklist.add(Check("Wiro", True, mode, lines=lines))
    except TimeoutError:
        checklist.add(
            Check(
                "Wiro",
                False,
                f"no answer from {settings.wiro_api_base} within {budget:.0f} s",
                lines=lines,
                fix="check WIRO_API_BASE and the network connection to Wiro",
            )
        )
    except Exception as exc:
        fix = (
            "check WIRO_API_KEY and WIRO_API_SECRET (a signature project's key and secret)"
            if isinstance(exc, WiroAuthError)
            else "check WIRO_API_BASE and the network connection to Wiro"
        )
        checklist.add(Check("Wiro", False, str(exc) or type(exc).__name__, fix=fix))
    finally:
        with contextlib.suppress(Exception):
            await wiro.close()
        await session.close()
        if simulator is not None:
            await simulator.stop()


def _tool_words(tool: ToolInfo) -> str:
    """What Tool/Detail said of one model: its image field, settings and prices."""
    prices = ", ".join(
        f"{r}/{d}s ${p:.2f}"
        for r in tool.resolutions
        for d in tool.durations
        if (p := tool.price_for(r, int(d))) is not None
    )
    return (
        f"image field {tool.image_field_id} ({tool.image_field_type}); "
        f"resolutions {', '.join(tool.resolutions)}; durations {', '.join(tool.durations)} s; "
        f"prices {prices or 'not published by Wiro (budget uses past costs)'}"
    )


# (name shown while it runs, budget, check); a check may add more than one line (Discord).
CHECKS: tuple[tuple[str, float, Callable[[Settings, Checklist], Awaitable[None]]], ...] = (
    ("Database", BUDGETS["Database"], check_database),
    ("Disk", BUDGETS["Disk"], check_disk),
    ("Discord token", BUDGETS["Discord token"], check_discord),
    ("Wiro", BUDGETS["Wiro"], check_wiro),
)


async def run_doctor(out: TextIO | None = None, *, live: bool = False, yes: bool = False) -> int:
    """Print the checklist; return 0 when everything passes, 1 otherwise.

    With `live`, then make one real Wiro run and check Wiro's behaviour (bot/ops/doctor_live.py)."""
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
    for name, budget, check in CHECKS:
        checklist.start(name, budget)
        try:
            # Each check bounds its own waits; this outer bound (a little longer) is the net.
            async with asyncio.timeout(budget * 2 + 1):
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
        from bot.ops.doctor_live import run_live_check

        status = max(status, await run_live_check(settings, out, yes=yes))
    return status
