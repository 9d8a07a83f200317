"""The matcher's fast paths compute exactly what the plain functions compute."""

from __future__ import annotations

import random

import pytest

from tests.matching.conftest import SEEDS
from worker.matching import Hit, Matcher, WatchMatch, normalize
from worker.matching.compiler import form_records, owner_max_weights, plain_records
from worker.matching.normalize import build_offset_map, normalize_pair
from worker.matching.scan import Found, _drop_contained, scan
from worker.matching.scoring import assess, enough_evidence, hit_weights, layout, quick_bound, score
from worker.matching.sentences import sentence_stops
from worker.matching.snippet import first_stop_end, last_stop_end, make_snippet

TEXTS = [p.read_text("utf-8") for p in sorted(SEEDS.glob("00*.txt"))] + [
    "ﻻ  ﷲ… مسيّرات\u00a0\u00a0 \u200f x", "Plain English text, no marks."]


@pytest.mark.parametrize("text", TEXTS)
def test_spans_equal_start_and_end(text: str) -> None:
    translated, norm = normalize_pair(text)
    assert norm == normalize(text)
    offsets = build_offset_map(text, translated)
    pairs = [(i, j) for i in range(0, len(norm), 7) for j in (i + 1, min(len(norm), i + 9))]
    assert offsets.spans(pairs) == [(offsets.start(i), offsets.end(j)) for i, j in pairs]
    assert build_offset_map(text) == offsets


def test_hit_records_equal_plain_construction(shipped: Matcher) -> None:
    for text in TEXTS:
        for match in shipped.match(text):
            for hit in match.hits:
                plain = Hit(hit.id, hit.text, hit.norm, hit.start, hit.end, hit.weight, hit.variant)
                assert hit == plain and hash(hit) == hash(plain) and repr(hit) == repr(plain)


@pytest.mark.parametrize("about", [True, False])
def test_assess_equals_score(about: bool, shipped: Matcher) -> None:
    for text in TEXTS:
        norm = normalize(text)
        found = scan(shipped.tables, shipped._automaton, norm, lambda *_: True)
        where = layout(norm)
        for hits in found.values():
            result = assess(hits, where, about=about)
            if not enough_evidence(hits):
                assert result is None
                continue
            weights = hit_weights(hits, where, about=about)
            assert result == (score(hits, weights, where, about=about), weights)


def test_form_records_mirror_refs(shipped: Matcher) -> None:
    tables = shipped.tables
    assert tables.records == form_records(tables.refs)
    assert tables.plain == plain_records(tables.records)
    for refs, records in zip(tables.refs, tables.records, strict=True):
        for ref, record in zip(refs, records, strict=True):
            assert record == (ref.prefixes, ref.exact, ref.owner, ref.term, ref.weight, ref.variant, ref.kind,
                              ref.phrase, ref.part)


def test_shared_snippet_bounds_equal_plain_snippet(shipped: Matcher, mention: Matcher) -> None:
    for matcher in (shipped, mention):
        for text in TEXTS:
            for match in matcher.match(text):
                assert match.snippet == make_snippet(text, match.hits)


def _plain_hopeless(hits: list[Found], about: bool, threshold: float) -> bool:
    if not enough_evidence(hits):
        return True
    bound = sum(f.weight for f in hits) * 2.0
    if about and len(hits) <= 2:
        bound *= (0.4, 0.8)[len(hits) - 1]
    return bound * 1.01 + 0.01 < threshold


@pytest.mark.parametrize("about", [True, False])
def test_single_hit_bound_equals_generic_bound(about: bool) -> None:
    where = layout("title\nbody")
    for weight in (0.5, 0.8, 1.0, 1.2, 2.5):
        for variant in (False, True):
            hits = [Found(0, 0, weight, variant, 6, 6, 10, 1)]
            for threshold in (0.0, 0.5, 0.8, 1.0, 1.6, 2.0, 3.0):
                result = assess(hits, where, about=about, threshold=threshold)
                assert (result is None) == _plain_hopeless(hits, about, threshold)


def test_match_records_equal_plain_construction(shipped: Matcher) -> None:
    for text in TEXTS:
        for match in shipped.match(text):
            plain = WatchMatch(match.watch_id, match.score, match.snippet, match.hits, match.claim)
            assert match == plain and hash(match) == hash(plain) and repr(match) == repr(plain)


def _plain_drop_contained(found: list[Found]) -> list[Found]:
    kept: list[Found] = []
    reach_end = -1
    for f in sorted(found, key=lambda f: (f.start, -f.end, -f.weight)):
        if f.end > reach_end:
            kept.append(f)
            reach_end = max(reach_end, f.end)
        elif not f.variant and f.end <= kept[-1].end and f.weight > kept[-1].weight:
            kept[-1] = kept[-1]._replace(weight=f.weight)  # a covered listed form lends its weight
    return kept


def test_drop_contained_equals_plain_sweep() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        found = []
        for term in range(rng.randint(1, 6)):
            start = rng.randint(0, 30)
            end = start + rng.randint(1, 8)
            weight, variant = rng.choice((0.5, 0.8, 1.0)), rng.random() < 0.3
            found.append(Found(0, term, weight, variant, start, start, end, 0))
        assert _drop_contained(list(found)) == _plain_drop_contained(found)


@pytest.mark.parametrize("about", [True, False])
def test_quick_bound_bounds_assess(about: bool, shipped: Matcher) -> None:
    weights = owner_max_weights(shipped.tables)
    for text in TEXTS:
        norm = normalize(text)
        where = layout(norm)
        for owner, hits in scan(shipped.tables, shipped._automaton, norm, lambda *_: True).items():
            result = assess(hits, where, about=about)
            if result is not None:
                assert result[0] <= quick_bound(hits, where, weights[owner], about=about)


def test_sentence_end_search_equals_regex() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        pieces = ["a", "b", "mr", " ", ".", "!", "?", "؟", "…", "\n", "\t", "\u00a0", "3"]
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
        for lo in range(len(text) + 1):
            assert first_stop_end(text, lo) == next(sentence_stops(text, lo), len(text))
            hi = rng.randint(lo, len(text))
            ends = list(sentence_stops(text, lo, hi))
            assert last_stop_end(text, lo, hi) == (ends[-1] if ends else 0)
