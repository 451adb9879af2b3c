"""`python -m bot doctor`: a checklist an operator can read, each ✗ with how to fix it.

Checks, in order: configuration, the database (writable and migrated), the disk (free space
against MIN_FREE_DISK_MB, kept clips against CLIP_STORE_MB), the Discord token (who
the bot is), its servers (permissions it lacks in each, and DEV_GUILD_ID), its shards (count,
session starts left, each shard's latency as the running bot reports it), the Wiro credentials
(a signed Tool/Detail call and the model's parameter schema). Each check says when it starts and
has its own time budget (`BUDGETS`), so a host that never answers costs that budget, not minutes:
the whole run ends within 20 s. Exit status 0 when every check passes.

To add a check: write `async def check_x(settings, checklist)` that adds one or more `Check`s
(`bot/ops/checklist.py`, with its budget in `BUDGETS`), and list it in `CHECKS`. The Discord
checks are `bot/ops/doctor_discord.py`, the shards' `bot/ops/doctor_shards.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.ops.checklist import BUDGETS, Check, Checklist
from bot.ops.doctor_discord import check_discord
from bot.ops.doctor_shards import check_shards
from bot.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.wiro.schema import ToolInfo

log = logging.getLogger(__name__)


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
    ("Shards", BUDGETS["Shards"], check_shards),
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
