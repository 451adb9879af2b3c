"""Background tasks that cannot die silently.

asyncio keeps only weak references to tasks, and an exception in a task nobody awaits is
reported, at best, when the task is garbage collected. `TaskGroup`-like bookkeeping here keeps a
strong reference until the task ends and logs any exception at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    """Own a set of fire-and-forget tasks: keep them alive, log their failures, stop them all."""

    def __init__(self, name: str = "background") -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start `coro` now; its exception, if any, is logged rather than lost."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s task %s crashed", self._name, task.get_name(), exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, timeout: float = 5.0, *, wait_first: bool = False) -> None:
        """Cancel every task and wait (bounded) for them to finish.

        With `wait_first`, give them `timeout` seconds to finish on their own before
        cancelling what is left."""
        tasks = list(self._tasks)
        if not tasks:
            return
        if wait_first:
            _, tasks_left = await asyncio.wait(tasks, timeout=timeout)
            tasks = list(tasks_left)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0 if wait_first else timeout)
