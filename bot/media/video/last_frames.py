"""The last frame of each kept clip, decoded once, in the background, and kept beside the clip.

An Extend starts from the last frame of the clip it continues. Decoding that frame takes a
noticeable part of a second for a 10 s 1080P clip (every frame since the last keyframe must be
decoded), so it is done right after the clip is posted and kept (`prepare`), on the video
worker (nice 19), and stored as ``job-<id>.last.png`` in the `ClipStore`. An Extend (`get`)
then reads that file; when the decode is still running it waits for that same decode; when
there is no file (a clip kept by an older version, a removed file, a failed decode) it decodes
the frame then and stores it.

Background decodes run one fewer at a time than the worker has threads (at least one), so that
the video work a member waits for (a fit, a stitch, an Extend's own decode) always finds a free
thread even when many clips are posted at once; an Extend whose frame is still queued there
decodes it at once instead. A failed decode is logged (one warning, with the job) and never
fails the delivery that started it; `close` cancels what still runs at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.background import BackgroundTasks
from bot.logs import job_logger
from bot.media.video.probe import VideoError
from bot.media.video.store import ClipStore
from bot.media.video.worker import VideoWorker

log = logging.getLogger(__name__)


class LastFrames:
    """Decode each kept clip's last frame once, off the member's path."""

    def __init__(self, clips: ClipStore, video: VideoWorker) -> None:
        self.clips = clips
        self.video = video
        self._tasks = BackgroundTasks("last-frame")
        self._pending: dict[int, asyncio.Task[bytes | None]] = {}
        self._queued: set[int] = set()  # background decodes waiting for their turn
        self._turns = asyncio.Semaphore(max(1, video.slots - 1))
        self._closed = False

    def prepare(self, job_id: int) -> None:
        """Start decoding the last frame of the job's kept clip, unless that already runs.

        Returns at once: the decode runs on the video worker, its PNG lands in the store."""
        if not self._closed and job_id not in self._pending:
            self._start(job_id, background=True)

    def _start(self, job_id: int, *, background: bool) -> asyncio.Task[bytes | None]:
        task = self._tasks.spawn(
            self._decode(job_id, background=background), name=f"last-frame-{job_id}"
        )
        self._pending[job_id] = task
        if background:  # queued from now on (the task itself runs later)
            self._queued.add(job_id)

        def forget(done: asyncio.Task[bytes | None]) -> None:
            if self._pending.get(job_id) is done:
                del self._pending[job_id]
                self._queued.discard(job_id)  # also when cancelled before it ever ran

        task.add_done_callback(forget)
        return task

    def pending(self, job_id: int) -> bool:
        """Whether the job's last frame is being decoded right now."""
        return job_id in self._pending

    async def get(self, job_id: int) -> bytes:
        """The last frame (PNG) of the job's kept clip: stored, being decoded, or decoded now.

        Raises VideoError when it cannot be decoded (no clip kept, a damaged clip)."""
        task = self._pending.get(job_id)
        if task is not None and job_id in self._queued:
            # Still waiting behind other background decodes: a member waits now, so do it now.
            task.cancel()
            await asyncio.wait({task})
            task = self._pending.get(job_id)  # another caller may have started it meanwhile
        if task is not None:
            # A decode already under way may have begun before the clip was kept again (its
            # file removed, then fetched again from Wiro): if it fails, decode the clip as it is.
            png = await self._result(task)
            if png is not None:
                return png
        stored = await asyncio.to_thread(self.clips.last_frame, job_id)
        if stored is not None:
            return stored
        if self._closed:
            raise VideoError("shutting down")
        task = self._pending.get(job_id)
        if task is None:  # a decode of our own, shared with anyone asking meanwhile
            job_logger(log, job_id).info("no stored last frame: decoding it now")
            task = self._start(job_id, background=False)
        png = await self._result(task)
        if png is None:
            raise VideoError(f"the last frame of job {job_id}'s clip could not be decoded")
        return png

    @staticmethod
    async def _result(task: asyncio.Task[bytes | None]) -> bytes | None:
        # `wait`, not `await task`: a caller that goes away does not cancel the shared decode.
        await asyncio.wait({task})
        return None if task.cancelled() else task.result()

    async def discard(self, job_id: int) -> None:
        """Forget a stored frame (found damaged): the next `get` decodes it again."""
        await asyncio.to_thread(self.clips.discard_last_frame, job_id)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop decoding (shutdown): what runs is cancelled, and stops at its next frame."""
        self._closed = True
        await self._tasks.cancel_all(timeout=timeout)

    async def _decode(self, job_id: int, *, background: bool) -> bytes | None:
        if not background:
            return await self._decode_now(job_id)
        try:
            await self._turns.acquire()
        finally:
            self._queued.discard(job_id)
        try:
            return await self._decode_now(job_id)
        finally:
            self._turns.release()

    async def _decode_now(self, job_id: int) -> bytes | None:
        jlog = job_logger(log, job_id)
        clip = self.clips.path(job_id)
        started = time.monotonic()
        try:
            png = await self.video.last_frame(clip)
        except VideoError as exc:
            jlog.warning("could not decode the last frame of the kept clip: %s", exc)
            return None
        try:
            await asyncio.to_thread(self.clips.put_last_frame, job_id, png)
        except OSError as exc:  # a full disk: this Extend still gets its frame
            jlog.warning("could not store the last frame of the kept clip: %s", exc)
        else:
            jlog.info(
                "stored the last frame of the kept clip (%d kB, %.2f s)",
                len(png) // 1000,
                time.monotonic() - started,
            )
        return png
