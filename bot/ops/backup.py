"""`python -m bot backup [DEST]`: a consistent copy of the bot's SQLite file, taken while it runs.

Uses SQLite's online backup API, which copies the database page by page under SQLite's own
locking, so the copy is consistent even while the bot writes (WAL mode: the bot is never
blocked). The copy is a single self-contained file (journal mode DELETE), mode 0600, because it
holds the same data as the original: never world-readable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

DEFAULT_BACKUP_DIR = Path("data/backups")
DEFAULT_DATABASE_PATH = Path("data/bot.sqlite3")
# Pages copied per step: small steps let the bot's writes interleave with a long backup.
PAGES_PER_STEP = 1024


class BackupError(Exception):
    """The backup could not be made; the message says why in plain words."""


class _DatabasePathOnly(BaseSettings):
    """DATABASE_PATH alone, so a backup needs no Discord token or Wiro keys."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=False, extra="ignore"
    )
    database_path: Path = DEFAULT_DATABASE_PATH


def configured_database_path(env_file: str | Path | None = ".env") -> Path:
    """Return DATABASE_PATH from the full Settings, else from the environment/.env alone."""
    from bot.settings import ConfigError, load_settings

    try:
        return load_settings(env_file).database_path
    except ConfigError:
        # Other variables are missing or invalid; the backup does not need them.
        return _DatabasePathOnly(_env_file=env_file).database_path


def _timestamped(directory: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = directory / f"bot-{stamp}.sqlite3"
    counter = 1
    while candidate.exists():
        candidate = directory / f"bot-{stamp}-{counter}.sqlite3"
        counter += 1
    return candidate


def _backup_sync(src: Path, dest: Path) -> Path:
    if not src.is_file():
        raise BackupError(f"there is no database at {src} (check DATABASE_PATH)")
    if dest.is_dir():
        dest = _timestamped(dest)
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose another name or a directory")
    if dest.resolve() == src.resolve():
        raise BackupError("the backup cannot be the database itself")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Claim the name with O_EXCL and mode 0600: the copy never exists with wider permissions,
    # and two backups racing for one name cannot overwrite each other.
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{dest} already exists; choose another name or a directory") from None
    os.close(fd)
    os.chmod(dest, 0o600)  # in case the umask narrowed nothing but a filesystem widened it
    try:
        # Read-only: a backup must never create or migrate the source.
        source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(dest)
            try:
                source.backup(target, pages=PAGES_PER_STEP)
                # The copy inherits WAL mode; make it one file that can be moved on its own.
                target.execute("PRAGMA journal_mode = DELETE")
                check = target.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"the copy failed its integrity check: {check}")
            finally:
                target.close()
        finally:
            source.close()
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error):
            raise BackupError(f"SQLite could not copy {src}: {exc}") from exc
        raise
    return dest


async def backup_database(src: Path, dest: Path) -> Path:
    """Copy the live database at src to dest (a new file, or a directory); return the file."""
    result = await asyncio.to_thread(_backup_sync, Path(src), Path(dest))
    log.info("backed up %s to %s", src, result)
    return result


def run_backup(dest: str | None) -> int:
    """Back up DATABASE_PATH to dest (default data/backups/); print the result; 0 or 1."""
    import sys

    src = configured_database_path()
    target = DEFAULT_BACKUP_DIR if dest is None else Path(dest)
    try:
        if not src.is_file():
            raise BackupError(f"there is no database at {src} (check DATABASE_PATH)")
        # The default, and "backups/", name a directory even before it exists.
        if dest is None or dest.endswith(("/", os.sep)):
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
        written = asyncio.run(backup_database(src, target))
    except BackupError as exc:
        print(f"✗ Backup failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"✗ Backup failed: {exc.strerror or exc} ({exc.filename or target})", file=sys.stderr)
        return 1
    size = written.stat().st_size
    print(f"✓ Backed up {src} to {written} ({size / 1024:.0f} KiB)")
    return 0
