"""Opening the file: permissions, pragmas, and the schema migrations."""

# Tests look at small files between awaits; blocking for a stat() is fine here.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlite_utils import Database as SqliteUtilsDatabase

from storage import migrations
from storage.db import Database
from storage.models import JobState

from .conftest import GUILD, MOD, USER, Clock

SCHEMA_V1 = Path(__file__).with_name("schema_v1.sql")


def schema(path: Path) -> list[tuple[str, str, str, str | None]]:
    """Everything sqlite_master says about a file, except where its pages happen to be."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            # sqlite_stat1 is not schema: `PRAGMA optimize` at close creates it when the
            # session's queries call for statistics.
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    """A database file as version 1 of the bot left it, with a little data in it."""
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1.read_text())
    ts = "2026-01-02T03:04:05.000000+00:00"
    conn.execute(
        "INSERT INTO jobs (guild_id, channel_id, user_id, prompt, resolution, duration,"
        " prompt_optimizer, credits, state, stage, created_at, updated_at, finished_at,"
        " total_cost_usd) VALUES (?, 5, ?, 'an old job', '768P', 6, 1, 1, 'succeeded', 'done',"
        " ?, ?, ?, 0.25)",
        [GUILD, USER, ts, ts, ts],
    )
    conn.execute(
        "INSERT INTO ledger (guild_id, user_id, job_id, kind, credits, created_at)"
        " VALUES (?, ?, 1, 'reserve', 1, ?)",
        [GUILD, USER, ts],
    )
    conn.execute(
        "INSERT INTO blocked_words (guild_id, word, added_by, added_at) VALUES (?, 'cat', ?, ?)",
        [GUILD, MOD, ts],
    )
    conn.commit()
    conn.close()
    return path


async def test_open_creates_parent_dir_and_private_file(db_path: Path, clock: Clock) -> None:
    assert not db_path.parent.exists()
    async with Database(db_path, clock=clock) as db:
        assert await db.schema_version() == migrations.LATEST_VERSION
        await db.set_paused(GUILD, True, "maintenance", MOD)  # a write, so -wal exists
        for suffix in ("", "-wal", "-shm"):
            file = db_path.with_name(db_path.name + suffix)
            if file.exists():
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


async def test_open_tightens_an_existing_world_readable_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    os.chmod(db_path, 0o644)
    async with Database(db_path) as db:
        assert await db.schema_version() == migrations.LATEST_VERSION
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


async def test_pragmas_on_the_connection(db: Database) -> None:
    def read(conn: SqliteUtilsDatabase) -> tuple[object, ...]:
        return tuple(
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        )

    journal, synchronous, foreign_keys, busy = await db._run(read)
    # 2 = FULL: every commit (the one that stores a Wiro task id, a charge, a refund) is fsynced
    # before it returns, so a power cut cannot take it back; NORMAL (1) could.
    assert (journal, synchronous, foreign_keys) == ("wal", 2, 1)
    assert busy >= 1000
    assert await db.durability() == ("wal", "FULL")


async def test_close_checkpoints_the_wal(db_path: Path) -> None:
    db = Database(db_path)
    await db.open()
    await db.add_blocked_word(GUILD, "cat", MOD)
    await db.close()
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    await db.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="not open"):
        await db.guild_settings(GUILD)


async def test_reopen_runs_nothing_twice(db_path: Path) -> None:
    async with Database(db_path):
        pass
    before = schema(db_path)
    async with Database(db_path) as db:
        assert await db.schema_version() == migrations.LATEST_VERSION
    assert schema(db_path) == before
    assert applied(db_path) == migrations.migration_names()


async def test_migrating_from_v1_and_from_empty_end_at_the_same_schema(
    v1_file: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.sqlite3"
    async with Database(fresh):
        pass
    async with Database(v1_file) as db:
        assert await db.schema_version() == migrations.LATEST_VERSION
        # The data written by version 1 is still there and readable.
        job = await db.get_job(1)
        assert job.state is JobState.SUCCEEDED and job.prompt == "an old job"
        assert [e.kind for e in await db.ledger_for_job(1)] == ["reserve"]
        assert (await db.guild_settings(GUILD)).blocked_words == ("cat",)
    assert schema(v1_file) == schema(fresh)
    assert applied(v1_file) == applied(fresh) == migrations.migration_names()


def test_migration_to_version_1_matches_the_frozen_snapshot(tmp_path: Path) -> None:
    built, frozen = tmp_path / "built.sqlite3", tmp_path / "frozen.sqlite3"
    conn = sqlite3.connect(built, isolation_level=None)
    db = SqliteUtilsDatabase(conn, execute_plugins=False)
    conn.execute("BEGIN IMMEDIATE")
    assert migrations.migrate(db, target=1) == 1
    conn.execute("COMMIT")
    conn.close()
    conn = sqlite3.connect(frozen)
    conn.executescript(SCHEMA_V1.read_text())
    conn.close()
    assert schema(built) == schema(frozen)


async def test_a_file_from_a_newer_bot_is_refused(db_path: Path) -> None:
    async with Database(db_path):
        pass
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES (?, '9999_from_the_future', 'x')",
        [migrations.MIGRATION_SET],
    )
    conn.commit()
    conn.close()
    db = Database(db_path)
    with pytest.raises(migrations.SchemaTooNew, match="upgrade the bot"):
        await db.open()
    with pytest.raises(RuntimeError, match="not open"):
        await db.schema_version()


def test_migrate_rejects_unknown_target(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    db = SqliteUtilsDatabase(conn, execute_plugins=False)
    with pytest.raises(ValueError, match="no schema version"):
        migrations.migrate(db, target=migrations.LATEST_VERSION + 1)
    conn.close()


async def test_four_connections_opening_a_new_file_at_once_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "same.sqlite3"
    dbs = [Database(path) for _ in range(4)]
    await asyncio.gather(*(d.open() for d in dbs))
    try:
        assert [await d.schema_version() for d in dbs] == [migrations.LATEST_VERSION] * 4
        assert applied(path) == migrations.migration_names()
    finally:
        await asyncio.gather(*(d.close() for d in dbs))


async def test_a_job_an_older_bot_left_mid_submission_is_never_sent_again(tmp_path: Path) -> None:
    """0009 adds run_sent_at; a job found SUBMITTING without it would be sent to Wiro again. A
    job an older bot left SUBMITTING may have reached Wiro, so the upgrade marks it as sent."""
    path = tmp_path / "older.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    before = migrations.migration_names().index("0009_run_window")
    migrations.migrate(SqliteUtilsDatabase(conn, execute_plugins=False), target=before)
    ts = "2026-01-02T03:04:05.000000+00:00"
    for state in ("submitting", "running"):
        conn.execute(
            "INSERT INTO jobs (guild_id, channel_id, user_id, prompt, resolution, duration,"
            " prompt_optimizer, credits, state, stage, created_at, updated_at)"
            " VALUES (?, 5, ?, 'p', '768P', 6, 1, 1, ?, 'submitting', ?, ?)",
            [GUILD, USER, state, ts, ts],
        )
    conn.close()
    async with Database(path) as db:
        submitting, running = await db.get_job(1), await db.get_job(2)
    assert submitting.state is JobState.SUBMITTING
    assert submitting.run_sent_at == submitting.updated_at
    assert running.run_sent_at is None and not running.cost_is_estimate
