"""Fetching a task's output: allowed hosts only, every redirect checked, a byte cap, retries.

A clip is streamed to a file without auth headers (output URLs need none), from an allowed host
over https (plain http only on loopback, for the simulator); a failed try leaves no partial file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.wiro import rest
from bot.wiro.errors import (
    DownloadRefused,
    WiroError,
    WiroNotFound,
    WiroServerError,
    WiroTransportError,
)

log = logging.getLogger(__name__)

DOWNLOAD_CHUNK = 64 * 1024
MAX_REDIRECTS = 3


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, output_hosts: tuple[str, ...]) -> None:
    """Raise DownloadRefused unless `url` is on an allowed host with an allowed scheme."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise DownloadRefused("the URL has no host")
    if not any(host == s or host.endswith("." + s) for s in output_hosts):
        raise DownloadRefused(f"host {host} is not an allowed output host")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise DownloadRefused(f"scheme {parts.scheme or 'none'} is not allowed for {host}")


async def download(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    output_hosts: tuple[str, ...],
    read_timeout: float,
    total_timeout: float,
) -> int:
    """Stream `url` into `dest` (at most `max_bytes`) and return the number of bytes.

    `read_timeout` bounds connecting and each read; `total_timeout` the whole transfer of one
    try (a download may trickle)."""
    for attempt in range(rest.MAX_TRIES):
        try:
            async with asyncio.timeout(total_timeout):
                return await _download_once(
                    session, url, dest, max_bytes, output_hosts, read_timeout
                )
        except (WiroTransportError, WiroServerError, TimeoutError) as exc:
            await asyncio.to_thread(_unlink_quietly, dest)
            if attempt == rest.MAX_TRIES - 1:
                if isinstance(exc, TimeoutError):
                    raise WiroTransportError("download took too long") from None
                raise
            delay = rest.backoff(attempt)
            log.info("download failed (%s); retry %d in %.1fs", exc, attempt + 1, delay)
            await asyncio.sleep(delay)
        except BaseException:
            await asyncio.to_thread(_unlink_quietly, dest)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _download_once(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    max_bytes: int,
    output_hosts: tuple[str, ...],
    read_timeout: float,
) -> int:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=read_timeout, sock_read=read_timeout)
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, output_hosts)
        try:
            async with session.get(url, allow_redirects=False, timeout=timeout) as resp:
                if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                    # Follow by hand so every hop is checked against the allowed hosts.
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status >= 500:
                    raise WiroServerError(f"download: HTTP {resp.status}", status=resp.status)
                if resp.status == 404 or resp.status == 410:
                    raise WiroNotFound("the output file is gone", status=resp.status)
                if resp.status != 200:
                    raise WiroError(f"download: HTTP {resp.status}", status=resp.status)
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise DownloadRefused(
                        f"file is {resp.content_length} bytes, over the {max_bytes} limit",
                        too_big=True,
                    )
                return await _stream_to(resp, dest, max_bytes)
        except aiohttp.ClientError as exc:
            raise WiroTransportError(f"download failed ({type(exc).__name__})") from None
    raise DownloadRefused("too many redirects")


async def _stream_to(resp: aiohttp.ClientResponse, dest: Path, max_bytes: int) -> int:
    handle = await asyncio.to_thread(open, dest, "wb")
    total = 0
    try:
        async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise DownloadRefused(f"file is over the {max_bytes} byte limit", too_big=True)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    return total


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
