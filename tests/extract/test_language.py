"""detect_language on the seed articles and on the table in lang_cases.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.extract.fixtures import SEEDS
from worker.extract import detect_language

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "lang_cases.yaml").read_text(encoding="utf-8"))["cases"]
SEED_FILES = sorted(SEEDS.glob("00*.txt"))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_language_case(case: dict[str, Any]) -> None:
    assert detect_language(case["text"]) == case["expect"]


@pytest.mark.parametrize("seed", SEED_FILES, ids=[p.name for p in SEED_FILES])
def test_seed_articles_are_arabic(seed: Path) -> None:
    text = seed.read_text(encoding="utf-8")
    assert detect_language(text) == "ar"
    first_line = text.split("\n", 1)[0]
    assert detect_language(first_line) == "ar"
