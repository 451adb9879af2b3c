"""The shape of the code: which folder may import which, Discord words in cogs, SQL in storage.

The folders (docs/architecture.md): `storage` at the bottom; `bot/wiro` (the Wiro client and
simulator) and `bot/media` (images and video) beside it, knowing neither storage, Discord nor
the services; the rules of a server (`bot/governance`) and the job lifecycle (`bot/jobs`) above
them; the operator tools (`bot/ops`) and the composition root (`bot/app`, `bot/__main__.py`) on
top of the services; and the Discord adapters in `cogs/`. These tests read the source with
`ast`, so they see imports inside functions too, and fail with the file and line that breaks a
rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The small shared kernel every service may use: settings, logging, background tasks, the
# model table, camera moves, the permission list, the timing. They import none of the folders
# below.
KERNEL = (
    "bot.settings",
    "bot.logs",
    "bot.background",
    "bot.catalogue",
    "bot.camera",
    "bot.permissions",
    "bot.timing",
    "bot.i18n",
)
# What each part may import of the project (and of discord.py), besides itself. A module falls
# under the longest name here that contains it. Third-party libraries other than discord.py are
# not this test's business.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "storage": (),
    "bot.wiro": ("bot.logs",),
    "bot.media": ("bot.logs", "bot.background", "bot.i18n"),
    "bot.governance": (*KERNEL, "storage", "bot.wiro", "bot.jobs.contracts"),
    "bot.jobs": (*KERNEL, "storage", "bot.wiro", "bot.media", "bot.governance"),
    "bot.ops": (*KERNEL, "storage", "bot.wiro", "bot.app", "discord"),
    # The composition root builds everything and loads the cogs by name.
    "bot.app": (*KERNEL, "storage", "bot.wiro", "bot.jobs", "bot.governance", "bot.ops", "discord"),
    "bot.__main__": (*KERNEL, "storage", "bot.wiro", "bot.app", "bot.ops", "discord"),
    "bot": KERNEL,
    # Discord adapters: everything but the composition root (VideoBot only for typing).
    "cogs": ("bot", "storage", "discord"),
}
PROJECT = ("bot", "cogs", "storage", "discord")
# Known breaks of a folder rule, each with why it is still there. The test fails when one of
# these is fixed (so the list only shrinks) and for any new break.
KNOWN_BREAKS: dict[str, str] = {}
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


def module_of(rel: str) -> str:
    """bot/jobs/service.py -> bot.jobs.service (a package's __init__ is the package)."""
    parts = list(Path(rel).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The MAY_IMPORT key a module falls under (the longest that contains it)."""
    keys = [k for k in MAY_IMPORT if _under(module, k)]
    return max(keys, key=len)


def breaks_of(rel: str, tree: ast.Module) -> list[str]:
    """The imports of one file that its part may not make."""
    module = module_of(rel)
    part = part_of(module)
    allowed = MAY_IMPORT[part]
    found = []
    for line, name in imports(tree):
        own = module if part == "bot" else part  # a kernel module is a part of its own
        if not _under(name, *PROJECT) or _under(name, own) or _under(name, *allowed):
            continue
        if name in ("bot", "cogs", "storage"):
            continue  # `from bot import camera`: judged by its `bot.camera` entry
        found.append((line, name))
    return [f"{rel}:{line} imports {name}" for line, name in found]


def folder_breaks() -> dict[str, list[str]]:
    """Each break of a folder rule, grouped as 'FILE imports TOP' (see KNOWN_BREAKS)."""
    grouped: dict[str, list[str]] = {}
    for rel, tree in sources("storage", "bot", "cogs"):
        for hit in breaks_of(rel, tree):
            name = hit.rsplit(" imports ", 1)[1]
            top = ".".join(name.split(".")[: 2 if name.startswith("bot.") else 1])
            grouped.setdefault(f"{rel} imports {top}", []).append(hit)
    return grouped


def test_each_folder_imports_only_what_its_rule_allows() -> None:
    found = folder_breaks()
    new = {key: hits for key, hits in found.items() if key not in KNOWN_BREAKS}
    assert new == {}, "see MAY_IMPORT and docs/architecture.md"
    fixed = sorted(set(KNOWN_BREAKS) - set(found))
    assert fixed == [], f"fixed: remove {fixed} from KNOWN_BREAKS"


@pytest.mark.parametrize(
    ("rel", "source", "caught"),
    [
        ("storage/x.py", "def f():\n    from bot.jobs.service import JobService\n", True),
        ("bot/wiro/x.py", "from storage.db import Database\n", True),
        ("bot/wiro/x.py", "import discord\n", True),
        ("bot/media/video/x.py", "from bot.jobs.contracts import Refused\n", True),
        ("bot/governance/x.py", "from bot.jobs.service import JobService\n", True),
        ("bot/governance/x.py", "from bot.jobs.contracts import Refused\n", False),
        ("bot/jobs/x.py", "from cogs.words import plural\n", True),
        ("bot/jobs/x.py", "from bot.governance.quota import run_cost\n", False),
        ("bot/catalogue.py", "from bot.jobs.service import JobService\n", True),
        ("cogs/x.py", "from bot.jobs.contracts import Refused\n", False),
        ("bot/ops/x.py", "import discord\n", False),
    ],
)
def test_the_folder_rules_catch_a_break(rel: str, source: str, caught: bool) -> None:
    assert bool(breaks_of(rel, ast.parse(source))) is caught


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


def private_reaches(rel: str, tree: ast.Module) -> list[str]:
    """`obj._name` where `_name` is not defined in this file: a private attribute of a class of
    another file (composition, not shared private state: style.md). Third-party privates that a
    file must reach are listed in THIRD_PARTY_PRIVATES."""
    defined = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
    }
    defined |= {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    defined |= {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") or node.attr in defined:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        if (rel, node.attr) in THIRD_PARTY_PRIVATES:
            continue
        found.append(f"{rel}:{node.lineno} reaches .{node.attr}")
    return found


# aiohttp's test-server site keeps its listening socket private; the simulator reads its port.
THIRD_PARTY_PRIVATES = {("bot/wiro/simulator/server.py", "_server")}


def test_no_private_attribute_of_another_file_is_used() -> None:
    found = [
        hit for rel, tree in sources("bot", "cogs", "storage") for hit in private_reaches(rel, tree)
    ]
    assert found == []


def test_the_private_rule_catches_a_reach() -> None:
    assert private_reaches("bot/x.py", ast.parse("def f(c):\n    return c._hub\n"))
    assert not private_reaches(
        "bot/x.py", ast.parse("class A:\n    def f(self):\n        return self._hub\n")
    )


MAX_MODULE_LINES = 500


def test_no_module_of_the_product_is_over_500_lines() -> None:
    # A module that outgrows this has more than one thing to say: split it by meaning.
    long = {
        str(path.relative_to(ROOT)): n
        for folder in ("bot", "cogs", "storage")
        for path in (ROOT / folder).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
