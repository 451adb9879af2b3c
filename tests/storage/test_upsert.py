"""storage.sqlite.upsert: one statement that inserts a row or updates only the given values."""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase

from storage.sqlite import upsert


def table() -> SqliteUtilsDatabase:
    db = SqliteUtilsDatabase(memory=True)
    db.execute(
        "CREATE TABLE picks (guild_id INTEGER, user_id INTEGER, choice TEXT, note TEXT,"
        " set_at TEXT, PRIMARY KEY (guild_id, user_id))"
    )
    return db


def rows(db: SqliteUtilsDatabase) -> list[dict[str, object]]:
    return list(db.query("SELECT * FROM picks ORDER BY guild_id, user_id"))


def test_inserts_then_updates_only_the_values_under_the_same_key() -> None:
    db = table()
    upsert(db, "picks", {"guild_id": 1, "user_id": 2}, {"choice": "a", "note": "first"})
    upsert(db, "picks", {"guild_id": 1, "user_id": 3}, {"choice": "b", "note": None})
    upsert(db, "picks", {"guild_id": 1, "user_id": 2}, {"choice": "c", "set_at": "now"})

    assert rows(db) == [
        # `note` was not among the values of the second write: it keeps what it had.
        {"guild_id": 1, "user_id": 2, "choice": "c", "note": "first", "set_at": "now"},
        {"guild_id": 1, "user_id": 3, "choice": "b", "note": None, "set_at": None},
    ]


def test_a_value_of_none_clears_the_column() -> None:
    db = table()
    upsert(db, "picks", {"guild_id": 1, "user_id": 2}, {"choice": "a", "note": "kept until"})
    upsert(db, "picks", {"guild_id": 1, "user_id": 2}, {"note": None})

    assert rows(db) == [{"guild_id": 1, "user_id": 2, "choice": "a", "note": None, "set_at": None}]
