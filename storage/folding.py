"""How blocked words are folded, shared by the store (what is saved) and the quota policy."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Return `text` in the form blocked words are compared in (NFKC, casefolded, no
    invisible format characters)."""
    # Zero-width spaces and joiners, soft hyphens and the like (category Cf) would otherwise
    # split a blocked word invisibly: "bad\u200bword" reads as "badword".
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    # NFKC folds look-alike forms (fullwidth letters, ligatures); casefold beats lower() for ß.
    return unicodedata.normalize("NFKC", visible).casefold()


def normalize_word(word: str) -> str:
    """Return the stored form of a blocked word or phrase (folded, single spaces)."""
    return " ".join(fold(word).split())
