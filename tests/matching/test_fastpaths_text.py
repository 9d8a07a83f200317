"""More fast paths that must compute exactly what the plain code computes: the byte translation,
whitespace squeezing, hit-count thresholds and the ordering of contained hits."""

from __future__ import annotations

import random

import pytest

from worker.matching.normalize import _BYTE_CHARS, _BYTE_PATH, _TABLE, _translate
from worker.matching.scan import Found, _drop_contained
from worker.matching.scoring import Layout, hits_needed, quick_bound
from worker.matching.snippet import _squeeze


def test_byte_translation_equals_table() -> None:
    assert _BYTE_PATH is not None  # the fast path is on for the shipped character set
    for ch in _BYTE_CHARS:
        assert _translate(ch) == ch.translate(_TABLE)
    rng = random.Random(11)
    outside = ["\u0100", "\U0001f600", "\ufffe", "ﻻ", "ß"]
    for _ in range(5000):
        text = "".join(rng.choice(_BYTE_CHARS) for _ in range(rng.randint(0, 40)))
        assert _translate(text) == text.translate(_TABLE)
        mixed = text + rng.choice(outside) + text
        assert _translate(mixed) == mixed.translate(_TABLE)


def test_squeeze_equals_split_join() -> None:
    rng = random.Random(12)
    pieces = [" ", "  ", "\n", "\t", "a", "ب", "\u200c", "\xa0", ".", "⟦", "\u2028", "\x1c", "\u3000"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert _squeeze(text) == " ".join(text.split())


@pytest.mark.parametrize("about", [True, False])
def test_hits_needed_equals_quick_bound(about: bool) -> None:
    where = Layout(5, 10, 100)
    for weight in (0.0, 1e-6, 0.3, 0.5, 0.8, 1.0, 2.5, 5.0):
        for threshold in (0.0, 0.01, 0.5, 0.818, 1.0, 1.6, 2.0, 2.424, 3.0, 10.0, 100.0):
            needed = hits_needed(weight, about=about, threshold=threshold)
            for zone, first in enumerate((0, 6, 20)):
                for count in range(1, 30):
                    hits = [Found(0, 0, weight, False, first + i, first + i, first + i + 1, i)
                            for i in range(count)]
                    fires = quick_bound(hits, where, weight, about=about) >= threshold
                    assert fires == (count >= needed[zone])


def test_drop_contained_keeps_scan_order_of_equal_hits() -> None:
    rng = random.Random(13)
    for _ in range(2000):
        found = [Found(0, term, rng.choice((0.5, 1.0)), False, start, start, start + rng.randint(1, 3), 0)
                 for term, start in enumerate(rng.randint(0, 6) for _ in range(rng.randint(1, 6)))]
        expected: list[Found] = []
        reach = -1
        for f in sorted(found, key=lambda f: (f.start, -f.end, -f.weight)):
            if f.end > reach:
                expected.append(f)
                reach = f.end
            elif f.end <= expected[-1].end and f.weight > expected[-1].weight:
                expected[-1] = expected[-1]._replace(weight=f.weight)
        assert _drop_contained(list(found)) == expected
