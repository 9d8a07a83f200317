"""The `newswatch stories` command as other tools run it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.stories.conftest import T0, article
from tests.stories.texts import A_AR, A_EN1, A_WIRE, B_EN, ENTITIES
from worker.config import load_settings
from worker.runtime import Runtime
from worker.stories.service import StoryClusterer

pytestmark = pytest.mark.timeout(120)
NEWSWATCH = str(Path(sys.executable).with_name("newswatch"))


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "newswatch.yaml"
    entities = {key: spec.model_dump(exclude_defaults=True) for key, spec in ENTITIES.items()}
    config.write_text(yaml.safe_dump({"service": {"data_dir": "data"}, "entities": entities,
                                      "stories": {"window_h": 72}}, allow_unicode=True), "utf-8")
    return config


def _line(id_: str, text: tuple[str, str], source: str, published: str | None, lang: str | None) -> str:
    return json.dumps({"id": id_, "title": text[0], "text": text[1], "source": source,
                       "url": f"https://{source}/{id_}", "published": published, "lang": lang},
                      ensure_ascii=False) + "\n"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEWSWATCH, "stories", *args], capture_output=True, text=True, timeout=90)


def test_json_contract(tmp_path: Path) -> None:
    config = _config(tmp_path)
    stream = tmp_path / "stream.jsonl"
    stream.write_text(
        _line("x1", A_EN1, "one.example", "2024-03-12T08:00:00Z", "en")
        + _line("x2", A_WIRE, "wire.example", "2024-03-12T09:30:00+00:00", "en")
        + "\n"
        + _line("x3", A_AR, "three.example", None, None)  # arrives with the previous article's time
        + _line("x4", B_EN, "one.example", "2024-03-14T10:00:00Z", "en"),
        "utf-8",
    )
    done = _run("--config", str(config), "--json", str(stream))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["id"] for o in out] == ["x1", "x2", "x3", "x4"]
    assert all(set(o) == {"id", "story", "new", "why"} and isinstance(o["story"], str) for o in out)
    assert [o["new"] for o in out] == [True, False, False, True]
    assert out[0]["story"] == out[1]["story"] == out[2]["story"] != out[3]["story"]
    assert out[1]["why"]["reason"] == "near_duplicate"
    assert out[2]["why"]["cross_language"] is True and out[2]["why"]["matched"] in ("x1", "x2")
    # the same file again gives the same answers: deterministic, and on a fresh temporary store
    again = _run("--config", str(config), "--json", str(stream))
    assert again.stdout == done.stdout
    assert not (tmp_path / "data" / "newswatch.db").exists()


def test_bad_line_names_it(tmp_path: Path) -> None:
    stream = tmp_path / "bad.jsonl"
    stream.write_text(_line("x1", A_EN1, "one.example", None, "en") + '{"id": "x2", "published": "soon"}\n',
                      "utf-8")
    done = _run("--config", str(_config(tmp_path)), "--json", str(stream))
    assert done.returncode == 2
    assert "line 2" in done.stderr and "ISO 8601" in done.stderr


def test_listing_shows_recent_stories(tmp_path: Path) -> None:
    config = _config(tmp_path)
    empty = _run("--config", str(config))
    assert empty.returncode == 0 and "no stories yet" in empty.stdout
    settings = load_settings(config)
    clusterer = StoryClusterer.from_settings(settings)
    rt = Runtime(settings)
    for key, text, source, lang in (("l1", A_EN1, "one.example", "en"), ("l2", A_AR, "three.example", "ar")):
        clusterer.assign_tx(rt.engine, article(key, text, source=source, lang=lang, at=T0), T0)
    rt.close()
    listed = _run("--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert A_EN1[0] in listed.stdout
    assert "2 article(s) from 2 outlet(s): one.example, three.example; languages: en, ar" in listed.stdout
