"""Following a Wiro task to its outcome, and stopping one: the pacing of Task/Detail reads.

`WiroClient.follow` and `WiroClient.stop` are these functions. The socket gives the stages as
they happen (through the shared `SocketHub`); Task/Detail is the record of the outcome, read on
a schedule that the socket may stretch and that terminal cues shorten. Stopping retries
Cancel/Kill until Task/Detail shows the task closed. The protocol is in docs/wiro-protocol.md
("Socket", "Stopping").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bot.wiro.debug_text import progress_in
from bot.wiro.errors import TaskDeadlineExceeded, WiroAuthError, WiroError
from bot.wiro.lenient import loose_bool, loose_str
from bot.wiro.models import (
    KNOWN_EVENTS,
    STAGE_BY_STATUS,
    STAGE_ORDER,
    StageUpdate,
    TaskDetail,
    TaskOutcome,
    TaskStage,
)
from bot.wiro.socket_hub import RECONNECTED

if TYPE_CHECKING:
    from bot.wiro.client import WiroClient

log = logging.getLogger(__name__)

LATE_POLL_SECONDS = 10.0  # the one Task/Detail poll made after a job's deadline already passed
# Socket events that end a task. Any frame with `"terminal": true` counts too; Task/Detail is
# then read at once and stays the record of the outcome (docs/wiro-protocol.md "Socket").
TERMINAL_EVENTS = frozenset({"task_postprocess_end", "task_cancel"})
# After a terminal cue, Detail may lag the socket: re-read it at this pace, this many times.
HINTED_POLL_SECONDS = 1.0
HINTED_POLLS = 10
# While the socket delivers this task's frames, Task/Detail is only a safety net.
SOCKET_POLL_SECONDS = 30.0
FIRST_CONNECT_GRACE_SECONDS = 2.0
ERROR_READ_SECONDS = 5.0  # task_error frames cause at most one Task/Detail read per this
# Stopping (docs/wiro-protocol.md "Stopping"): retry Cancel/Kill at this pace until Task/Detail
# shows the task closed, for at most STOP_CONFIRM_SECONDS.
STOP_RETRY_SECONDS = 3.0
STOP_CONFIRM_SECONDS = 30.0
# Statuses after which only Kill applies; before task_assign, Cancel is tried first.
AFTER_ASSIGN = frozenset(
    {"task_assign", "task_start", "task_output", "task_end", "task_postprocess_start"}
)


async def follow(
    client: WiroClient, task_id: str, task_token: str, *, deadline: float
) -> AsyncIterator[StageUpdate | TaskOutcome]:
    """Yield stage changes of a task, then its outcome; raise TaskDeadlineExceeded.

    The socket gives the stages as they happen; Task/Detail is the record of the outcome.
    It is read at once, after every (re)connect, at once on a terminal cue (then every
    second until final), and otherwise every `poll_interval` (every SOCKET_POLL_SECONDS
    while the socket delivers this task's frames)."""
    sub = client.hub.subscribe(task_id, task_token)
    state = FollowState()
    next_poll = 0.0  # poll at once: the task may be finished already
    last_poll = 0.0
    try:
        while True:
            now = time.monotonic()
            # Never give up before asking Wiro once: after a long restart the task may have
            # finished (and been paid for) while nobody was watching.
            if now >= deadline and last_poll > 0:
                log.warning("task %s: deadline passed at stage %s", task_id, state.stage)
                raise TaskDeadlineExceeded(f"task {task_id} did not finish in time")
            if now >= next_poll:
                last_poll = now
                found = await _poll_once(client, task_id, task_token, deadline)
                interval = state.poll_interval(client.poll_interval)
                next_poll = time.monotonic() + interval
                # A regular read scheduled before the socket spoke may be stretched later.
                state.stretchable = interval >= client.poll_interval
                if found is not None:
                    _check_image_echo(client, task_id, found)
                    outcome = found.outcome()
                    if outcome is not None:
                        log.info(
                            "task %s: %s%s",
                            task_id,
                            outcome.kind,
                            f" ({outcome.reason})" if outcome.reason else "",
                        )
                        yield outcome
                        return
                    update = state.from_detail(found)
                    if update is not None:
                        yield update
            wait = min(next_poll, deadline) - time.monotonic()
            if wait <= 0:
                continue
            try:
                async with asyncio.timeout(wait):
                    event = await sub.queue.get()
            except TimeoutError:
                continue
            if event is RECONNECTED:
                # Events may have been missed while disconnected (Wiro replays nothing):
                # re-read soon. The first connect right after the opening read needs no
                # second read (that is what keeps polls at one per SOCKET_POLL_SECONDS).
                state.socket_frames = 0
                first = not state.connected_before
                state.connected_before = True
                if not first or time.monotonic() - last_poll > FIRST_CONNECT_GRACE_SECONDS:
                    next_poll = min(next_poll, last_poll + HINTED_POLL_SECONDS)
                    state.stretchable = False  # this catch-up read must happen
                continue
            update, poll_now = _on_frame(task_id, state, event)
            if poll_now:
                next_poll = 0.0
            elif state.stretchable and state.socket_frames == 1:
                # The socket delivers this task: Task/Detail becomes a safety net.
                next_poll = max(next_poll, last_poll + SOCKET_POLL_SECONDS)
                state.stretchable = False
            if update is not None:
                yield update
    finally:
        client.hub.unsubscribe(sub)
        client.image_field_checked(task_id)


def _on_frame(
    task_id: str, state: FollowState, frame: dict[str, Any]
) -> tuple[StageUpdate | None, bool]:
    """Turn one socket frame into a stage update; say whether to read Task/Detail now."""
    state.socket_frames += 1
    kind = loose_str(frame.get("type"))
    if kind not in KNOWN_EVENTS:
        log.debug("task %s: unknown socket event %r", task_id, kind[:40])
    if loose_bool(frame.get("terminal")) or kind in TERMINAL_EVENTS:
        # The final event: Task/Detail has the record (pexit, cost, outputs).
        state.hinted = HINTED_POLLS
        return None, True
    if kind == "task_error":
        # An interim diagnostic, never terminal: Wiro retries. Detail says whether the task
        # was put back in the queue; the card says Wiro is retrying.
        log.info("task %s: Wiro reported a problem and is retrying", task_id)
        # A burst of stderr lines must not become a burst of reads: one per few seconds.
        now = time.monotonic()
        read = now - state.last_error_read >= ERROR_READ_SECONDS
        if read:
            state.last_error_read = now
        return state.advance(None, None, "socket", retrying=True), read
    stage = STAGE_BY_STATUS.get(kind)
    progress = progress_in(frame.get("message")) if kind == "task_output" else None
    if stage is None:
        return None, False
    return state.advance(stage, progress, "socket"), False


def _check_image_echo(client: WiroClient, task_id: str, found: TaskDetail) -> None:
    field_id = client.image_field_to_check(task_id)
    if field_id is None or found.echoes(field_id) is None:
        return
    client.image_field_checked(task_id)
    if not found.echoes(field_id):
        # Wiro may have ignored the image and be making (and billing) a text-only clip.
        log.warning(
            "task %s: Task/Detail's parameters do not show the image field %s: Wiro may "
            "have ignored the first frame (check Tool/Detail's schema)",
            task_id,
            field_id,
        )


async def _poll_once(
    client: WiroClient, task_id: str, task_token: str, deadline: float
) -> TaskDetail | None:
    remaining = deadline - time.monotonic()
    try:
        # Past the deadline (a job resumed late) the one last look still gets a fair chance.
        async with asyncio.timeout(remaining if remaining > 0 else LATE_POLL_SECONDS):
            return await client.detail(task_token=task_token)
    except WiroAuthError:
        raise  # permission refusals included: asking again will not help
    except TimeoutError:
        return None
    except WiroError as exc:
        log.warning("task %s: Task/Detail failed: %s", task_id, exc)
        return None


async def stop(client: WiroClient, task_id: str, task_token: str) -> TaskDetail | None:
    """Stop a task and return the Task/Detail that shows it closed, or None if unconfirmed.

    Cancel applies while queued, Kill after task_assign; in the window between, either may
    be refused, so both are retried until Task/Detail shows the task closed (cancelled,
    or finished on its own), for at most STOP_CONFIRM_SECONDS (docs/wiro-protocol.md
    "Stopping")."""
    give_up = time.monotonic() + STOP_CONFIRM_SECONDS
    attempts = 0
    while True:
        try:
            current = await client.detail(task_token=task_token)
        except WiroAuthError:
            raise
        except WiroError as exc:
            log.info("task %s: Task/Detail failed while stopping: %s", task_id, exc)
            current = None
        if current is not None and current.is_terminal:
            if attempts == 0:
                log.info("task %s: already %s, nothing to stop", task_id, current.status)
            else:
                log.info("task %s: Task/Detail confirms %s", task_id, current.status)
            return current
        if time.monotonic() >= give_up:
            log.warning("task %s: Wiro did not confirm the stop in time", task_id)
            return None
        status = current.status if current is not None else ""
        if status in AFTER_ASSIGN:
            accepted = await client.kill(task_id, task_token)
        else:
            # Queued, or between accept and assign (or unknown): Cancel, then Kill.
            accepted = await client.cancel(task_id) or await client.kill(task_id, task_token)
        attempts += 1
        await asyncio.sleep(HINTED_POLL_SECONDS if accepted else STOP_RETRY_SECONDS)


@dataclass
class FollowState:
    stage: TaskStage | None = None
    progress: int | None = None
    retrying: bool = False
    hinted: int = 0  # Detail reads left at the fast pace after a terminal cue
    socket_frames: int = 0  # this task's frames since the last (re)connect
    stretchable: bool = False  # the next read is a regular one the socket may postpone
    last_error_read: float = float("-inf")  # when a task_error frame last caused a read
    connected_before: bool = False

    def poll_interval(self, base: float) -> float:
        """Return the pause before the next Task/Detail read."""
        if self.hinted > 0:
            self.hinted -= 1
            return min(base, HINTED_POLL_SECONDS)
        return max(base, SOCKET_POLL_SECONDS) if self.socket_frames else base

    def from_detail(self, detail: TaskDetail) -> StageUpdate | None:
        """Record what a non-final Task/Detail says."""
        if detail.retrying:
            return self.advance(None, None, "poll", retrying=True)
        if detail.stage is None:
            return None
        return self.advance(detail.stage, detail.progress, "poll")

    def advance(
        self,
        stage: TaskStage | None,
        progress: int | None,
        source: Literal["socket", "poll"],
        *,
        retrying: bool = False,
    ) -> StageUpdate | None:
        """Record a stage/progress report; return an update only when something changed."""
        if retrying:
            if self.retrying:
                return None
            self.retrying = True
            return StageUpdate(
                stage=self.stage or "queued", progress=self.progress, source=source, retrying=True
            )
        assert stage is not None
        if self.retrying:
            # Wiro requeued the task: the stage may honestly move back (to queued).
            self.retrying = False
        elif self.stage is not None and STAGE_ORDER[stage] < STAGE_ORDER[self.stage]:
            return None  # a stale report (Detail can lag the socket); never move backwards
        elif stage == self.stage and (progress is None or progress == self.progress):
            return None
        if stage != self.stage or progress is not None:
            self.progress = progress
        self.stage = stage
        return StageUpdate(stage=stage, progress=self.progress, source=source)
