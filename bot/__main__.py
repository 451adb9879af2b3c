"""Entry point: `python -m bot [run | doctor | sync [--guild ID] | backup [DEST]]`.

Builds Settings, logging, the database lock, the database, the Wiro client (or the sandbox
simulator) and the bot, in that order, and tears them down in reverse. Every failure an operator
can meet is one or two lines saying what to do, never a traceback, with the exit status a
service manager needs: 2 for configuration the operator must change (a database path the bot
cannot use or that another bot process holds included; the systemd unit does not restart on
it), 1 for a failure that may pass by itself (Discord unreachable, a busy database, a full disk:
restarted), 0 after a requested stop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.app.startup import build_wiro, disk_full, network_error, passing_trouble, unreachable
from bot.settings import (
    ConfigError,
    DiscordSettings,
    Settings,
    load_discord_settings,
    load_settings,
)
from bot.timing import PRODUCT, Timing
from storage.sqlite import damaged

if TYPE_CHECKING:
    pass

log = logging.getLogger("bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
SHUTDOWN_BUDGET_SECONDS = 9.0  # gone within 10 s of SIGTERM (bot/app/video_bot.py)
SYNC_TIMEOUT_SECONDS = 30.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Hailuo video bot for Discord"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="start the bot (the default)")
    doctor = sub.add_parser("doctor", help="check configuration, database, Discord and Wiro")
    doctor.add_argument(
        "--live", action="store_true", help="then make one real Wiro run and check Wiro's answers"
    )
    doctor.add_argument("--yes", action="store_true", help="do not ask before the live run")
    sync = sub.add_parser("sync", help="publish the slash commands")
    sync.add_argument("--guild", type=int, help="sync to this server only (instant)")
    backup = sub.add_parser("backup", help="copy the database safely, even while the bot runs")
    backup.add_argument(
        "dest", nargs="?", help="a new file, or a directory (default: data/backups/)"
    )
    args = parser.parse_args(argv)
    args.command = args.command or "run"
    return args


def report_config_problems(
    error: ConfigError,
    heading: str = "The bot cannot start: its configuration is incomplete or invalid.",
) -> None:
    print(f"{heading}\n", file=sys.stderr)
    for problem in error.problems:
        print(f"  ✗ {problem}", file=sys.stderr)
    print(
        "\nSet these in the environment or in a .env file next to where you start the bot "
        "(copy .env.example to .env to begin).",
        file=sys.stderr,
    )


def _secrets(settings: Settings) -> list[str]:
    values = [settings.discord_token, settings.wiro_api_key, settings.wiro_api_secret]
    return [v.get_secret_value() for v in values if v is not None]


async def run_bot(settings: Settings, timing: Timing = PRODUCT) -> int:
    """Run until SIGTERM/SIGINT or a fatal Discord error; return the exit status."""
    from storage.lock import DatabaseHeld, ProcessLock

    # Installed first, so that Ctrl-C or SIGTERM during start-up is an orderly stop too.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # One bot process per database, decided before anything touches the file (migrations
    # included). The kernel releases the lock when the process ends, however it ends.
    lock = ProcessLock(settings.database_path)
    try:
        lock.acquire()
    except DatabaseHeld as held:
        holder = f"pid {held.pid}" if held.pid else "another process"
        log.error(
            "another bot process (%s) already runs on DATABASE_PATH %s: stop it first, or give "
            "this one its own DATABASE_PATH",
            holder,
            settings.database_path,
        )
        return EXIT_CONFIG
    except OSError as exc:
        return _unusable_database(settings, exc)
    try:
        return await _run_locked(settings, stop, timing)
    finally:
        lock.release()


def _unusable_database(settings: Settings, exc: BaseException) -> int:
    """Say why the database cannot be opened; 1 if that may pass by itself, else 2."""
    passing = passing_trouble(exc, settings.database_path)
    if passing is not None:
        log.error("cannot start: %s", passing)
        return EXIT_FAILED
    # A path the bot cannot use is a configuration problem: say so, like the others.
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    log.error("cannot open the database at %s: %s", settings.database_path, reason)
    fix = (
        "It is not a database the bot can read (damaged, or another file): restore a backup "
        "made with `python -m bot backup`, or point DATABASE_PATH to another file."
        if damaged(exc)
        else "Point it to a file in a folder this user can write to."
    )
    report_config_problems(
        ConfigError([f"DATABASE_PATH ({settings.database_path}) cannot be used: {reason}. {fix}"])
    )
    return EXIT_CONFIG


async def _run_locked(settings: Settings, stop: asyncio.Event, timing: Timing) -> int:
    from bot.app.video_bot import VideoBot
    from storage.db import Database

    storage = Database(settings.database_path)
    try:
        await storage.open()
    except Exception as exc:
        return _unusable_database(settings, exc)
    wiro, simulator = await build_wiro(settings, timing=timing)
    await wiro.start()
    bot = VideoBot(settings=settings, storage=storage, wiro=wiro, timing=timing)

    status = EXIT_OK
    runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner in done:
        status = report_run_failure(runner.exception())
    else:
        log.info("signal received")
    stopper.cancel()

    async def teardown() -> None:
        await bot.shutdown()
        if not runner.done():
            runner.cancel()
        await wiro.close()
        if simulator is not None:
            await simulator.stop()
        await storage.close()

    try:
        await asyncio.wait_for(teardown(), timeout=SHUTDOWN_BUDGET_SECONDS)
    except TimeoutError:
        log.warning("shutdown took too long; exiting anyway (state is saved)")
    log.info("stopped")
    return status


def report_run_failure(failure: BaseException | None) -> int:
    """Log why the Discord side stopped, in one line where the operator can act; the status."""
    import discord

    from bot.app.shards import ShardingRequired
    from bot.ops.publishing import PublishError

    if failure is None:
        return EXIT_OK
    if isinstance(failure, discord.LoginFailure):
        log.error(
            "Discord rejected DISCORD_TOKEN: reset it in the developer portal "
            "(Bot → Reset Token) and update .env"
        )
        return EXIT_CONFIG
    if isinstance(failure, discord.PrivilegedIntentsRequired):
        log.error("Discord refused the gateway intents: turn off no intent; check the token's bot")
        return EXIT_CONFIG
    if isinstance(failure, PublishError):
        log.error("%s", failure)
        return EXIT_CONFIG if failure.config else EXIT_FAILED
    if disk_full(failure):
        log.error("the disk is full (%s): free some space; the bot is started again", failure)
        return EXIT_FAILED
    if isinstance(failure, ShardingRequired):
        log.error("%s", failure)
        return failure.exit_status
    if network_error(failure):
        log.error("%s; the service manager starts the bot again", unreachable("Discord", failure))
        return EXIT_FAILED
    if isinstance(failure, discord.HTTPException):
        log.error(
            "Discord answered %s while the bot was starting (%s); try again in a minute",
            failure.status,
            failure.text or "no details",
        )
        return EXIT_FAILED
    log.error("the Discord connection failed unexpectedly", exc_info=failure)  # a bug: show all
    return EXIT_FAILED


async def sync_commands(discord_settings: DiscordSettings, guild_id: int | None) -> int:
    """Publish the slash commands to one server or globally, whatever was published before.

    Needs only DISCORD_TOKEN: no Wiro keys, no database (the start compares the published
    tree with its own record and publishes again only if the commands changed since).
    """
    import discord
    from pydantic import SecretStr

    from bot.app.video_bot import VideoBot
    from bot.ops.publishing import PublishError, publish
    from bot.wiro.client import WiroClient
    from storage.db import Database

    token = discord_settings.discord_token.get_secret_value()
    # The command tree needs the bot's shape, not its services: they are built, never opened.
    settings = Settings.model_construct(discord_token=SecretStr(token), wiro_sandbox=True)
    wiro = WiroClient(
        api_key=None,
        api_secret=None,
        api_base=settings.wiro_api_base,
        socket_url=settings.wiro_socket_url,
        output_hosts=settings.output_hosts,
    )
    bot = VideoBot(
        settings=settings, storage=Database(settings.database_path), wiro=wiro, mode="sync"
    )
    target = guild_id or discord_settings.dev_guild_id
    try:
        async with bot:
            async with asyncio.timeout(SYNC_TIMEOUT_SECONDS):
                await bot.login(token)
                count = await publish(bot, bot.tree, target)
    except discord.LoginFailure:
        print(
            "Discord rejected DISCORD_TOKEN: reset it in the developer portal "
            "(Bot → Reset Token) and update .env. Nothing was published.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except PublishError as exc:
        print(f"{exc} Nothing was published.", file=sys.stderr)
        return EXIT_CONFIG if exc.config else EXIT_FAILED
    except TimeoutError:
        print(
            f"Discord did not answer within {SYNC_TIMEOUT_SECONDS:.0f} s: check this server's "
            "network connection, then run sync again. Nothing was published.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except discord.RateLimited as exc:
        # Global syncs are limited per day; waiting here for hours would look like a hang.
        minutes = max(1, round(exc.retry_after / 60))
        print(
            f"Discord limits command syncs right now: try again in about {minutes} minutes.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except discord.HTTPException as exc:
        print(f"Discord refused ({exc}). Nothing was published.", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if not network_error(exc):
            raise  # a bug, not the operator's: the traceback is what a report needs
        print(f"{unreachable('Discord', exc)}. Nothing was published.", file=sys.stderr)
        return EXIT_FAILED
    if target:
        print(f"Synced {count} commands to server {target}.")
    else:
        print(f"Synced {count} commands globally (Discord clients may take a few minutes).")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, timing: Timing = PRODUCT) -> int:
    """Run the command `argv` names; return the exit status. `timing` is the product's
    unless a test run passes its own (tests/e2e/launch_bot.py)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "backup":
        # Needs only DATABASE_PATH: an operator can back up without the bot's secrets.
        from bot.ops.backup import run_backup

        return run_backup(args.dest)
    if args.command == "doctor":
        from bot.ops.doctor import run_doctor

        return asyncio.run(run_doctor(live=args.live, yes=args.yes))
    from bot.logs import setup_logging

    if args.command == "sync":
        try:
            discord_settings = load_discord_settings()
        except ConfigError as error:
            report_config_problems(error, "Cannot publish the commands: DISCORD_TOKEN is needed.")
            return EXIT_CONFIG
        token = discord_settings.discord_token.get_secret_value()
        setup_logging(discord_settings.log_level, secrets=[token])
        return asyncio.run(sync_commands(discord_settings, args.guild))
    try:
        settings = load_settings()
    except ConfigError as error:
        report_config_problems(error)
        return EXIT_CONFIG
    setup_logging(settings.log_level, secrets=_secrets(settings))
    return asyncio.run(run_bot(settings, timing))


if __name__ == "__main__":
    sys.exit(main())
