"""Normaliser: table cases (data/normalize.yaml) and the offset map on real text."""

from __future__ import annotations

import pytest

from tests.matching.conftest import SEEDS, load_yaml
from worker.matching import normalize
from worker.matching.normalize import build_offset_map

CASES: list[list[str]] = load_yaml("normalize.yaml")


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[c[1] for c in CASES])
def test_normalize_table(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert normalize(expected) == expected


def _texts() -> list[str]:
    seeds = [p.read_text("utf-8") for p in sorted(SEEDS.glob("00*.txt"))]
    return seeds + [raw for raw, _ in CASES] + ["ﻻ  ﷲ… مسيّرات\u00a0\u00a0 \u200f x"]


@pytest.mark.parametrize("text", _texts())
def test_offset_map_points_to_the_source_character(text: str) -> None:
    norm = normalize(text)
    offsets = build_offset_map(text)
    for i, ch in enumerate(norm):
        source = text[offsets.start(i)]
        assert ch in normalize(source) or (ch == " " and source.isspace())
    assert offsets.end(len(norm)) <= len(text)
    assert offsets.start(0) <= offsets.end(1)


def test_trailing_marks_are_kept_in_the_span() -> None:
    text = "قال مسيّرٌ ثم"
    norm = normalize(text)
    start = norm.index("مسير")
    offsets = build_offset_map(text)
    assert text[offsets.start(start):offsets.end(start + 4)] == "مسيّرٌ"


def test_collapse_runs_equals_the_offset_map_regex() -> None:
    import random

    from worker.matching.normalize import _SPACE_RUN_RE, collapse_runs

    rng = random.Random(5)
    for _ in range(5000):
        text = "".join(rng.choice(" -ab") for _ in range(rng.randint(0, 16)))
        assert collapse_runs(text) == _SPACE_RUN_RE.sub(" ", text), text
