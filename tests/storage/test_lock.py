"""One bot process per database: the lock next to the file, and who holds it."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.lock import DatabaseHeld, ProcessLock, lock_path_for
from storage.sqlite import passing_trouble

ROOT = Path(__file__).resolve().parents[2]


def test_the_lock_file_sits_next_to_the_database_and_holds_the_pid(tmp_path: Path) -> None:
    database = tmp_path / "data" / "bot.sqlite3"  # the folder is made, like the database's
    with ProcessLock(database) as lock:
        assert lock.path == lock_path_for(database) == tmp_path / "data" / "bot.sqlite3.lock"
        assert lock.path.read_text().strip() == str(os.getpid())
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
        assert not database.exists()  # taking the lock touches nothing else


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    with ProcessLock(database):
        second = ProcessLock(database)
        with pytest.raises(DatabaseHeld) as held:
            second.acquire(patience=0.1)
        assert held.value.pid == os.getpid()
        assert not second.held
    # Released: the next one gets it.
    with ProcessLock(database) as again:
        assert again.held


def test_two_names_of_one_database_share_one_lock(tmp_path: Path) -> None:
    real = tmp_path / "volume" / "bot.sqlite3"
    real.parent.mkdir()
    real.touch()
    alias = tmp_path / "bot.sqlite3"
    alias.symlink_to(real)  # e.g. a deploy that points data/ at a mounted volume
    with ProcessLock(real), pytest.raises(DatabaseHeld):
        ProcessLock(alias).acquire(patience=0.1)
    assert lock_path_for(alias) == lock_path_for(real) == tmp_path / "volume" / "bot.sqlite3.lock"


def test_holder_names_the_pid_only_while_the_lock_is_held(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    probe = ProcessLock(database)
    assert probe.holder() is None
    assert not lock_path_for(database).exists()  # a probe never creates the file
    lock = ProcessLock(database)
    lock.acquire()
    assert probe.holder() == os.getpid()
    lock.release()
    assert probe.holder() is None
    lock.acquire()  # a probe left nothing behind that would refuse the bot
    lock.release()


def test_the_kernel_releases_the_lock_of_a_process_killed_with_sigkill(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                sys.path.insert(0, {str(ROOT)!r})
                from storage.lock import ProcessLock
                ProcessLock({str(database)!r}).acquire()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseHeld) as held:
            ProcessLock(database).acquire(patience=0.1)
        assert held.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    # No clean-up ran in the killed process, and the lock file is still there: it is free.
    assert lock_path_for(database).exists()
    with ProcessLock(database) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())


# --- which failures to open the database may pass by themselves (exit 1, restarted) ----------
def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_a_full_disk_is_passing_trouble() -> None:
    def write_to_a_full_device() -> None:
        with open("/dev/full", "wb", buffering=0) as full:  # every write: ENOSPC
            full.write(b"pid")

    assert passing_trouble(_raised(write_to_a_full_device)) == "full"


def test_a_database_locked_by_another_writer_is_passing_trouble(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        assert passing_trouble(_raised(lambda: other.execute("BEGIN IMMEDIATE"))) == "busy"
    finally:
        other.close()
        holder.close()


def test_an_unusable_path_is_not_passing_trouble(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.sqlite3"
    folder.mkdir()
    assert passing_trouble(_raised(lambda: sqlite3.connect(folder).execute("SELECT 1"))) is None
    assert passing_trouble(_raised(lambda: open(folder, "w"))) is None  # noqa: SIM115
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database, but long enough to have a header " * 10)
    not_a_db = _raised(lambda: sqlite3.connect(junk).execute("SELECT * FROM sqlite_master"))
    assert passing_trouble(not_a_db) is None
