"""Aboutness score of a watch over one article.

Only the rule's subject hits score; context operands qualify the match but add nothing. Each hit
weighs its term weight (strong 1.0, generated variant 0.8, weak/metonym 0.5) times a position
factor: ×2 in the title, ×1.5 in the lead, then from ×1.0 down to ×0.7 at the end of the body.
Repeats of the same term are damped: the best hit counts in full, the i-th repeat adds
``0.5 · w / i``; distinct terms each count in full. Hits bunched in few passages (groups of
subject hits less than 15 words apart; the title is a passage of its own) are discounted: one
passage ×0.4, two ×0.8. One sentence listing three terms is a mention, not the subject.
``mention`` mode skips the body decay and the passage factor, so any strong hit scores at least
1.0. Independently of position, the subject's base weights must sum to at least 1.0
(``enough_evidence``): one weak word or one metonym never fires a watch alone, even in a title.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from worker.matching.scan import Found

TITLE_FACTOR = 2.0
LEAD_FACTOR = 1.5
END_FACTOR = 0.7
REPEAT_DAMPING = 0.5
LEAD_CHARS = 320
MAX_TITLE_CHARS = 200
PASSAGE_GAP = 15
PASSAGE_FACTORS = (0.4, 0.8)
_DECAY = 1.0 - END_FACTOR  # what the body factor loses from the lead end to the text end


@dataclass(frozen=True)
class Layout:
    """Where the title and lead end in the normalised text, and its length."""

    title_end: int
    lead_end: int
    length: int


def layout(norm: str) -> Layout:
    """Locate the title (first non-empty line) and the lead (the next ~320 characters). A first
    line longer than ``MAX_TITLE_CHARS`` is no headline but the first paragraph of a text without
    one (a feed item's summary, a page whose title was not extracted): no title, and the lead is
    the first ~320 characters."""
    pos = 0
    size = len(norm)
    while pos < size:
        end = norm.find("\n", pos)
        end = size if end < 0 else end
        if norm[pos:end].strip():
            if end - pos > MAX_TITLE_CHARS:
                return Layout(pos, min(size, pos + LEAD_CHARS), size)
            return Layout(end, min(size, end + LEAD_CHARS), size)
        pos = end + 1
    return Layout(0, 0, size)


def position_factor(start: int, where: Layout, *, decay: bool = True) -> float:
    """Weight multiplier for a hit starting at normalised offset ``start``."""
    if start < where.title_end:
        return TITLE_FACTOR
    if start < where.lead_end:
        return LEAD_FACTOR
    if not decay:
        return 1.0
    body = max(1, where.length - where.lead_end)
    return 1.0 - (1.0 - END_FACTOR) * (start - where.lead_end) / body


def hit_weight(found: Found, where: Layout, *, about: bool = True) -> float:
    """A subject hit's weight before repeat damping."""
    return round(found.weight * position_factor(found.start, where, decay=about), 3)


def hit_weights(subject_hits: list[Found], where: Layout, *, about: bool = True) -> list[float]:
    """``hit_weight`` of each hit, computed in one pass (the matcher's hot path)."""
    title_end, lead_end = where.title_end, where.lead_end
    body = max(1, where.length - lead_end)
    out = []
    for found in subject_hits:
        start = found.start
        if start < title_end:
            factor = TITLE_FACTOR
        elif start < lead_end:
            factor = LEAD_FACTOR
        elif about:
            factor = 1.0 - (1.0 - END_FACTOR) * (start - lead_end) / body
        else:
            factor = 1.0
        out.append(round(found.weight * factor, 3))
    return out


def passages(subject_hits: list[Found], where: Layout) -> int:
    """Number of groups of subject hits separated by more than PASSAGE_GAP words; title hits
    form a group of their own."""
    in_title = any(f.start < where.title_end for f in subject_hits)
    words = sorted(f.word for f in subject_hits if f.start >= where.title_end)
    body = sum(1 for i, w in enumerate(words) if i == 0 or w - words[i - 1] > PASSAGE_GAP)
    return body + int(in_title)


def score(subject_hits: list[Found], weights: list[float], where: Layout, *, about: bool = True) -> float:
    """Sum over distinct terms of the best hit plus damped repeats (see the module docstring);
    ``weights`` are the hits' ``hit_weight`` values, in the same order."""
    by_term: dict[tuple[int, int], list[float]] = defaultdict(list)
    for found, weight in zip(subject_hits, weights, strict=True):
        by_term[(found.owner, found.term)].append(weight)
    total = 0.0
    for weights in by_term.values():
        weights.sort(reverse=True)
        total += weights[0] + sum(REPEAT_DAMPING * w / i for i, w in enumerate(weights[1:], start=1))
    if about:
        count = passages(subject_hits, where)
        total *= PASSAGE_FACTORS[count - 1] if count <= len(PASSAGE_FACTORS) else 1.0
    return round(total, 3)


def assess(subject_hits: list[Found], where: Layout, *, about: bool,
           threshold: float = 0.0) -> tuple[float, list[float]] | None:
    """``(score, hit weights)`` of a watch's subject hits, or None without ``enough_evidence`` (or,
    for a single hit, when an upper bound of its score is clearly below ``threshold``).

    One pass that computes exactly what ``hit_weights``, ``score`` and ``passages`` compute (same
    floating-point operations in the same order); the matcher calls it for every candidate watch.
    Term ids are global, so a term id alone stands for ``(owner, term)``.
    """
    if len(subject_hits) == 1:
        return _assess_one(subject_hits[0], where, about, threshold)
    title_end, lead_end = where.title_end, where.lead_end
    body = max(1, where.length - lead_end)
    title, lead, decay = TITLE_FACTOR, LEAD_FACTOR, _DECAY
    weights: list[float] = []
    append = weights.append
    by_term: dict[int, list[float]] = {}
    in_title = False
    # Body passages are counted on the fly while the body words ascend (a single owner's hits
    # are sorted by start); otherwise ``_passage_count`` sorts them afterwards.
    count = 0
    previous = -PASSAGE_GAP - 1
    ascending = True
    top = 0.0
    for found in subject_hits:
        start = found[4]
        base = found[2]
        if base > top:
            top = base
        if start < title_end:
            weight = round(base * title, 3)
            in_title = True
        else:
            word = found[7]
            if word - previous > PASSAGE_GAP:
                count += 1
            elif word < previous:
                ascending = False
            previous = word
            if start < lead_end:
                weight = round(base * lead, 3)
            elif about:
                weight = round(base * (1.0 - decay * (start - lead_end) / body), 3)
            else:
                weight = round(base, 3)
        append(weight)
        group = by_term.get(found[1])
        if group is None:
            by_term[found[1]] = [weight]
        else:
            group.append(weight)
    # Weights are positive, so one hit of base weight 1 is enough evidence whatever the others.
    if top < 1.0 - 1e-9 and not enough_evidence(subject_hits):
        return None
    total = _damped_total(by_term.values())
    if about:
        if not ascending:
            count = _passage_count([f[7] for f in subject_hits if f[4] >= title_end], False)
        count += in_title
        total *= PASSAGE_FACTORS[count - 1] if count <= len(PASSAGE_FACTORS) else 1.0
    return round(total, 3), weights


def _damped_total(groups: Iterable[list[float]]) -> float:
    """Sum over the terms' weight groups (in order) of the best weight plus damped repeats."""
    total = 0.0
    for group in groups:
        if len(group) == 1:
            total += group[0]
        elif len(group) == 2:  # the general sum below with its one repeat: REPEAT_DAMPING * w / 1
            first, second = group
            total += first + REPEAT_DAMPING * second if first >= second else second + REPEAT_DAMPING * first
        else:
            group.sort(reverse=True)
            total += group[0] + sum(REPEAT_DAMPING * w / i for i, w in enumerate(group[1:], start=1))
    return total


def _passage_count(body_words: list[int], in_title: bool) -> int:
    """``passages`` from the body hits' word indexes (sorted here) and whether the title has one."""
    count = int(in_title)
    if body_words:
        body_words.sort()
        count += 1
        previous = body_words[0]
        for word in body_words:
            if word - previous > PASSAGE_GAP:
                count += 1
            previous = word
    return count


def _assess_one(found: Found, where: Layout, about: bool,
                threshold: float) -> tuple[float, list[float]] | None:
    """``assess`` of a single hit (the commonest case). None also when even at the title factor
    its score would be clearly below ``threshold``."""
    if (1.0 if found[3] else found[2]) < 1.0 - 1e-9:
        return None
    bound = found[2] * TITLE_FACTOR
    if about:
        bound *= PASSAGE_FACTORS[0]
    if bound * 1.01 + 0.01 < threshold:
        return None
    start = found[4]
    if start < where.title_end:
        factor = TITLE_FACTOR
    elif start < where.lead_end:
        factor = LEAD_FACTOR
    elif about:
        factor = 1.0 - (1.0 - END_FACTOR) * (start - where.lead_end) / max(1, where.length - where.lead_end)
    else:
        factor = 1.0
    weight = round(found[2] * factor, 3)
    total = weight * PASSAGE_FACTORS[0] if about else weight
    return round(total, 3), [weight]


def quick_bound(owner_hits: list[Found], where: Layout, max_weight: float, *, about: bool) -> float:
    """An upper bound of ``assess``'s score, in O(1), for one owner's hits (sorted by start, each
    of base weight at most ``max_weight``): no hit can have a larger position factor than the
    first, no damping, and n hits make at most n passages."""
    first = owner_hits[0][4]
    factor = TITLE_FACTOR if first < where.title_end else LEAD_FACTOR if first < where.lead_end else 1.0
    return _bound(len(owner_hits), max_weight, factor, about)


def _bound(count: int, max_weight: float, factor: float, about: bool) -> float:
    bound = count * max_weight * factor
    if about and count <= len(PASSAGE_FACTORS):
        bound *= PASSAGE_FACTORS[count - 1]
    return bound * 1.01 + 0.01


def hits_needed(max_weight: float, *, about: bool, threshold: float) -> tuple[int, int, int]:
    """For a one-operand watch: the fewest hits of its owner with which ``quick_bound`` reaches
    ``threshold``, when the first hit is in the title, in the lead, in the body (``sys.maxsize``:
    never). The bound grows with the number of hits, so fewer hits cannot fire the watch; this
    also covers the single-hit bound of ``assess`` (a lone hit at the title factor).
    """
    def fewest(factor: float) -> int:
        high = 1
        while _bound(high, max_weight, factor, about) < threshold:
            if high > sys.maxsize // 2:
                return sys.maxsize
            high *= 2
        low = high // 2  # the bound is below the threshold at low (or low is 0)
        while high - low > 1:
            middle = (low + high) // 2
            if _bound(middle, max_weight, factor, about) < threshold:
                low = middle
            else:
                high = middle
        return high
    return fewest(TITLE_FACTOR), fewest(LEAD_FACTOR), fewest(1.0)


def enough_evidence(subject_hits: list[Found]) -> bool:
    """True when the subject hits' base weights (no position factors) sum to at least 1.0.

    A generated name variant counts as 1.0 here: its lower weight reflects spelling doubt, not an
    ambiguous word.
    """
    return sum(1.0 if f.variant else f.weight for f in subject_hits) >= 1.0 - 1e-9
