"""Entry point: `python -m bot [run | doctor | sync [--guild ID] | backup [DEST]]`.

Builds Settings, logging, the database, the Wiro client (or the sandbox simulator) and the bot,
in that order, and tears them down in reverse. Configuration problems are reported as a list
with fixes and exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.wiro.client import WiroClient
    from bot.wiro.sandbox import WiroSimulator

log = logging.getLogger("bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
SHUTDOWN_BUDGET_SECONDS = 8.0  # the process must be gone within 10 s of SIGTERM


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


def report_config_problems(error: ConfigError) -> None:
    print("The bot cannot start: its configuration is incomplete.\n", file=sys.stderr)
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


async def build_wiro(settings: Settings) -> tuple[WiroClient, WiroSimulator | None]:
    """The Wiro client, pointed at the in-process simulator when WIRO_SANDBOX=true."""
    from bot.wiro.client import WiroClient

    simulator = None
    api_base, socket_url, hosts = (
        settings.wiro_api_base,
        settings.wiro_socket_url,
        settings.output_hosts,
    )
    if settings.wiro_sandbox:
        from bot.wiro.sandbox import WiroSimulator

        simulator = WiroSimulator(sandbox=True)
        await simulator.start()
        api_base, socket_url = simulator.api_base, simulator.socket_url
        hosts = (simulator.output_host,)
        log.info("sandbox mode: jobs run on the local Wiro simulator, no Wiro account used")
    wiro = WiroClient(
        api_key=settings.wiro_api_key.get_secret_value() if settings.wiro_api_key else None,
        api_secret=(
            settings.wiro_api_secret.get_secret_value() if settings.wiro_api_secret else None
        ),
        api_base=api_base,
        socket_url=socket_url,
        output_hosts=hosts,
    )
    return wiro, simulator


async def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT or a fatal Discord error; return the exit status."""
    import discord

    from bot.app import VideoBot
    from storage.db import Database

    # Installed first, so that Ctrl-C or SIGTERM during start-up is an orderly stop too.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    storage = Database(settings.database_path)
    try:
        await storage.open()
    except Exception as exc:
        # A path the bot cannot use is a configuration problem: say so, like the others.
        log.error("cannot open the database at %s: %s", settings.database_path, exc)
        report_config_problems(
            ConfigError(
                [
                    f"DATABASE_PATH ({settings.database_path}) cannot be used: {exc}. "
                    "Point it to a file in a folder this user can write to."
                ]
            )
        )
        return EXIT_CONFIG
    wiro, simulator = await build_wiro(settings)
    await wiro.start()
    bot = VideoBot(settings=settings, storage=storage, wiro=wiro)

    status = EXIT_OK
    runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner in done:
        failure = runner.exception()
        if isinstance(failure, discord.LoginFailure):
            log.error("Discord rejected DISCORD_TOKEN: reset the token in the developer portal")
            status = EXIT_FAILED
        elif isinstance(failure, discord.PrivilegedIntentsRequired):
            log.error("Discord refused the gateway intents requested by the bot")
            status = EXIT_FAILED
        elif failure is not None:
            log.error("the Discord connection failed", exc_info=failure)
            status = EXIT_FAILED
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


async def sync_commands(settings: Settings, guild_id: int | None) -> int:
    """Publish the slash commands globally or to one server."""
    import discord

    from bot.app import VideoBot
    from storage.db import Database

    storage = Database(settings.database_path)
    await storage.open()
    wiro, simulator = await build_wiro(settings)
    bot = VideoBot(settings=settings, storage=storage, wiro=wiro, mode="sync")
    try:
        async with bot:
            await bot.login(settings.discord_token.get_secret_value())
            if guild_id:
                guild = discord.Object(guild_id)
                bot.tree.copy_global_to(guild=guild)
                synced = await bot.tree.sync(guild=guild)
                print(f"Synced {len(synced)} commands to server {guild_id}.")
            else:
                synced = await bot.tree.sync()
                print(
                    f"Synced {len(synced)} commands globally "
                    "(Discord may take a few minutes to show them)."
                )
    except discord.LoginFailure:
        print("Discord rejected DISCORD_TOKEN.", file=sys.stderr)
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
        print(f"Discord refused the command sync: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await wiro.close()
        if simulator is not None:
            await simulator.stop()
        await storage.close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "backup":
        # Needs only DATABASE_PATH: an operator can back up without the bot's secrets.
        from bot.backup import run_backup

        return run_backup(args.dest)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return asyncio.run(run_doctor(live=args.live, yes=args.yes))
    try:
        settings = load_settings()
    except ConfigError as error:
        report_config_problems(error)
        return EXIT_CONFIG
    from bot.logs import setup_logging

    setup_logging(settings.log_level, secrets=_secrets(settings))
    if args.command == "sync":
        return asyncio.run(sync_commands(settings, args.guild))
    return asyncio.run(run_bot(settings))


if __name__ == "__main__":
    sys.exit(main())
