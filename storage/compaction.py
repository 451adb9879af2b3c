"""Keeping the database file compact: it gives back the pages of deleted rows.

SQLite never shrinks a file by itself: deleted rows leave free pages that only new rows reuse.
With `auto_vacuum = INCREMENTAL` the free pages can be handed back to the file system at any
time (`PRAGMA incremental_vacuum`), cheaply and without rewriting the file. Switching an existing
file to it takes one full `VACUUM`, done once when the bot opens a file that is not yet in that
mode (new files are switched before their first table, so the VACUUM is instant).
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
# Give pages back once this many are free (4 MiB at SQLite's default 4 KiB page): below that the
# file is left alone, since new rows reuse free pages anyway.
RECLAIM_AT_PAGES = 1024


def enable_incremental_vacuum(conn: sqlite3.Connection) -> bool:
    """Put the file in auto_vacuum=INCREMENTAL (one VACUUM the first time); True when it is.

    A VACUUM needs free disk about the size of the live data and no other reader: when it
    cannot run now (a full disk, another connection) the file keeps working as it is and the
    next start tries again."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
        return True
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    try:
        conn.execute("VACUUM")
    except sqlite3.Error as exc:
        log.warning("could not compact the database now (tried again at the next start): %s", exc)
        return False
    log.info("database switched to incremental vacuum (free pages are given back)")
    return True


def reclaim_free_pages(conn: sqlite3.Connection, *, at_least: int = RECLAIM_AT_PAGES) -> int:
    """Give free pages back to the file system when there are many; return how many were free.

    In WAL mode the file itself shrinks at the next checkpoint."""
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    if free < at_least:
        return 0
    # executescript steps the pragma to the end; execute() would free a single page.
    conn.executescript("PRAGMA incremental_vacuum;")
    return free
