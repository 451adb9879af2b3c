"""What the entry points share: the Wiro client as Settings describe it, and network errors.

`python -m bot` (bot/__main__.py), `doctor` and `doctor --live` build the same client and treat
an unreachable host the same way; they import these from here rather than from each other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    import aiohttp

    from bot.wiro.client import WiroClient
    from bot.wiro.simulator.server import WiroSimulator

log = logging.getLogger("bot")


def unreachable(what: str, exc: BaseException) -> str:
    """One line for a host that could not be reached, without the exception's chain."""
    reason = str(exc) or type(exc).__name__
    return f"could not reach {what} ({reason}): check this server's network connection and DNS"


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
        from bot.wiro.simulator.server import WiroSimulator

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
