"""How blocked words are folded, shared by the store (what is saved) and the quota policy."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Return `text` in the form blocked words are compared in (NFKC, casefolded)."""
    # NFKC folds look-alike forms (fullwidth letters, ligatures); casefold beats lower() for ß.
    return unicodedata.normalize("NFKC", text).casefold()


def normalize_word(word: str) -> str:
    """Return the stored form of a blocked word or phrase (folded, single spaces)."""
    return " ".join(fold(word).split())
