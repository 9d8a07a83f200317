"""Evidence snippet: the sentence around the best hit, in the original spelling, hits marked ⟦ ⟧."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from worker.matching.results import Hit

OPEN, CLOSE = "⟦", "⟧"
MAX_SIDE = 160
_SENTENCE_END = re.compile(r"[.!?؟…](?=\s)|\n")


def best_hit(hits: Sequence[Hit]) -> Hit:
    """The highest-weight hit; ties go to the one with the most other hits within 120 characters,
    then the earliest. ``hits`` must be sorted by start."""
    top = max(h.weight for h in hits)
    best = [h for h in hits if h.weight == top]
    if len(best) == 1:
        return best[0]
    starts = [h.start for h in hits]

    def key(hit: Hit) -> tuple[int, int]:
        return (bisect_right(starts, hit.start + 120) - bisect_left(starts, hit.start - 120), -hit.start)
    return max(best, key=key)


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """``(left, right)`` of the snippet around the hit ``text[start:end]``: its sentence, cut to
    at most ~MAX_SIDE characters either side."""
    left = 0
    for stop in _SENTENCE_END.finditer(text, max(0, start - MAX_SIDE * 2), start):
        left = stop.end()
    after = _SENTENCE_END.search(text, end)
    right = after.end() if after else len(text)
    if start - left > MAX_SIDE:
        cut = text.find(" ", start - MAX_SIDE, start)
        left = cut + 1 if cut >= 0 else start - MAX_SIDE
    if right - end > MAX_SIDE:
        cut = text.rfind(" ", end, end + MAX_SIDE)
        right = cut if cut >= 0 else end + MAX_SIDE
    return left, right


def make_snippet(text: str, hits: Sequence[Hit], bounds: tuple[int, int] | None = None) -> str:
    """Sentence (at most ~160 characters either side) around the best hit, every hit inside marked;
    an ellipsis shows where the sentence was cut. ``hits`` must be sorted by start; ``bounds`` may
    pass the best hit's ``sentence_bounds`` when the caller has them."""
    if not hits:
        return ""
    if bounds is None:
        best = best_hit(hits)
        bounds = sentence_bounds(text, best.start, best.end)
    left, right = bounds
    pieces: list[str] = []
    cursor = left
    for hit in hits:
        if hit.start < cursor or hit.end > right:
            continue
        pieces += [text[cursor:hit.start], OPEN, text[hit.start:hit.end], CLOSE]
        cursor = hit.end
    pieces.append(text[cursor:right])
    body = " ".join("".join(pieces).split())
    prefix = "…" if left > 0 and text[left - 1] not in "\n" and not _ends_sentence(text, left) else ""
    suffix = "…" if right < len(text) and not _ends_sentence(text, right) else ""
    return prefix + body + suffix


def _ends_sentence(text: str, pos: int) -> bool:
    before = text[max(0, pos - 1):pos]
    return before in {".", "!", "?", "؟", "…", "\n"} or text[pos:pos + 1] == "\n"
