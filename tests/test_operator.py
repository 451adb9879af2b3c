"""The operator's view: start-up without configuration, doctor, backups, logs, and the docs.

Entry points run as real subprocesses in an empty directory with a clean environment, as an
operator would run them on a fresh VPS. Nothing leaves loopback.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database as SqliteUtilsDatabase

from bot.logs import setup_logging
from bot.ops.backup import BackupError, backup_database
from bot.ops.checklist import Checklist
from bot.ops.doctor import check_database
from bot.settings import Settings
from storage import migrations
from storage.db import Database
from storage.lock import ProcessLock
from storage.models import JobState, NewJob
from storage.sqlite import read_schema_version
from tests.factories import BOT_VARIABLES, reservation_args

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "tests" / "e2e" / "launch_bot.py"


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any of the bot's variables, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in BOT_VARIABLES and not k.upper().startswith("WIRO_")
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run_bot(
    cwd: Path, *args: str, env: dict[str, str], launcher: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(LAUNCHER), "bot", *args] if launcher else [
        sys.executable, "-m", "bot", *args
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------
# python -m bot without (or with bad) configuration
# ----------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_start_without_configuration_names_each_missing_variable(tmp_path: Path) -> None:
    result = run_bot(tmp_path, env=clean_env())
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    for name in ("DISCORD_TOKEN", "WIRO_API_KEY", "WIRO_API_SECRET"):
        assert name in output
    assert "WIRO_SANDBOX=true" in output  # the way to try it without a Wiro account
    assert ".env.example" in output
    assert "Traceback" not in output
    assert not (tmp_path / "data").exists()  # nothing created before the configuration is valid


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("variable", "value", "fix"),
    [
        ("MAX_JOBS_PER_USER", "abc", "a whole number from 1 to 100"),
        ("DEFAULT_QUOTA_PERIOD", "year", "one of day, week, month"),
        ("LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_bad_value_is_named_with_its_fix(
    tmp_path: Path, variable: str, value: str, fix: str
) -> None:
    # From .env, as most operators configure it; the token is fine, only one value is wrong.
    (tmp_path / ".env").write_text(
        f"DISCORD_TOKEN=abc.def.ghi\nWIRO_SANDBOX=true\n{variable}={value}\n"
    )
    result = run_bot(tmp_path, env=clean_env())
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    line = next(line for line in output.splitlines() if variable in line)
    assert fix in line
    assert "DISCORD_TOKEN" not in output  # only the actual problem is reported
    assert "Traceback" not in output


@pytest.mark.e2e
def test_an_unusable_database_path_is_a_configuration_problem(tmp_path: Path) -> None:
    (tmp_path / "a-folder.sqlite3").mkdir()  # the path names a directory, not a file
    env = clean_env(
        DISCORD_TOKEN="abc.def.ghi",
        WIRO_SANDBOX="true",
        DATABASE_PATH=str(tmp_path / "a-folder.sqlite3"),
    )
    result = run_bot(tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "DATABASE_PATH" in output and "Point it to a file" in output
    assert "Traceback" not in output


# ----------------------------------------------------------------------------------------------
# Exit statuses at start: 2 for what the operator must change, 1 for what may pass by itself
# (deploy/hailuo-bot.service restarts on 1 and never on 2)
# ----------------------------------------------------------------------------------------------
def sandbox_env(database: Path) -> dict[str, str]:
    """A valid configuration whose Discord is a closed loopback port (run through the launcher:
    should the bot get past the database, it fails on Discord, never on the network)."""
    port = closed_port()
    return clean_env(
        DISCORD_TOKEN="abc.def.ghi",
        WIRO_SANDBOX="true",
        DATABASE_PATH=str(database),
        DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/",
    )


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " ERROR " in line]


@pytest.mark.e2e
def test_a_database_held_by_another_bot_process_exits_2_naming_its_pid(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    with ProcessLock(database):  # this test process plays the bot that runs
        result = run_bot(tmp_path, env=sandbox_env(database), launcher=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    (line,) = error_lines(output)
    assert f"pid {os.getpid()}" in line and str(database) in line, line
    assert "Traceback" not in output
    assert not database.exists()  # refused before anything touched the database


@pytest.mark.e2e
def test_a_database_folder_that_is_a_file_is_a_configuration_problem(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")  # where the lock file and database would go
    result = run_bot(tmp_path, env=sandbox_env(tmp_path / "data" / "bot.sqlite3"), launcher=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "DATABASE_PATH" in output and "Point it to a file" in output
    assert "Traceback" not in output


@pytest.mark.e2e
def test_a_file_that_is_no_database_says_to_restore_a_backup(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    database.write_bytes(b"certainly not SQLite " * 300)  # a damaged file, or the wrong one
    result = run_bot(tmp_path, env=sandbox_env(database), launcher=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output  # waiting will not fix it
    assert "restore a backup" in output and "Traceback" not in output


@pytest.mark.e2e
def test_a_busy_database_at_start_exits_1_so_that_the_service_manager_retries(
    tmp_path: Path,
) -> None:
    database = tmp_path / "bot.sqlite3"
    with sqlite3.connect(database) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another program keeps the write lock (> 10 s)
        result = run_bot(tmp_path, env=sandbox_env(database), launcher=True)
    finally:
        holder.close()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    (line,) = error_lines(output)
    assert "is busy" in line and "starts the bot again" in line, line
    assert "Traceback" not in output and "DATABASE_PATH (" not in output


def _tmpfs_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.e2e
@pytest.mark.skipif(not _tmpfs_available(), reason="needs unshare -rm to mount a small tmpfs")
@pytest.mark.parametrize("free_pages", [0, 6])
def test_a_full_disk_at_start_exits_1_so_that_the_service_manager_retries(
    tmp_path: Path, free_pages: int
) -> None:
    """A tiny filesystem of its own (a tmpfs in a private mount namespace), filled up: with no
    page left the lock's pid cannot be written; with a few left, SQLite fails creating the
    database."""
    disk = tmp_path / "disk"
    disk.mkdir()
    database = disk / "data" / "bot.sqlite3"
    command = " && ".join(
        [
            f"mount -t tmpfs -o size=256k tmpfs {disk}",
            f"(dd if=/dev/zero of={disk}/filler bs=4k 2>/dev/null || true)",
            f"(test {free_pages} -eq 0 || truncate -s -{free_pages * 4}k {disk}/filler)",
            f"exec {sys.executable} {LAUNCHER} bot",
        ]
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command],
        cwd=tmp_path,
        env=sandbox_env(database),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    (line,) = error_lines(output)
    assert "cannot start" in line and "starts the bot again" in line, line
    assert "Traceback" not in output and "DATABASE_PATH (" not in output


@pytest.mark.e2e
def test_doctor_with_sandbox_and_unreachable_discord_prints_checklist(tmp_path: Path) -> None:
    port = closed_port()
    env = clean_env(
        DISCORD_TOKEN="MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456",
        WIRO_SANDBOX="true",
        DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/",
    )
    result = run_bot(tmp_path, "doctor", env=env, launcher=True)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    lines = result.stdout.splitlines()
    assert any(line.startswith("✓ Configuration") for line in lines), output
    assert any(line.startswith("✓ Database") for line in lines), output
    assert any(line.startswith("✗ Discord token") for line in lines), output
    assert any(line.startswith("✓ Wiro") and "sandbox" in line for line in lines), output
    assert "Some checks failed." in result.stdout
    assert "Traceback" not in output
    assert "abcdefghijklmnopqrstuvwxyz0123456" not in output


def test_the_systemd_unit_restarts_on_status_1_and_crashes_never_on_2() -> None:
    settings: dict[str, str] = {}
    for line in (ROOT / "deploy" / "hailuo-bot.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    assert settings["Restart"] == "on-failure"  # status 1 and signals: started again
    assert settings["RestartPreventExitStatus"] == "2"
    assert settings["StartLimitIntervalSec"] == "0"  # passing trouble is never given up on
    assert int(settings["TimeoutStopSec"]) > 10  # the bot's own SIGTERM budget comes first


async def test_doctor_alongside_a_running_bot_names_its_pid_and_migrates_nothing(
    tmp_path: Path,
) -> None:
    """While a bot process holds the database, doctor only reads it: an older schema (a bot
    not yet upgraded) stays as it is, and the Database line says which pid runs the bot."""
    database = tmp_path / "bot.sqlite3"
    older = migrations.LATEST_VERSION - 1
    conn = sqlite3.connect(database, isolation_level=None)  # the file of a bot one version older
    migrations.migrate(SqliteUtilsDatabase(conn), target=older)
    conn.close()
    out = io.StringIO()
    settings = Settings.model_construct(database_path=database)
    with ProcessLock(database):
        await check_database(settings, Checklist(out))
    assert f"✓ Database: {database} is writable, schema version {older}" in out.getvalue()
    assert f"the bot runs on it (pid {os.getpid()})" in out.getvalue()
    assert read_schema_version(database) == older
    # Once no bot runs on it, doctor opens it as before (and migrates it).
    out = io.StringIO()
    await check_database(settings, Checklist(out))
    assert f"schema version {migrations.LATEST_VERSION}" in out.getvalue(), out.getvalue()
    assert "the bot runs" not in out.getvalue()


# ----------------------------------------------------------------------------------------------
# Backups
# ----------------------------------------------------------------------------------------------
async def write_jobs(db: Database, count: int) -> None:
    now = datetime.now(UTC)
    for i in range(count):
        await db.create_job_with_reservation(
            NewJob(guild_id=1, channel_id=2, user_id=100 + i, prompt=f"prompt {i}"),
            **reservation_args(now=now, credits=100, max_jobs_per_user=10, max_jobs_per_guild=100),
        )


def read_rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT id, user_id, prompt, state FROM jobs ORDER BY id").fetchall()
    finally:
        conn.close()


async def test_backup_of_a_live_database_has_the_rows_and_mode_0600(tmp_path: Path) -> None:
    src = tmp_path / "data" / "bot.sqlite3"
    async with Database(src) as db:
        await write_jobs(db, 25)
        await db.transition(1, JobState.SUBMITTING)
        # The bot is still running (connection open, WAL not checkpointed) during the backup.
        assert (src.parent / "bot.sqlite3-wal").stat().st_size > 0
        written = await backup_database(src, tmp_path / "copy.sqlite3")
        expected = read_rows(src)
        await write_jobs(db, 1)  # later writes do not reach the copy

    assert written == tmp_path / "copy.sqlite3"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    rows = read_rows(written)
    assert rows == expected
    assert len(rows) == 25
    assert rows[0][3] == "submitting"
    # One self-contained file: no WAL needed to read it.
    assert not (tmp_path / "copy.sqlite3-wal").exists()


async def test_backup_into_a_directory_gets_a_timestamped_name(tmp_path: Path) -> None:
    src = tmp_path / "bot.sqlite3"
    async with Database(src) as db:
        await write_jobs(db, 2)
        backups = tmp_path / "backups"
        backups.mkdir()
        first = await backup_database(src, backups)
        second = await backup_database(src, backups)
    assert first.parent == backups and second.parent == backups
    assert first != second
    assert re.fullmatch(r"bot-\d{8}T\d{6}Z(-\d+)?\.sqlite3", first.name)
    assert len(read_rows(second)) == 2


async def test_backup_refuses_to_overwrite_or_to_invent_a_source(tmp_path: Path) -> None:
    src = tmp_path / "bot.sqlite3"
    async with Database(src) as db:
        await write_jobs(db, 1)
    existing = tmp_path / "old.sqlite3"
    existing.write_bytes(b"keep me")
    with pytest.raises(BackupError, match="already exists"):
        await backup_database(src, existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(BackupError, match="no database"):
        await backup_database(tmp_path / "missing.sqlite3", tmp_path / "x.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()
    assert not (tmp_path / "x.sqlite3").exists()


@pytest.mark.e2e
async def test_backup_command_needs_only_database_path(tmp_path: Path) -> None:
    async with Database(tmp_path / "data" / "bot.sqlite3") as db:
        await write_jobs(db, 3)
    # No DISCORD_TOKEN, no Wiro keys: the default DATABASE_PATH and the default destination.
    result = run_bot(tmp_path, "backup", env=clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    (written,) = (tmp_path / "data" / "backups").iterdir()
    assert str(written.relative_to(tmp_path)) in result.stdout
    assert len(read_rows(written)) == 3
    # DATABASE_PATH from .env and a named destination; then the same name again is refused.
    (tmp_path / "data" / "bot.sqlite3").rename(tmp_path / "elsewhere.sqlite3")
    (tmp_path / ".env").write_text("DATABASE_PATH=elsewhere.sqlite3\n")
    result = run_bot(tmp_path, "backup", "snap.sqlite3", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert len(read_rows(tmp_path / "snap.sqlite3")) == 3
    again = run_bot(tmp_path, "backup", "snap.sqlite3", env=clean_env())
    assert again.returncode == 1
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


# ----------------------------------------------------------------------------------------------
# Logs
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_logs_never_contain_the_secrets(restore_logging: None) -> None:
    secrets = [
        "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GaBcDe.zyxwvutsrqponmlkjihgfedcba98765",
        "wiro-key-0123456789",
        "wiro-secret-abcdefghij",
    ]
    out = io.StringIO()
    setup_logging("DEBUG", secrets=secrets, stream=out)
    log = logging.getLogger("bot.test_operator")
    try:
        raise RuntimeError(f"login failed with {secrets[0]} key={secrets[1]} {secrets[2]!r}")
    except RuntimeError:
        log.exception("job=7 Wiro said %s", {"x-api-key": secrets[1], "secret": secrets[2]})
    text = out.getvalue()
    assert "job=7 Wiro said" in text and "Traceback" in text  # the event is still logged
    for secret in secrets:
        assert secret not in text


# ----------------------------------------------------------------------------------------------
# The docs agree with the code
# ----------------------------------------------------------------------------------------------
def env_example_names() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_env_example_lists_exactly_the_variables_settings_reads() -> None:
    names = env_example_names()
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert set(names) == {name.upper() for name in Settings.model_fields}


def test_readme_documents_every_variable_with_the_env_example_default() -> None:
    readme = (ROOT / "README.md").read_text()
    defaults = dict(
        re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    )
    rows = dict(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|", readme, flags=re.M))
    assert set(rows) == set(defaults)
    for name, default in defaults.items():
        if default:
            assert f"`{default}`" in rows[name], name


def readme_quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [body for _lang, body in re.findall(r"^```(\w*)\n(.*?)\n```$", section, re.M | re.S)]


def ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line for line in lines if line.startswith(("python3 ", ".venv/"))]


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    blocks = readme_quick_start()
    assert len(blocks) == 2, blocks
    start, tests = blocks
    assert start.count("\n") == 0 and tests.count("\n") == 0
    assert start.endswith(".venv/bin/python -m bot")
    # CI runs the README's test command, step by step, exactly.
    assert tests.split(" && ") == ci_commands()
