"""What the entry points share: the Wiro client as Settings describe it, and which failures
are passing.

`python -m bot` (bot/__main__.py), `doctor` and `doctor --live` build the same client and treat
an unreachable host the same way; they import these from here rather than from each other.
`passing_trouble` sorts a failure to open the database: trouble that may pass by itself (a busy
database, a full disk) exits 1 so that the service manager starts the bot again; anything else
about the path is configuration (exit 2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings
from bot.timing import PRODUCT, Timing
from storage.sqlite import passing_trouble as storage_trouble

if TYPE_CHECKING:
    import aiohttp

    from bot.wiro.client import WiroClient
    from bot.wiro.simulator.server import WiroSimulator

log = logging.getLogger("bot")


def unreachable(what: str, exc: BaseException) -> str:
    """One line for a host that could not be reached, without the exception's chain."""
    reason = str(exc) or type(exc).__name__
    return f"could not reach {what} ({reason}): check this server's network connection and DNS"


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full."""
    return storage_trouble(exc) == "full"


def passing_trouble(exc: BaseException, database_path: Path) -> str | None:
    """One plain line when `exc` (met while opening the database) may pass by itself, else None.

    Passing: the database busy or locked by another program, a full disk, an I/O error. A path
    the bot cannot use (a folder, no permission, not a database) is configuration instead."""
    trouble = storage_trouble(exc)
    if trouble == "full":
        what = f"the disk holding {database_path} is full: free some space"
    elif trouble == "busy":
        what = f"the database {database_path} is busy (another program holds a write lock on it)"
    elif trouble == "io":
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        what = f"reading or writing {database_path} failed ({reason})"
    else:
        return None
    return f"{what}; the service manager starts the bot again"


def network_error(exc: BaseException) -> bool:
    """Whether `exc` means the network (DNS, refused, reset, TLS, a timeout), not a bug."""
    import aiohttp

    return isinstance(exc, OSError | TimeoutError | aiohttp.ClientError)


async def build_wiro(
    settings: Settings,
    session: aiohttp.ClientSession | None = None,
    *,
    timing: Timing = PRODUCT,
) -> tuple[WiroClient, WiroSimulator | None]:
    """The Wiro client, pointed at the in-process simulator when WIRO_SANDBOX=true.

    `timing` scales the client's poll pace and the sandbox's stages (only a test run does)."""
    from bot.wiro.client import POLL_SECONDS, WiroClient

    simulator = None
    api_base, socket_url, hosts = (
        settings.wiro_api_base,
        settings.wiro_socket_url,
        settings.output_hosts,
    )
    if settings.wiro_sandbox:
        from bot.wiro.simulator.server import Timings, WiroSimulator

        real, scale = Timings.realistic(), timing.sandbox_scale
        stages = Timings(
            real.queue * scale, real.start * scale, real.generate * scale, real.finish * scale
        )
        simulator = WiroSimulator(sandbox=True, timings=stages)
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
        session=session,
        poll_interval=POLL_SECONDS * timing.poll_scale,
    )
    return wiro, simulator
