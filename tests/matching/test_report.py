"""`newswatch match` / `newswatch check` command bodies: output contract, lock file, failures."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.matching.conftest import DATA, SEEDS
from worker.matching import Matcher, compile_watchlist
from worker.matching.report import check_watchlist, match_files
from worker.matching.schema import WatchlistSpec

ARTICLES: dict[str, dict[str, Any]] = yaml.safe_load((DATA / "articles" / "expected.yaml").read_text("utf-8"))


def test_match_json_contract(shipped: Matcher) -> None:
    paths = sorted(SEEDS.glob("00*.txt"))
    out = io.StringIO()
    assert match_files(shipped, paths, as_json=True, out=out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == len(paths)
    for path, line in zip(paths, lines, strict=True):
        record = json.loads(line)
        assert list(record) == ["file", "title", "lang", "matches"]
        text = path.read_text("utf-8")
        assert record["file"] == str(path)
        assert record["title"] == next(x.strip() for x in text.splitlines() if x.strip())
        assert record["lang"] == "ar"
        assert record["matches"]
        for match in record["matches"]:
            assert list(match) == ["watch", "score", "snippet", "hits", "claim"]
            assert match["claim"] in ("asserted", "denied", "speculative", "unclassified")
            assert isinstance(match["score"], float)
            for hit in match["hits"]:
                assert list(hit) == ["id", "text", "start", "end", "weight", "variant"]
                assert text[hit["start"]:hit["end"]] == hit["text"]


def test_match_readable_report(shipped: Matcher) -> None:
    out = io.StringIO()
    assert match_files(shipped, [SEEDS / "003_227bb4d96c4cbcfe.txt"], as_json=False, out=out) == 0
    report = out.getvalue()
    assert "drones" in report and "⟦" in report and "score" in report


def test_missing_file_is_reported_and_others_still_run(shipped: Matcher, tmp_path: Path) -> None:
    out = io.StringIO()
    status = match_files(shipped, [tmp_path / "absent.txt", SEEDS / "000_6085b7264f9884e6.txt"], as_json=True,
                         out=out)
    assert status == 1
    assert len(out.getvalue().splitlines()) == 1


@pytest.mark.parametrize("name", sorted(ARTICLES))
def test_match_html_is_extracted_first(name: str, shipped: Matcher) -> None:
    out = io.StringIO()
    assert match_files(shipped, [DATA / "articles" / name], as_json=True, out=out) == 0
    record = json.loads(out.getvalue())
    fired = {m["watch"] for m in record["matches"]}
    assert record["lang"] == ARTICLES[name]["lang"]
    assert record["title"]
    assert set(ARTICLES[name]["fire"]) - fired == set()
    assert set(ARTICLES[name]["silent"]) & fired == set()


def test_check_shipped_watchlist_passes_and_writes_lock(shipped_spec: WatchlistSpec, shipped: Matcher,
                                                         tmp_path: Path) -> None:
    out = io.StringIO()
    lock = tmp_path / "watchlist.lock"
    assert check_watchlist(shipped_spec, shipped, out=out, lock_path=lock) == 0
    listing = lock.read_text("utf-8")
    assert "[entity shoigu]" in listing and "variant سيرغي شويجو" in listing
    assert "[concept drones]" in listing and "rejected variant" in listing
    assert "examples:" in out.getvalue() and "FAIL" not in out.getvalue()
    printed = io.StringIO()
    check_watchlist(shipped_spec, shipped, out=printed)
    assert printed.getvalue().startswith(listing.rstrip("\n"))


def test_check_reports_broken_examples() -> None:
    spec = WatchlistSpec.model_validate({
        "concepts": {"drones": {"terms": ["drone"]}},
        "watches": [{"id": "drones", "title": "Drones", "rule": "drones", "mode": "mention",
                     "examples": {"should_match": ["A UAV crashed."],
                                  "should_not_match": ["A drone crashed."]}}]})
    out = io.StringIO()
    assert check_watchlist(spec, compile_watchlist(spec), out=out) == 1
    report = out.getvalue()
    assert "watch 'drones' should match but did not" in report
    assert "watch 'drones' should not match but fired" in report and "⟦drone⟧" in report
    assert "examples: 0/2 passed" in report
