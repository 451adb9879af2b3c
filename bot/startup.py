"""What the entry points share: the Wiro client as Settings describe it, and which failures
are passing.

`python -m bot` (bot/__main__.py), `doctor` and `doctor --live` build the same client and treat
an unreachable host the same way; they import these from here rather than from each other.
`passing_trouble` sorts a failure to open the database: trouble that may pass by itself (a busy
database, a full disk) exits 1 so that the service manager starts the bot again; anything else
about the path is configuration (exit 2).
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    import aiohttp

    from bot.wiro.client import WiroClient
    from bot.wiro.sandbox import WiroSimulator

log = logging.getLogger("bot")


def unreachable(what: str, exc: BaseException) -> str:
    """One line for a host that could not be reached, without the exception's chain."""
    reason = str(exc) or type(exc).__name__
    return f"could not reach {what} ({reason}): check this server's network connection and DNS"


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL = 5, 6, 10, 13


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL_ERRNOS
    return isinstance(exc, sqlite3.Error) and _sqlite_code(exc) == _SQLITE_FULL


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # the primary code of an extended one


def passing_trouble(exc: BaseException, database_path: Path) -> str | None:
    """One plain line when `exc` (met while opening the database) may pass by itself, else None.

    Passing: the database busy or locked by another program, a full disk, an I/O error. A path
    the bot cannot use (a folder, no permission, not a database) is configuration instead."""
    if disk_full(exc):
        return (
            f"the disk holding {database_path} is full: free some space; the service manager "
            "starts the bot again"
        )
    if isinstance(exc, sqlite3.Error):
        code = _sqlite_code(exc)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return (
                f"the database {database_path} is busy (another program holds a write lock on "
                "it); the service manager starts the bot again"
            )
        if code == _SQLITE_IOERR:
            return (
                f"reading or writing {database_path} failed ({exc}); the service manager starts "
                "the bot again"
            )
    if isinstance(exc, OSError) and exc.errno == errno.EIO:
        return (
            f"reading or writing {database_path} failed ({exc.strerror}); the service manager "
            "starts the bot again"
        )
    return None


def network_error(exc: BaseException) -> bool:
    """Whether `exc` means the network (DNS, refused, reset, TLS, a timeout), not a bug."""
    import aiohttp

    return isinstance(exc, OSError | TimeoutError | aiohttp.ClientError)


async def build_wiro(
    settings: Settings, session: aiohttp.ClientSession | None = None
) -> tuple[WiroClient, WiroSimulator | None]:
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
        session=session,
    )
    return wiro, simulator
