"""What letter case says about a Latin hit: nothing inside all-caps text, and a capitalised
metonym opening a line before ``(``, a comma or a dash is a dateline (the filing city)."""

from __future__ import annotations

import re

_LATIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z.'-]*[A-Za-z]")  # two letters or more
ALL_CAPS_SHARE = 0.75
ALL_CAPS_WINDOW = 60


def all_caps_around(text: str, start: int, end: int) -> bool:
    """True when most Latin words (at least two, of two or more letters) around ``text[start:end]``
    on its line (``ALL_CAPS_WINDOW`` characters either side), the hit itself left out, are written
    in capitals."""
    line_start = max(text.rfind("\n", 0, start) + 1, start - ALL_CAPS_WINDOW)
    line_end = text.find("\n", end, end + ALL_CAPS_WINDOW)
    line_end = min(len(text), end + ALL_CAPS_WINDOW) if line_end < 0 else line_end
    words = _LATIN_WORD_RE.findall(text[line_start:start] + " " + text[end:line_end])
    if len(words) < 2:
        return False
    return sum(1 for w in words if w.isupper()) >= ALL_CAPS_SHARE * len(words)


_DATELINE_TAIL_RE = re.compile(r"\s*(?:\(|,|:|[-–—])")


def is_dateline(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` is written in capitals at the start of a line (or after
    another capitalised word of the dateline) and followed by ``(``, a comma, a colon or a dash:
    ``WASHINGTON (AP) —``, ``MOSCOW, Jan 5 -``."""
    word = text[start:end]
    if not word.isupper() or not _DATELINE_TAIL_RE.match(text, end):
        return False
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start].strip()
    return not before or before.isupper()
