"""The shape of the code: floors import downwards only, Discord words stay in cogs, SQL in storage.

The floors (docs/architecture.md): `storage` at the bottom, the services in `bot/` above it
(`bot/wiro` beside them, knowing neither storage nor Discord), the Discord adapters in `cogs/` on
top, and the composition root (`bot/app/video_bot.py`, `bot/__main__.py`, `bot/ops/doctor.py`) that
wires them together. These tests read the source with `ast`, so they see imports inside functions
too, and fail with the file and line that breaks a rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The entry floor may import every floor: it builds Settings, the database, the Wiro client,
# the bot and its cogs; the doctor logs in to Discord to check the token; publishing syncs the
# command tree at start-up and by `python -m bot sync`.
COMPOSITION_ROOT = {
    "bot/app/video_bot.py",
    "bot/__main__.py",
    "bot/ops/doctor.py",
    "bot/ops/publishing.py",
}
# Discord markup that only a cog should write: mentions, channel links, timestamps.
MARKUP = re.compile(r"<@[!&]?\{|<@[!&]?\d|<#\{|<#\d|<t:")
# SQL statements as this code base writes them (upper-case keywords), not English words.
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|BEGIN\s+IMMEDIATE|PRAGMA\s)"
)
# Known breaks of the markup rule, each with why it is still there. The test fails when one of
# these is fixed (so the list only shrinks) and for any new file that breaks the rule.
KNOWN_MARKUP: dict[str, str] = {}
# Files outside storage/ that may open the SQLite file: the backup copies the whole file page by
# page with sqlite3's online backup API (so it works while the bot runs) and runs two PRAGMAs on
# the copy; it reads none of the bot's tables. (It could move under storage/ one day.)
SQLITE_OUTSIDE_STORAGE = {"bot/ops/backup.py"}


def sources(*folders: str) -> Iterator[tuple[str, ast.Module]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)


def imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module a file imports (absolute names), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every string literal, f-strings as their literal parts joined with {} for the holes."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                for v in node.values
            )
            yield node.lineno, text
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def forbidden_imports(rel: str) -> tuple[str, ...]:
    """The packages a file may not import, by its floor."""
    if rel.startswith("storage/"):
        return ("bot", "cogs", "discord")
    if rel.startswith("bot/wiro/"):
        return (
            "storage",
            "cogs",
            "discord",
            "bot.jobs.service",
            "bot.app.video_bot",
            "bot.governance.admission",
        )
    if rel in COMPOSITION_ROOT:
        return ()
    if rel.startswith("bot/"):
        return ("cogs", "discord")
    return ()


def floor_breaks() -> list[str]:
    found = []
    for rel, tree in sources("storage", "bot", "cogs"):
        banned = forbidden_imports(rel)
        for line, name in imports(tree):
            if banned and _under(name, *banned):
                found.append(f"{rel}:{line} imports {name}")
    return found


def test_lower_floors_never_import_higher_ones() -> None:
    assert floor_breaks() == []


def test_the_floor_rules_catch_a_break() -> None:
    """The checker itself: a storage module importing a service would be reported."""
    tree = ast.parse("def f():\n    from bot.jobs.service import JobService\n")
    names = [name for _, name in imports(tree)]
    assert any(_under(n, *forbidden_imports("storage/x.py")) for n in names)
    assert forbidden_imports("bot/jobs/service.py") == ("cogs", "discord")
    assert not forbidden_imports("bot/app/video_bot.py")


def markup_in(rel: str, tree: ast.Module) -> list[str]:
    return [f"{rel}:{line} {text[:60]!r}" for line, text in strings(tree) if MARKUP.search(text)]


def test_bot_writes_no_discord_markup() -> None:
    found: dict[str, list[str]] = {}
    for rel, tree in sources("bot", "storage"):
        hits = markup_in(rel, tree)
        if hits:
            found[rel] = hits
    new = {rel: hits for rel, hits in found.items() if rel not in KNOWN_MARKUP}
    assert new == {}, "Discord markup belongs in cogs (cogs/words.py: user, channel, when)"
    fixed = sorted(set(KNOWN_MARKUP) - set(found))
    assert fixed == [], f"no markup left in {fixed}: remove them from KNOWN_MARKUP"


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ('x = f"<@{user_id}> did it"', True),
        ('x = f"see <#{channel}>"', True),
        ('x = f"resets <t:{int(when.timestamp())}:R>"', True),
        ('x = "role <@&123>"', True),
        ('x = "a <b> tag and an @ sign"', False),
    ],
)
def test_the_markup_rule_catches_mentions_and_timestamps(source: str, caught: bool) -> None:
    assert bool(markup_in("bot/x.py", ast.parse(source))) is caught


def test_sql_stays_in_storage() -> None:
    found = []
    for rel, tree in sources("bot", "cogs"):
        if rel in SQLITE_OUTSIDE_STORAGE:
            continue
        found += [f"{rel}:{line} {t[:60]!r}" for line, t in strings(tree) if SQL.search(t)]
        found += [
            f"{rel}:{line} imports {name}"
            for line, name in imports(tree)
            if _under(name, "sqlite3", "sqlite_utils")
        ]
    assert found == []


@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("SELECT * FROM jobs WHERE id = ?", True),
        ("INSERT OR IGNORE INTO ledger (a) VALUES (?)", True),
        ("UPDATE jobs SET state = ?", True),
        ("DELETE FROM frames", True),
        ("Select a channel from the list", False),
        ("update the card", False),
    ],
)
def test_the_sql_rule_catches_statements_not_words(text: str, caught: bool) -> None:
    assert bool(SQL.search(text)) is caught
