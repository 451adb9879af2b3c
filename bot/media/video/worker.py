"""Run video work off the event loop: a bounded pool of threads, one encode per CPU at most.

PyAV releases the GIL while it decodes and encodes, so threads are enough to keep the event loop
answering Discord while a clip is re-encoded; each worker thread (and the x264 threads it
starts, which inherit it) runs at a lower scheduling priority, so that on a busy machine the bot
still answers first. Work waits for a free thread in order; a cancelled caller stops its work at
the next frame.

Scratch files live in `work_dir` under the ``video-`` prefix; each is removed when its block
ends, and `remove_leftovers` (called at start-up) removes what a killed process left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.media.video.fit import FitResult, fit
from bot.media.video.frames import last_frame_png
from bot.media.video.stitch import StitchResult, stitch

log = logging.getLogger(__name__)

T = TypeVar("T")

SCRATCH_PREFIX = "video-"
# How long a cancelled caller waits for its worker thread to notice (it checks every frame).
CANCEL_GRACE_SECONDS = 5.0


# The worker threads' niceness (Linux): encodes give way to the event loop and to anything else on
# the machine. The test suite runs at 0 (`niceness`, from its `bot.timing.Timing`): it runs
# several pytest workers per core at niceness 0, behind which a niceness-19 encode would wait
# for minutes and a test's bounded wait would run out.
DEFAULT_NICENESS = 19


def _lower_priority(niceness: int) -> None:
    # Linux schedules threads individually: this lowers only the worker thread (and the
    # threads the encoder starts from it). Elsewhere, or without permission, it is a no-op.
    if niceness:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class VideoWorker:
    """The bot's video engine: last frames, stitching and fitting, never on the event loop."""

    def __init__(
        self, work_dir: Path, *, slots: int | None = None, niceness: int | None = None
    ) -> None:
        self.work_dir = work_dir
        self.slots = max(1, slots or os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(
            max_workers=self.slots,
            thread_name_prefix="video",
            initializer=_lower_priority,
            initargs=(DEFAULT_NICENESS if niceness is None else niceness,),
        )
        self._busy = 0

    @property
    def busy(self) -> int:
        """Jobs submitted and not finished (running or waiting for a thread)."""
        return self._busy

    async def last_frame(self, clip: Path) -> bytes:
        """The clip's last frame as a PNG."""
        return await self._run(last_frame_png, clip)

    async def stitch(self, first: Path, second: Path, out: Path) -> StitchResult:
        """`first` then `second`, boundary frame dropped, written to `out`."""
        return await self._run(stitch, first, second, out)

    async def fit(self, clip: Path, out: Path, limit: int) -> FitResult:
        """A copy of `clip` of at most `limit` bytes, written to `out` (FitImpossible if not)."""
        return await self._run(fit, clip, out, limit)

    @contextlib.asynccontextmanager
    async def scratch(self, suffix: str = ".mp4") -> AsyncIterator[Path]:
        """A fresh path in the work directory, removed when the block ends."""
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        path = self.work_dir / f"{SCRATCH_PREFIX}{secrets.token_hex(6)}{suffix}"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def remove_leftovers(self) -> int:
        """Delete scratch files a killed process left behind; return how many (call at start)."""
        if not self.work_dir.is_dir():
            return 0
        removed = 0
        for pattern in (f"{SCRATCH_PREFIX}*", f".{SCRATCH_PREFIX}*.part*"):
            for leftover in self.work_dir.glob(pattern):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, functools.partial(fn, *args, cancel=cancel))
        self._busy += 1
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Stop the thread and wait for it, so that the caller's clean-up (its scratch files)
            # does not race a thread still writing them.
            cancel.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(future), CANCEL_GRACE_SECONDS)
            raise
        finally:
            self._busy -= 1

    def close(self) -> None:
        """Stop taking work; queued work is dropped, running work was cancelled by its caller
        (and stops at its next frame). Does not wait: shutdown has a time budget."""
        self._pool.shutdown(wait=False, cancel_futures=True)
