"""Evidence snippet: the sentence around the best hit, in the original spelling, hits marked ⟦ ⟧."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from worker.matching.results import Hit

OPEN, CLOSE = "⟦", "⟧"
MAX_SIDE = 160
_SENTENCE_END = re.compile(r"[.!?؟…](?=\s)|\n")  # what the two functions below find
_STOPS = ".!?؟…"


def best_hit(hits: Sequence[Hit]) -> Hit:
    """The highest-weight hit; ties go to the one with the most other hits within 120 characters,
    then the earliest. ``hits`` must be sorted by start."""
    best = hits[0]
    top = best.weight
    tied = False
    for hit in hits:
        weight = hit.weight
        if weight > top:
            best, top, tied = hit, weight, False
        elif weight == top and hit is not best:
            tied = True
    if not tied:
        return best
    starts = [h.start for h in hits]

    def key(hit: Hit) -> tuple[int, int]:
        return (bisect_right(starts, hit.start + 120) - bisect_left(starts, hit.start - 120), -hit.start)
    return max((h for h in hits if h.weight == top), key=key)


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """``(left, right)`` of the snippet around the hit ``text[start:end]``: its sentence, cut to
    at most ~MAX_SIDE characters either side."""
    left = _last_stop_end(text, max(0, start - MAX_SIDE * 2), start)
    right = _first_stop_end(text, end)
    if start - left > MAX_SIDE:
        cut = text.find(" ", start - MAX_SIDE, start)
        left = cut + 1 if cut >= 0 else start - MAX_SIDE
    if right - end > MAX_SIDE:
        cut = text.rfind(" ", end, end + MAX_SIDE)
        right = cut if cut >= 0 else end + MAX_SIDE
    return left, right


# Sentence ends are found with str.find/rfind (C loops over one character) rather than the regex:
# the regex tries its alternation at every position of the window, ~5x slower per snippet.

def _last_stop_end(text: str, lo: int, hi: int) -> int:
    """``end()`` of the last ``_SENTENCE_END`` match in ``text[lo:hi]`` (the lookahead may not
    look past ``hi``), or 0 when there is none."""
    best = text.rfind("\n", lo, hi) + 1
    for stop in _STOPS:
        limit = hi - 1
        while limit > lo:  # str.rfind reads a negative end from the back of the text
            pos = text.rfind(stop, max(lo, best), limit)
            if pos < 0:
                break
            if text[pos + 1].isspace():
                best = pos + 1
                break
            limit = pos
    return best


def _first_stop_end(text: str, lo: int) -> int:
    """``end()`` of the first ``_SENTENCE_END`` match at or after ``lo``, or ``len(text)``."""
    newline = text.find("\n", lo)
    best = newline + 1 if newline >= 0 else len(text)
    for stop in _STOPS:
        start = lo
        while start < best - 1:
            pos = text.find(stop, start, best - 1)
            if pos < 0:
                break
            if text[pos + 1].isspace():
                best = pos + 1
                break
            start = pos + 1
    return best


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
    append = pieces.append
    cursor = left
    for hit in hits:
        start, end = hit.start, hit.end
        if start >= right:  # sorted by start: no later hit fits either
            break
        if start < cursor or end > right:
            continue
        append(text[cursor:start])
        append(OPEN)
        append(text[start:end])
        append(CLOSE)
        cursor = end
    append(text[cursor:right])
    body = " ".join("".join(pieces).split())
    prefix = "…" if left > 0 and text[left - 1] != "\n" and not _ends_sentence(text, left) else ""
    suffix = "…" if right < len(text) and not _ends_sentence(text, right) else ""
    return prefix + body + suffix


def _ends_sentence(text: str, pos: int) -> bool:
    return (pos > 0 and text[pos - 1] in _ENDERS) or text[pos:pos + 1] == "\n"


_ENDERS = frozenset(".!?؟…\n")
