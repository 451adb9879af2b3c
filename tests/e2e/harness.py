"""`BotProcess`: the real bot as a subprocess (through launch_bot.py), with its output captured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).resolve().parent / "launch_bot.py"
BAD_MARKERS = ("Traceback", "Ignoring exception")


class BotProcess:
    """Spawn `python tests/e2e/launch_bot.py <module> [args]` and watch its stdout+stderr lines."""

    def __init__(
        self,
        module: str = "bot",
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        echo: bool = False,
    ) -> None:
        self.module = module
        self.args = args
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd or ROOT
        self.echo = echo
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._new_line = asyncio.Event()

    async def start(self) -> BotProcess:
        """Spawn the process and start collecting its output."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            self.module,
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            cwd=str(self.cwd),
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            self.lines.append(text)
            if self.echo:
                print(f"[{self.module}] {text}", flush=True)
            self._new_line.set()
        self._new_line.set()

    @property
    def output(self) -> str:
        """Return everything the process printed so far."""
        return "\n".join(self.lines)

    @property
    def returncode(self) -> int | None:
        """Return the exit code, or None while running."""
        return None if self.proc is None else self.proc.returncode

    async def wait_for_line(self, substring: str, timeout: float = 10.0, *, start: int = 0) -> str:
        """Wait for an output line (at index >= `start`) containing `substring`; return it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[start:]:
                if substring in line:
                    return line
            if self._reader is not None and self._reader.done():
                raise AssertionError(
                    f"bot exited ({self.returncode}) before {substring!r}:\n{self.output}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no line with {substring!r} within {timeout} s:\n{self.output}"
                )
            self._new_line.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_line.wait(), remaining)

    async def _wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 2)
        return rc

    async def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """Send SIGTERM; return (exit code, seconds until it exited). Kills it after `timeout`."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = await self._wait_exit(timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"bot ignored SIGTERM for {timeout} s:\n{self.output}") from None
        return rc, time.monotonic() - started

    async def kill(self) -> int:
        """Send SIGKILL and reap the process."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        return await self._wait_exit(10)

    def assert_clean(self) -> None:
        """Fail if the output has a traceback or a swallowed handler error."""
        bad = [m for m in BAD_MARKERS if m in self.output]
        assert not bad, f"bot output contains {bad}:\n{self.output}"

    def dump(self) -> None:
        """Print the captured output (pytest shows it for failing tests)."""
        print(f"----- output of {self.module} -----\n{self.output}\n-----", flush=True)

    async def __aenter__(self) -> BotProcess:
        return await self.start()

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.dump()
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()
