-- Schema version 1 of the bot's database, frozen as shipped (migration 0001_initial).
-- Never regenerate: tests migrate this file forward and compare with a fresh database.
BEGIN TRANSACTION;
CREATE TABLE "_sqlite_migrations" (
   "id" INTEGER PRIMARY KEY,
   "migration_set" TEXT,
   "name" TEXT,
   "applied_at" TEXT
);
INSERT INTO "_sqlite_migrations" VALUES(1,'hailuo-bot','0001_initial','2026-11-26 17:32:13.049810+00:00');
CREATE TABLE allowed_channels (
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            added_by INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, channel_id)
        );
CREATE TABLE blocked_members (
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            reason TEXT,
            blocked_by INTEGER NOT NULL,
            blocked_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, user_id)
        );
CREATE TABLE blocked_words (
            guild_id INTEGER NOT NULL,
            word TEXT NOT NULL,
            added_by INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, word)
        );
CREATE TABLE guild_settings (
            guild_id INTEGER PRIMARY KEY,
            mod_role_id INTEGER,
            paused INTEGER NOT NULL DEFAULT 0,
            pause_reason TEXT,
            monthly_budget_usd REAL CHECK (monthly_budget_usd IS NULL OR monthly_budget_usd >= 0),
            audit_channel_id INTEGER,
            updated_at TEXT NOT NULL
        );
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
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'waiting', 'submitting', 'running', 'delivering', 'succeeded', 'failed', 'cancelled', 'timed_out')),
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
        );
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
        );
CREATE TABLE limits (
            guild_id INTEGER NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('server', 'role', 'user')),
            target_id INTEGER NOT NULL,
            credits INTEGER NOT NULL CHECK (credits >= 0),
            period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
            set_by INTEGER,
            set_at TEXT NOT NULL,
            PRIMARY KEY (guild_id, scope, target_id)
        );
CREATE TABLE mod_actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            guild_id INTEGER NOT NULL,
            actor_id INTEGER NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name");
CREATE INDEX jobs_in_flight ON jobs (created_at) WHERE state IN ('pending', 'waiting', 'submitting', 'running', 'delivering');
CREATE INDEX jobs_in_flight_guild ON jobs (guild_id, created_at) WHERE state IN ('pending', 'waiting', 'submitting', 'running', 'delivering');
CREATE INDEX jobs_in_flight_member ON jobs (guild_id, user_id) WHERE state IN ('pending', 'waiting', 'submitting', 'running', 'delivering');
CREATE INDEX jobs_member_created ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
CREATE INDEX jobs_guild_finished ON jobs (guild_id, finished_at) WHERE total_cost_usd IS NOT NULL;
CREATE INDEX jobs_succeeded_settings ON jobs (resolution, duration, finished_at) WHERE state = 'succeeded';
CREATE INDEX ledger_member_created ON ledger (guild_id, user_id, created_at);
CREATE INDEX mod_actions_guild ON mod_actions (guild_id, id);
DELETE FROM "sqlite_sequence";
COMMIT;
