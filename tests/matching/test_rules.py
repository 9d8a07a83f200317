"""Rule parser and evaluator (data/rules.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.matching.conftest import load_yaml
from worker.matching.rules import RuleSyntaxError, evaluate, parse_rule, subject_keys

DATA: dict[str, list[dict[str, Any]]] = load_yaml("rules.yaml")


@pytest.mark.parametrize("case", DATA["ok"], ids=[c["rule"] for c in DATA["ok"]])
def test_subjects(case: dict[str, Any]) -> None:
    assert subject_keys(parse_rule(case["rule"])) == set(case["subjects"])


@pytest.mark.parametrize("case", DATA["bad"], ids=[c["rule"] for c in DATA["bad"]])
def test_bad_rules_say_why(case: dict[str, Any]) -> None:
    with pytest.raises(RuleSyntaxError, match=None) as info:
        parse_rule(case["rule"])
    assert case["error"] in str(info.value)


@pytest.mark.parametrize("case", DATA["eval"], ids=[f"{c['rule']} {c['hits']}" for c in DATA["eval"]])
def test_evaluate(case: dict[str, Any]) -> None:
    positions = {}
    gid = 0
    for key, words in case["hits"].items():
        positions[key] = [(w, gid + i) for i, w in enumerate(words)]
        gid += len(words)
    assert evaluate(parse_rule(case["rule"]), positions).ok is case["ok"]
