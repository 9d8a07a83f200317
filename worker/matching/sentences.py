"""Sentence ends in news text: ``. ! ? ؟ …`` before a space or line break, and every line break,
but not the dot of an abbreviation (``Mr.``, ``Gen.``, ``U.S.``, an initial such as ``J.`` or
``د.``) nor a decimal point. The abbreviation list is data (``data/abbreviations.txt``).

Works on original or normalised text alike (the abbreviation check is case-insensitive).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

_STOP_RE = re.compile(r"[.!?؟…](?=\s)|\n")
_LONGEST = 8
_INITIALS_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]?")  # U.S / u.n / d.c / J (dot stripped below)


@lru_cache(maxsize=1)
def abbreviations() -> frozenset[str]:
    """The shipped abbreviations (lower case, no final dot)."""
    text = resources.files("worker.matching").joinpath("data/abbreviations.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def is_abbreviation_dot(text: str, dot: int) -> bool:
    """True when the ``.`` at ``text[dot]`` closes an abbreviation or an initial, not a sentence."""
    begin = dot
    while begin > 0 and not text[begin - 1].isspace() and text[begin - 1] not in "\"'(«":
        begin -= 1
        if dot - begin > _LONGEST:  # longer than any abbreviation or initials run
            return False
    token = text[begin:dot]
    if not token:
        return False
    if len(token) == 1:
        return token.isalpha()
    if _INITIALS_RE.fullmatch(token + "."):
        return True
    return token.lower() in abbreviations()


def sentence_stops(text: str, lo: int = 0, hi: int | None = None) -> Iterator[int]:
    """``end()`` of each sentence stop in ``text[lo:hi]``, in order (see the module docstring)."""
    found = _STOP_RE.finditer(text, lo) if hi is None else _STOP_RE.finditer(text, lo, hi)
    for m in found:
        if text[m.start()] == "." and is_abbreviation_dot(text, m.start()):
            continue
        yield m.end()
