"""Run a bot module against the Discord double: `python tests/e2e/launch_bot.py [module] [args...]`.

Points discord.py at DISCORD_API_BASE / DISCORD_GATEWAY_URL before any Route is built, then runs
the module as __main__; the production bot code is never modified for tests.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import yarl

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    """Patch discord.py's REST base and default gateway, then run the module."""
    import discord.gateway
    import discord.http

    # Route builds its URL from BASE at construction, so this must precede any request.
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    module = sys.argv[1] if len(sys.argv) > 1 else "bot"
    sys.argv = [module, *sys.argv[2:]]
    # sys.path[0] is tests/e2e when run as a script; the bot lives at the project root.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
