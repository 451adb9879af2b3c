"""How many members' images are downloaded and decoded at once (`ImageSlots`).

The checks themselves are `bot.media.images`; this module only decides who may run them now, so
that a burst of large images never takes more memory than a small VPS has.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Final, TypeVar, cast

import bot.media.images as images
from bot import i18n
from bot.media.images import ImageRejected

if TYPE_CHECKING:
    from bot.media.images import FirstFrame

T = TypeVar("T")


class ImageBusy(ImageRejected):
    """No slot to read the image now (the member already has one being read, or the bot is
    busy reading others' for too long); nothing was downloaded or spent."""


# Per member: one image at a time (a second /video or Animate while the first image is still
# being read is almost always a double submit). For the whole bot: two downloads at a time (each
# holds up to 50 MB, twice while aiohttp joins the body) and one decode (about 100 MB at the
# pixel limits of `bot.media.images`: one CPU core of a small VPS does it in a second or two).
# Everyone else waits holding nothing, up to a bound. Together: a 1 GB VPS never swaps for a
# burst of images.
IMAGES_PER_MEMBER: Final = 1
DOWNLOADS_AT_ONCE: Final = 2
DECODES_AT_ONCE: Final = 1
IMAGE_WAIT_SECONDS: Final = 60.0

MEMBER_BUSY: Final = str(
    i18n.Text("You already have an image being checked; try again in a moment. Nothing was spent.")
)
BOT_BUSY: Final = str(
    i18n.Text(
        "The bot is busy checking other members' images; try again in a minute. Nothing was spent."
    )
)


class ImageSlots:
    """Who may download and decode an image now: a slot is taken before the download starts
    (`slot`), and a decode turn before any worker thread (`check`, `thumbnail`), so a burst of
    large images never holds more than two downloads and one decode."""

    def __init__(
        self,
        *,
        per_member: int = IMAGES_PER_MEMBER,
        downloads: int = DOWNLOADS_AT_ONCE,
        decodes: int = DECODES_AT_ONCE,
        wait_seconds: float = IMAGE_WAIT_SECONDS,
    ) -> None:
        self.per_member = per_member
        self.wait_seconds = wait_seconds
        self._downloads = asyncio.Semaphore(downloads)
        self._decodes = asyncio.Semaphore(decodes)
        self._members: dict[int, int] = {}

    def busy(self, member_id: int) -> int:
        """How many images of this member are being read (or waiting for a slot) now."""
        return self._members.get(member_id, 0)

    @contextlib.asynccontextmanager
    async def slot(self, member_id: int) -> AsyncIterator[None]:
        """Hold one slot for downloading and reading one image; raise ImageBusy at once when
        the member is at their limit, or after `wait_seconds` when the bot's slots stay taken."""
        if self.busy(member_id) >= self.per_member:
            raise ImageBusy(MEMBER_BUSY)
        self._members[member_id] = self.busy(member_id) + 1
        try:
            await self._acquire(self._downloads)
            try:
                yield
            finally:
                self._downloads.release()
        finally:
            left = self._members[member_id] - 1
            if left:
                self._members[member_id] = left
            else:
                del self._members[member_id]

    async def check(self, data: bytes, *, declared_size: int | None = None) -> FirstFrame:
        """`check_image` in a worker thread, once a decode turn is free."""
        images.check_declared_size(declared_size if declared_size is not None else len(data))
        return await self._decode(images.check_image, data, declared_size=declared_size)

    async def thumbnail(self, data: bytes) -> bytes:
        """`make_thumbnail` in a worker thread, once a decode turn is free."""
        return await self._decode(images.make_thumbnail, data)

    async def _decode(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        await self._acquire(self._decodes)
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        finally:
            self._decodes.release()
            # The decoded pixels were freed; hand the memory back to the system now rather
            # than keep it for the next image (glibc keeps freed heap memory otherwise).
            _release_free_memory()

    async def _acquire(self, slots: asyncio.Semaphore) -> None:
        try:
            async with asyncio.timeout(self.wait_seconds):
                await slots.acquire()
        except TimeoutError:
            raise ImageBusy(BOT_BUSY) from None


def _release_free_memory() -> None:
    """malloc_trim(0) where the C library has it (glibc); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return cast("Callable[[int], int]", libc.malloc_trim)
    except (OSError, AttributeError):
        return None
