"""Rule parser and evaluator (data/rules.yaml), and SENT on real Arabic and English sentences."""

from __future__ import annotations

from typing import Any

import pytest

from tests.matching.conftest import load_yaml, watchlist_dict
from worker.matching import Matcher, compile_watchlist, normalize
from worker.matching.rules import RuleSyntaxError, evaluate, parse_rule, subject_keys
from worker.matching.scan import sentence_starts
from worker.matching.schema import WatchlistSpec

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
    assert evaluate(parse_rule(case["rule"]), positions, case.get("sentences", ())).ok is case["ok"]


@pytest.fixture(scope="module")
def sent_matcher() -> Matcher:
    """The shipped vocabulary with one extra watch: drones and Iran in the same sentence."""
    data = watchlist_dict()
    data["watches"] = [{"id": "drones_iran_sentence", "title": "Drones and Iran in one sentence",
                        "rule": "drones SENT iran", "mode": "mention"},
                       {"id": "drones_iran", "title": "Drones and Iran", "rule": "drones AND iran",
                        "mode": "mention"}]
    return compile_watchlist(WatchlistSpec.model_validate(data))


SENT_CASES = [
    ("en same sentence", "Weekly roundup\nIran sent more drones to Russia last week.", True),
    ("en next sentence", "Weekly roundup\nIran denied the report. Drones were seen over Kyiv.", False),
    ("en question mark", "Weekly roundup\nDid Iran deny it? Drones were seen over Kyiv.", False),
    ("en exclamation", "Weekly roundup\nIran denied it! Drones were seen over Kyiv.", False),
    ("en decimal point", "Weekly roundup\nIran was paid 3.5 million dollars for the drones.", True),
    ("en line break", "Weekly roundup\nIran denied everything\nDrones were seen over Kyiv.", False),
    ("en paragraph break", "Weekly roundup\nIran denied everything\n\nDrones were seen over Kyiv.", False),
    ("en title is its own sentence", "Iran today\nDrones were seen over Kyiv.", False),
    ("ar same sentence", "تقرير أسبوعي\nأرسلت إيران طائرات مسيرة إلى روسيا الأسبوع الماضي.", True),
    ("ar next sentence", "تقرير أسبوعي\nنفت إيران التقرير. وشوهدت طائرات مسيرة فوق كييف.", False),
    ("ar question mark", "تقرير أسبوعي\nهل نفت إيران التقرير؟ شوهدت طائرات مسيرة فوق كييف.", False),
    ("ar decimal point", "تقرير أسبوعي\nدفعت إيران 3.5 مليون دولار ثمنا للطائرات المسيرة.", True),
    ("ar arabic-indic decimal", "تقرير أسبوعي\nدفعت إيران ٣٫٥ مليون دولار ثمنا للطائرات المسيرة.", True),
    ("ar line break", "تقرير أسبوعي\nنفت إيران التقرير\nوشوهدت طائرات مسيرة فوق كييف.", False),
]


@pytest.mark.parametrize(("text", "fires"), [c[1:] for c in SENT_CASES], ids=[c[0] for c in SENT_CASES])
def test_sent_same_sentence(text: str, fires: bool, sent_matcher: Matcher) -> None:
    fired = {m.watch_id: m for m in sent_matcher.match(text)}
    assert "drones_iran" in fired  # both are there: only the sentence decides
    assert ("drones_iran_sentence" in fired) is fires
    if fires:
        hits = fired["drones_iran_sentence"].hits
        assert {h.id for h in hits} == {"drones", "iran"}
        assert all(h.weight == 0.0 for h in hits if h.id == "iran")


def test_sentence_starts_are_word_indexes() -> None:
    norm = normalize("Iran paid 3.5 million. Russia agreed!\nNew line here? Yes… ok")
    words = norm.replace("\n", " ").split(" ")
    starts = sentence_starts(norm)
    assert [words[i] for i in starts] == ["russia", "new", "new", "yes...", "ok"]
