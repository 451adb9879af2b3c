"""One bot process per database: an exclusive lock on `<DATABASE_PATH>.lock`, holding its pid.

Two bot processes on one file would both resume every job: one refunds what the other submits,
clips are posted twice and a paid task is left with nobody following it. `python -m bot` takes
this lock before anything touches the database (before migrations) and keeps it for the life of
the process. It is an `flock`, so the kernel releases it when the process ends, however it ends
(SIGKILL and the OOM killer included): a stale lock file never keeps the bot down.

Only the bot takes it. `doctor` merely probes it (to say which pid runs the bot), `backup` reads
the file through SQLite's own locking, `sync` never opens the database: all three work while the
bot runs. The lock file lives next to the database, so the data folder must be on a local
filesystem (SQLite's WAL mode needs that too).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

# A `doctor` probe holds the lock for microseconds: a bot starting at that very moment tries
# again for this long before it concludes that another bot holds the database.
ACQUIRE_PATIENCE_SECONDS = 1.0
_RETRY_SECONDS = 0.05


class DatabaseHeld(Exception):
    """Another process holds the database's lock; `pid` is the holder's, when it wrote one."""

    def __init__(self, lock_path: Path, pid: int | None) -> None:
        self.lock_path = lock_path
        self.pid = pid
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(f"{lock_path} is held by {holder}")


def lock_path_for(database_path: Path) -> Path:
    """The lock file of a database: its real path (symlinks followed, so that two names of one
    file share one lock) with `.lock` appended."""
    return Path(f"{Path(database_path).resolve()}.lock")


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class ProcessLock:
    """The exclusive lock of one database file, held by at most one process at a time."""

    def __init__(self, database_path: Path) -> None:
        self.path = lock_path_for(Path(database_path))
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, patience: float = ACQUIRE_PATIENCE_SECONDS) -> None:
        """Take the lock and write our pid in it.

        Raises DatabaseHeld when another process keeps it, OSError when the file cannot be
        made (a folder this user cannot write to, a full disk)."""
        if self._fd is not None:
            raise RuntimeError("the lock is already held by this process")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            deadline = time.monotonic() + patience
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise DatabaseHeld(self.path, _read_pid(fd)) from None
                    time.sleep(_RETRY_SECONDS)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the kernel does it anyway when the process ends)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # still ours: nobody reads a pid that no longer runs the bot
        os.close(fd)

    def holder(self) -> int | None:
        """The pid of the process holding the lock (0 if it wrote none), None if nobody does.

        A probe for `doctor`: it never creates the file and holds a shared lock only for the
        instant of the check (`acquire` waits `ACQUIRE_PATIENCE_SECONDS` for such a probe)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd) or 0
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
