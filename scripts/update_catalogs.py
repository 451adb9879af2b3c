"""Bring the message catalogs up to date with the code, in one command.

    .venv/bin/python scripts/update_catalogs.py            (README: "Adding a language")

1. extracts every sentence marked in `bot/` and `cogs/` (`i18n.gettext`, `ngettext`, `pgettext`,
   `Text`, `plural_text`) and every string of the slash-command tree
   (`scripts/command_strings.py`) into the English template `bot/locales/messages.pot`;
2. updates each language's `messages.po` from it: new sentences come in untranslated (empty, so
   they read in English until translated), sentences gone from the code are dropped, the
   translations already made are kept;
3. prints, per language, how many sentences still want a translation.

`tests/test_i18n.py` then checks that every catalog is complete, with the same placeholders.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.extract import extract_from_dir  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

from bot import i18n  # noqa: E402
from scripts.command_strings import full_tree, tree_strings  # noqa: E402

TEMPLATE = i18n.LOCALES_DIR / "messages.pot"
WIDTH = 100
# The functions that mark a sentence, and which of their arguments are the English words.
KEYWORDS: dict[str, tuple[int | tuple[int, str], ...]] = {
    name: spec
    for prefix in ("", "i18n.")
    for name, spec in (
        (f"{prefix}gettext", (2,)),
        (f"{prefix}ngettext", (2, 3)),
        (f"{prefix}pgettext", ((2, "c"), 3)),
        (f"{prefix}Text", (1,)),
        (f"{prefix}plural_text", (1, 2)),
    )
}


def extract() -> Catalog:
    """The English template: the code's sentences, then the command tree's strings."""
    template = Catalog(fuzzy=False, project="hailuo-video-bot")
    for folder in ("bot", "cogs"):
        for path, lineno, message, comments, context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
        ):
            where = (f"{folder}/{path}", lineno)
            template.add(message, locations=[where], auto_comments=comments, context=context)
    for context, text in asyncio.run(tree_strings(full_tree())):
        template.add(text, context=context)
    return template


def update(template: Catalog) -> dict[str, int]:
    """Update every language's catalog from the template; return what each still lacks."""
    missing: dict[str, int] = {}
    for folder in sorted(p for p in i18n.LOCALES_DIR.iterdir() if p.is_dir()):
        path = i18n.po_path(folder.name)
        with path.open("rb") as fp:
            catalog = read_po(fp, locale=folder.name)
        created = catalog.creation_date  # kept, so a run that changes nothing changes no file
        catalog.update(template, no_fuzzy_matching=True)
        catalog.creation_date = created
        catalog.obsolete.clear()
        with path.open("wb") as fp:
            write_po(fp, catalog, width=WIDTH, include_previous=False)
        missing[folder.name] = sum(
            1
            for m in catalog
            if m.id and (not all(m.string) if isinstance(m.string, tuple) else not m.string)
        )
    return missing


def main() -> None:
    template = extract()
    with TEMPLATE.open("wb") as fp:
        write_po(fp, template, omit_header=True, width=WIDTH)
    print(f"{len(template)} sentences in {TEMPLATE.relative_to(ROOT)}")
    for name, count in update(template).items():
        print(f"  {name}: {count} to translate")


if __name__ == "__main__":
    main()
