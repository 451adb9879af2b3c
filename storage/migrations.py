"""The schema, as an ordered list of migrations (sqlite-utils `Migrations`).

Version N of the schema is "the first N migrations applied". To change the schema, append one
function to MIGRATIONS below; never edit one that has shipped (files in the wild ran it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database as SqliteUtilsDatabase
from sqlite_utils.migrations import Migrations

from storage.frame_files import frames_dir_for, write_frame

log = logging.getLogger(__name__)

MigrationFn = Callable[[SqliteUtilsDatabase], None]

MIGRATION_SET = "hailuo-bot"

migrations = Migrations(MIGRATION_SET)
_names: list[str] = []


def _migration(name: str) -> Callable[[MigrationFn], MigrationFn]:
    """Register a migration under `name` (sqlite-utils records names, so never rename)."""

    def register(fn: MigrationFn) -> MigrationFn:
        _names.append(name)
        return migrations(name=name)(fn)

    return register


# Kept as SQL literals because partial indexes only serve queries whose WHERE repeats them.
IN_FLIGHT_STATES = ("pending", "waiting", "submitting", "running", "delivering")
IN_FLIGHT_SQL = "state IN ({})".format(", ".join(f"'{s}'" for s in IN_FLIGHT_STATES))
ALL_STATES = (*IN_FLIGHT_STATES, "succeeded", "failed", "cancelled", "timed_out")


class SchemaTooNew(RuntimeError):
    """The database file was migrated by a newer version of the bot than this one."""


@_migration("0001_initial")
def m0001_initial(db: SqliteUtilsDatabase) -> None:
    states = ", ".join(f"'{s}'" for s in ALL_STATES)
    statements = [
        f"""
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            resolution TEXT NOT NULL,
            duration INTEGER NOT NULL,
            prompt_optimizer INTEGER NOT NULL,
            has_image INTEGER NOT NULL DEFAULT 0,
            image_sha256 TEXT,
            image_url TEXT,
            credits INTEGER NOT NULL CHECK (credits >= 0),
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ({states})),
            stage TEXT NOT NULL,
            progress INTEGER,
            card_message_id INTEGER,
            card_posted_at TEXT,
            result_message_id INTEGER,
            delivery_nonce TEXT,
            wiro_task_id TEXT,
            wiro_task_token TEXT,
            submit_attempts INTEGER NOT NULL DEFAULT 0,
            upload_limit INTEGER,
            outcome_reason TEXT,
            cancelled_by INTEGER,
            total_cost_usd REAL,
            expected_cost_usd REAL,
            reroll_of INTEGER REFERENCES jobs (id),
            output_url TEXT,
            output_size INTEGER,
            created_at TEXT NOT NULL,
            submitted_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            updated_at TEXT NOT NULL
        )
        """,
        # In-flight jobs are few among many finished ones: partial indexes stay tiny.
        f"CREATE INDEX jobs_in_flight ON jobs (created_at) WHERE {IN_FLIGHT_SQL}",
        f"CREATE INDEX jobs_in_flight_guild ON jobs (guild_id, created_at) WHERE {IN_FLIGHT_SQL}",
        f"CREATE INDEX jobs_in_flight_member ON jobs (guild_id, user_id) WHERE {IN_FLIGHT_SQL}",
        "CREATE INDEX jobs_member_created ON jobs (guild_id, user_id, created_at)",
        "CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at)",
        "CREATE INDEX jobs_guild_finished ON jobs (guild_id, finished_at)"
        " WHERE total_cost_usd IS NOT NULL",
        "CREATE INDEX jobs_succeeded_settings ON jobs (resolution, duration, finished_at)"
        " WHERE state = 'succeeded'",
        """
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            job_id INTEGER NOT NULL REFERENCES jobs (id),
            kind TEXT NOT NULL CHECK (kind IN ('reserve', 'charge', 'refund')),
            credits INTEGER NOT NULL,
            note TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (job_id, kind)
        )
        """,
        "CREATE INDEX ledger_member_created ON ledger (guild_id, user_id, created_at)",
        """
        CREATE TABLE guild_settings (
            guild_id INTEGER PRIMARY KEY,
            mod_role_id INTEGER,
            paused INTEGER NOT NULL DEFAULT 0,
            pause_reason TEXT,
            monthly_budget_usd REAL CHECK (monthly_budget_usd IS NULL OR monthly_budget_usd >= 0),
            audit_channel_id INTEGER,
            updated_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE limits (
            guild_id INTEGER NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('server', 'role', 'user')),
            target_id INTEGER NOT NULL,
            credits INTEGER NOT NULL CHECK (credits >= 0),
            period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
            set_by INTEGER,
            set_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, scope, target_id)
        )
        """,
        """
        CREATE TABLE allowed_channels (
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            added_by INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, channel_id)
        )
        """,
        """
        CREATE TABLE blocked_members (
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            reason TEXT,
            blocked_by INTEGER NOT NULL,
            blocked_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, user_id)
        )
        """,
        """
        CREATE TABLE blocked_words (
            guild_id INTEGER NOT NULL,
            word TEXT NOT NULL,
            added_by INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, word)
        )
        """,
        """
        CREATE TABLE mod_actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            guild_id INTEGER NOT NULL,
            actor_id INTEGER NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX mod_actions_guild ON mod_actions (guild_id, id)",
    ]
    for sql in statements:
        db.execute(sql)


@_migration("0002_frames")
def m0002_frames(db: SqliteUtilsDatabase) -> None:
    # First-frame images live with their job so a restart can still submit a queued run and a
    # re-roll can reuse the image; keep_until bounds how long a finished job's image stays.
    db.execute(
        """
        CREATE TABLE frames (
            job_id INTEGER PRIMARY KEY REFERENCES jobs (id),
            data BLOB NOT NULL,
            content_type TEXT NOT NULL,
            filename TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            keep_until TEXT
        )
        """
    )
    db.execute("CREATE INDEX frames_keep_until ON frames (keep_until) WHERE keep_until IS NOT NULL")


@_migration("0003_approvals")
def m0003_approvals(db: SqliteUtilsDatabase) -> None:
    # Approval queue (a server may hold members' requests for a moderator) and the budget
    # alerts already announced. approved_at on jobs: a held job's run deadline counts from it.
    statements = [
        """
        CREATE TABLE approval_settings (
            guild_id INTEGER PRIMARY KEY,
            enabled INTEGER NOT NULL,
            review_channel_id INTEGER,
            trusted_role_id INTEGER,
            set_by INTEGER,
            set_at TEXT
        )
        """,
        """
        CREATE TABLE approvals (
            job_id INTEGER PRIMARY KEY REFERENCES jobs (id),
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('waiting', 'approved', 'denied', 'expired', 'cancelled')),
            review_channel_id INTEGER NOT NULL,
            review_message_id INTEGER,
            requested_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            decided_by INTEGER,
            decided_at TEXT,
            reason TEXT
        )
        """,
        "CREATE INDEX approvals_waiting ON approvals (expires_at) WHERE status = 'waiting'",
        "CREATE INDEX approvals_guild ON approvals (guild_id, status)",
        """
        CREATE TABLE budget_alerts (
            guild_id INTEGER NOT NULL,
            month TEXT NOT NULL,
            threshold INTEGER NOT NULL,
            announced_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, month, threshold)
        )
        """,
        "ALTER TABLE jobs ADD COLUMN approved_at TEXT",
    ]
    for sql in statements:
        db.execute(sql)


@_migration("0004_studio")
def m0004_studio(db: SqliteUtilsDatabase) -> None:
    # The studio: which model ran the job (rows before this one ran Hailuo 2.3), its camera
    # moves, what was done to the image, and the message an image was animated from.
    for sql in (
        "ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT 'hailuo-2.3'",
        "ALTER TABLE jobs ADD COLUMN camera TEXT",
        "ALTER TABLE jobs ADD COLUMN image_note TEXT",
        "ALTER TABLE jobs ADD COLUMN source_url TEXT",
        # ETA and expected-cost medians are per model and setting.
        "CREATE INDEX jobs_succeeded_model_settings ON jobs"
        " (model, resolution, duration, finished_at) WHERE state = 'succeeded'",
    ):
        db.execute(sql)


@_migration("0005_extend_chains")
def m0005_extend_chains(db: SqliteUtilsDatabase) -> None:
    # Extend and Remake in 1080P. A chain is jobs linked by extends_job_id: each extension is a
    # normal job (run, credits, card) whose clip is posted stitched after the clip of the job it
    # extends; chain_seconds is the nominal length of that stitched clip (MAX_CLIP_SECONDS).
    statements = [
        "ALTER TABLE jobs ADD COLUMN extends_job_id INTEGER REFERENCES jobs (id)",
        "ALTER TABLE jobs ADD COLUMN chain_seconds INTEGER",
        "ALTER TABLE jobs ADD COLUMN remake_of INTEGER REFERENCES jobs (id)",
    ]
    for sql in statements:
        db.execute(sql)


@_migration("0006_bot_state")
def m0006_bot_state(db: SqliteUtilsDatabase) -> None:
    # Facts the bot keeps about itself: the hash of the command tree last published per target.
    db.execute(
        """
        CREATE TABLE bot_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


@_migration("0007_delivery_outage")
def m0007_delivery_outage(db: SqliteUtilsDatabase) -> None:
    # When Discord first refused a job's clip: DELIVERY_RETRY_MINUTES counts from it, also
    # after a restart (before, each start of the bot began a new window).
    db.execute("ALTER TABLE jobs ADD COLUMN delivery_unavailable_since TEXT")


@_migration("0008_frames_to_files")
def m0008_frames_to_files(db: SqliteUtilsDatabase) -> None:
    # First-frame images leave the database for files beside it (storage/frame_files.py): a
    # week of 20 MB images made the file grow by gigabytes it never gave back. Each image is
    # written out (one row in memory at a time), then the column goes; the free pages are given
    # back by the VACUUM that switches the file to auto_vacuum=INCREMENTAL when it is opened.
    # A crash before the commit leaves files that the next attempt writes again.
    main = next((row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"), "")
    if main:
        directory = frames_dir_for(Path(main))
        for job_id, data in db.conn.execute("SELECT job_id, data FROM frames"):
            write_frame(directory, job_id, bytes(data))
    db.execute("ALTER TABLE frames DROP COLUMN data")


@_migration("0009_run_window")
def m0009_run_window(db: SqliteUtilsDatabase) -> None:
    # run_sent_at: when the Run of the current submission left for Wiro (cleared on entering
    # SUBMITTING). A job found SUBMITTING at a restart without it never reached Wiro and is
    # sent again; with it and no task id, Wiro may have made (and billed) a task.
    db.execute("ALTER TABLE jobs ADD COLUMN run_sent_at TEXT")
    # A job left SUBMITTING by an older bot may have reached Wiro: never send it again.
    db.execute("UPDATE jobs SET run_sent_at = updated_at WHERE state = 'submitting'")
    # cost_is_estimate: total_cost_usd is the expected cost of such a task, counted in the
    # server's budget and usage because Wiro may have billed it, not a cost Wiro reported.
    db.execute("ALTER TABLE jobs ADD COLUMN cost_is_estimate INTEGER NOT NULL DEFAULT 0")


@_migration("0010_card_truth")
def m0010_card_truth(db: SqliteUtilsDatabase) -> None:
    # Card changes not yet shown on a job's card (0: the card is up to date). Raised with every
    # state change and render request, cleared by the edit that shows the newest; a start
    # re-renders every card still marked, so a crash never leaves a card with an old state.
    db.execute("ALTER TABLE jobs ADD COLUMN card_pending INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX jobs_card_pending ON jobs (updated_at) WHERE card_pending > 0")


@_migration("0011_studio3")
def m0011_studio3(db: SqliteUtilsDatabase) -> None:
    # Delete: who removed the clip and when (the job row stays: /jobs, usage, the audit trail).
    # Remix: the job whose clip it varies. Styles: the style's name and its text as they were
    # when the job was asked (Re-roll, Remix, Extend and Remake run the same words even after a
    # moderator edits or removes the style).
    for statement in (
        "ALTER TABLE jobs ADD COLUMN deleted_at TEXT",
        "ALTER TABLE jobs ADD COLUMN deleted_by INTEGER",
        "ALTER TABLE jobs ADD COLUMN remix_of INTEGER",
        "ALTER TABLE jobs ADD COLUMN style TEXT",
        "ALTER TABLE jobs ADD COLUMN style_prompt TEXT",
        """
        CREATE TABLE styles (
            guild_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            prompt TEXT NOT NULL,
            camera TEXT,
            model TEXT,
            resolution TEXT,
            duration INTEGER,
            added_by INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, name_key)
        )
        """,
    ):
        db.execute(statement)


@_migration("0012_animate_consent")
def m0012_animate_consent(db: SqliteUtilsDatabase) -> None:
    # Consent for Animate: the server's rule (no row: "own"), the members who refused that
    # others animate their images, and whose image a job animated (card, /jobs, audit, usage).
    for sql in (
        """
        CREATE TABLE animate_rules (
            guild_id INTEGER PRIMARY KEY,
            who TEXT NOT NULL CHECK (who IN ('own', 'anyone', 'moderators')),
            set_by INTEGER NOT NULL,
            set_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE animate_refusals (
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            refused_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, user_id)
        )
        """,
        "ALTER TABLE jobs ADD COLUMN image_author_id INTEGER",
        # The bot's own messages count as their requester's: find a job by its messages.
        "CREATE INDEX jobs_card_message ON jobs (card_message_id)",
        "CREATE INDEX jobs_result_message ON jobs (result_message_id)",
    ):
        db.execute(sql)


@_migration("0013_server_language")
def m0013_server_language(db: SqliteUtilsDatabase) -> None:
    # The language of a server's public messages, set by a moderator (no row: Discord's
    # guild_locale, else English). A Discord locale such as 'es-ES' or 'en-US'.
    db.execute(
        """
        CREATE TABLE server_languages (
            guild_id INTEGER PRIMARY KEY,
            locale TEXT NOT NULL,
            set_by INTEGER NOT NULL,
            set_at TEXT NOT NULL
        )
        """
    )


def migration_names() -> list[str]:
    """Return the names of all known migrations, in order (index + 1 is the version)."""
    return list(_names)


LATEST_VERSION = len(migration_names())


def applied_version(db: SqliteUtilsDatabase) -> int:
    """Return how many of our migrations this file has applied (its schema version)."""
    applied = [m.name for m in migrations.applied(db)]
    known = migration_names()
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise SchemaTooNew(
            f"the database has migrations this version of the bot does not know ({unknown}); "
            "upgrade the bot or restore a backup"
        )
    return len(applied)


def migrate(db: SqliteUtilsDatabase, *, target: int | None = None) -> int:
    """Apply pending migrations up to `target` (default: latest) and return the version.

    The caller holds a write transaction (BEGIN IMMEDIATE), so two processes starting at once
    cannot both run the same migration; each migration still gets its own savepoint.
    """
    current = applied_version(db)
    names = migration_names()
    target = len(names) if target is None else target
    if not 0 <= target <= len(names):
        raise ValueError(f"no schema version {target}")
    if current > target:
        raise ValueError(f"database is at version {current}, past {target}")
    if current == target:
        return current
    stop_before = names[target] if target < len(names) else None
    migrations.apply(db, stop_before=stop_before)
    version = applied_version(db)
    log.info("database schema migrated from version %d to %d", current, version)
    return version
