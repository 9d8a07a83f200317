"""Evidence snippet: the sentence around the best hit, in the original spelling, hits marked ⟦ ⟧."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from worker.matching.results import Hit
from worker.matching.sentences import is_abbreviation_dot

OPEN, CLOSE = "⟦", "⟧"
MAX_SIDE = 160


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
    left = last_stop_end(text, max(0, start - MAX_SIDE * 2), start)
    right = first_stop_end(text, end)
    if start - left > MAX_SIDE:
        cut = text.find(" ", start - MAX_SIDE, start)
        left = cut + 1 if cut >= 0 else start - MAX_SIDE
    if right - end > MAX_SIDE:
        cut = text.rfind(" ", end, end + MAX_SIDE)
        right = cut if cut >= 0 else end + MAX_SIDE
    return left, right


# The first candidate stop is found by one regex that begins with a character set (the engine skips
# to it in a C loop); an abbreviation dot (``sentences.is_abbreviation_dot``) is passed over.
_NEXT_END = re.compile(r"[.!?؟…\n](?:(?<=\n)|(?=\s))")
_LAST_END = re.compile(r"(?s:.*)[.!?؟…\n](?:(?<=\n)|(?=\s))")  # greedy: the last candidate


def last_stop_end(text: str, lo: int, hi: int) -> int:
    """End of the last sentence stop in ``text[lo:hi]`` (the lookahead may not look past ``hi``),
    or 0 when there is none."""
    while True:
        found = _LAST_END.match(text, lo, hi)
        if found is None:
            return 0
        stop = found.end() - 1
        if text[stop] != "." or not is_abbreviation_dot(text, stop):
            return found.end()
        hi = stop


def first_stop_end(text: str, lo: int) -> int:
    """End of the first sentence stop at or after ``lo``, or ``len(text)``."""
    found = _NEXT_END.search(text, lo)
    while found is not None and text[found.start()] == "." and is_abbreviation_dot(text, found.start()):
        found = _NEXT_END.search(text, found.end())
    return found.end() if found else len(text)


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
    body = _squeeze("".join(pieces))
    # An ellipsis where the cut is not at a sentence end (after a stop or a line break, or
    # before a line break).
    if left > 0 and text[left - 1] not in _ENDERS and text[left:left + 1] != "\n":
        body = "…" + body
    if right < len(text) and text[right] != "\n" and not (right > 0 and text[right - 1] in _ENDERS):
        body += "…"
    return body


def _squeeze(body: str) -> str:
    """``" ".join(body.split())``: whitespace runs made one space, the ends stripped."""
    # Most sentences hold no whitespace but single spaces (and perhaps a final line break): then
    # stripping the ends is the whole job, found by two C scans instead of a split and a join.
    # A printable string holds no whitespace but " " (every other one is of category Z* or C*).
    core = body[:-1] if body.endswith("\n") else body
    if core.isprintable() and "  " not in core:
        return core.strip(" ")
    return " ".join(body.split())


_ENDERS = frozenset(".!?؟…\n")
