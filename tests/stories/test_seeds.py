"""The shipped seed articles through the contract runner: 000 and 001 (Shoigu in Tehran, two
outlets quoting one passage) are one story; 002-004 are other events on the same countries."""

from __future__ import annotations

import io
import json
from pathlib import Path

from worker.config import load_settings
from worker.stories.cli import run_contract

ROOT = Path(__file__).resolve().parents[2]


def test_seed_articles() -> None:
    lines = []
    for path in sorted((ROOT / "seeds").glob("0*.txt")):
        title, _, body = path.read_text("utf-8").strip().partition("\n")
        lines.append(json.dumps({"id": path.name[:3], "title": title, "text": body, "source": path.stem,
                                 "url": None, "published": "2024-01-01T10:00:00Z", "lang": None}))
    out = io.StringIO()
    run_contract(load_settings(ROOT / "newswatch.yaml"), lines, out)
    got = {d["id"]: d for d in map(json.loads, out.getvalue().splitlines())}
    assert got["001"]["story"] == got["000"]["story"] and got["001"]["why"]["reason"] == "shared_passage"
    assert "shoigu" in {e["id"] for e in got["001"]["why"]["shared_entities"]}
    assert len({got[k]["story"] for k in ("000", "002", "003", "004")}) == 4
