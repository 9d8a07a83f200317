"""`newswatch backtest` over a store a real `newswatch run --once` filled from the seed site: the
running watchlist replays to no change, a candidate's counts match a direct replay of the stored
articles, story grouping and cooldowns shape the message counts, nothing is written, and the
output is stable."""

from __future__ import annotations

import collections
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.helpers import SEEDS
from tests.serve.support import run_once, seeded_config
from tests.support.site_server import SiteServer
from tests.support.store import sqlite_rows
from worker.backtest import backtest
from worker.config import load_settings
from worker.matching import compile_watchlist
from worker.serve.readonly import readonly_engine

pytestmark = pytest.mark.timeout(300)

EVER = 0.0  # `since`: every stored article


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The configuration of a store that a real pass over the seeds has filled."""
    workdir = tmp_path_factory.mktemp("backtest")
    with SiteServer(SEEDS / "site") as site:
        config = seeded_config(workdir, site)
        run_once(config)
        yield config


def _db(config: Path) -> Path:
    return config.parent / "data" / "newswatch.db"


def _candidate(config: Path, edit: dict[str, Any]) -> Path:
    """A copy of `config` with watches dropped (`drop`), modes changed (`modes`) and `messages`."""
    tree = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree["watches"] = [
        {**w, **({"mode": edit["modes"][w["id"]]} if w["id"] in edit.get("modes", {}) else {})}
        for w in tree["watches"] if w["id"] not in edit.get("drop", ())
    ]
    if "messages" in edit:
        tree["messages"] = edit["messages"]
    out = config.with_name(f"candidate-{len(list(config.parent.glob('candidate-*')))}.yaml")
    out.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def _stored(config: Path) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Per watch: the articles the service alerted on, and the stories they belong to."""
    articles: dict[str, set[int]] = collections.defaultdict(set)
    stories: dict[str, set[int]] = collections.defaultdict(set)
    for watch, article, story in sqlite_rows(
        _db(config), "SELECT al.watch_id, al.article_id, m.story_id FROM alerts al"
        " JOIN story_members m ON m.article_id = al.article_id WHERE al.watch_id NOT LIKE '\\_%' ESCAPE '\\'"
    ):
        articles[watch].add(article)
        stories[watch].add(story)
    return articles, stories


def _fingerprint(config: Path) -> list[str]:
    """The bytes of the store's files (database and write-ahead log)."""
    db = _db(config)
    files = (db, db.with_name(db.name + "-wal"))
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.exists()]


def _replay(candidate: Path) -> dict[str, set[int]]:
    """Per watch: the stored articles the candidate matches, one article at a time."""
    matcher = compile_watchlist(load_settings(candidate))
    fired: dict[str, set[int]] = collections.defaultdict(set)
    for article, title, text in sqlite_rows(_db(candidate), "SELECT id, title, text FROM articles"):
        for match in matcher.match(f"{title}\n\n{text}" if title else text):
            fired[match.watch_id].add(article)
    return fired


def test_the_running_watchlist_replays_to_its_own_alerts(store: Path) -> None:
    articles, stories = _stored(store)
    engine = readonly_engine(load_settings(store).database_url)
    report = backtest(engine, load_settings(store), EVER)
    engine.dispose()
    assert report.articles == len(sqlite_rows(_db(store), "SELECT id FROM articles")) >= 5
    by_id = {w.watch_id: w for w in report.watches}
    alerted = {w for w, r in by_id.items() if r.running_articles}
    assert alerted == set(articles) >= {"iran", "russia", "shoigu"}
    for watch, report_w in by_id.items():
        assert (report_w.new, report_w.lost) == (0, 0), watch
        assert report_w.running_articles == report_w.candidate_articles == len(articles.get(watch, ())), watch
        assert report_w.running_messages == report_w.candidate_messages == len(stories.get(watch, ())), watch


def test_a_candidate_counts_new_and_lost_articles_as_a_direct_replay_does(store: Path) -> None:
    wider = {"nuclear": "mention", "missiles": "mention"}
    candidate = _candidate(store, {"drop": ["shoigu"], "modes": wider})
    running, _ = _stored(store)
    replayed = _replay(candidate)
    engine = readonly_engine(load_settings(candidate).database_url)
    report = backtest(engine, load_settings(candidate), EVER)
    engine.dispose()
    by_id = {w.watch_id: w for w in report.watches}
    shoigu = by_id["shoigu"]
    assert (shoigu.candidate_articles, shoigu.lost, shoigu.new) == (0, len(running["shoigu"]), 0)
    assert shoigu.lost >= 2 and len(shoigu.lost_samples) == min(3, shoigu.lost)
    gained = 0
    for watch, r in by_id.items():
        assert r.candidate_articles == len(replayed.get(watch, ())), watch
        assert r.new == len(replayed.get(watch, set()) - running.get(watch, set())), watch
        assert r.lost == len(running.get(watch, set()) - replayed.get(watch, set())), watch
        gained += r.new
    assert by_id["nuclear"].new + by_id["missiles"].new >= 1 and gained >= 1  # mention mode widens


def test_a_watch_cooldown_leaves_it_out_of_later_stories(store: Path) -> None:
    _, stories = _stored(store)
    assert len(stories["iran"]) >= 3
    candidate = _candidate(store, {"messages": {"cooldown": {"watches": {"iran": "3650d"}}}})
    engine = readonly_engine(load_settings(candidate).database_url)
    by_id = {w.watch_id: w for w in backtest(engine, load_settings(candidate), EVER).watches}
    engine.dispose()
    assert (by_id["iran"].running_messages, by_id["iran"].candidate_messages) == (1, 1)
    assert by_id["russia"].candidate_messages == len(stories["russia"])


def test_the_command_writes_nothing_and_its_output_is_stable(store: Path) -> None:
    candidate = _candidate(store, {"drop": ["shoigu"]})
    before = _fingerprint(store)
    html_file = candidate.parent / "report.html"

    def run(*extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "worker.cli", "--config", str(candidate), "backtest", "--since", "3650d",
             *extra], capture_output=True, text=True, timeout=120, cwd=candidate.parent,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first, second = (json.loads(run("--json", *extra)) for extra in ((), ("--html", str(html_file))))
    assert abs(first.pop("since") - second.pop("since")) < 60 and first == second  # `since` is relative
    report = first
    assert {w["watch_id"]: w["lost"] for w in report["watches"]}["shoigu"] >= 2
    text = run()
    assert text.splitlines()[0] == f"{report['articles']} stored article(s) replayed"
    assert "shoigu" in text.splitlines()[2]  # changed watches first
    page = html_file.read_text(encoding="utf-8")
    assert '<p class="lost" dir="auto">' in page and "<script" not in page
    assert _fingerprint(store) == before
    bad = subprocess.run([sys.executable, "-m", "worker.cli", "--config", str(candidate), "backtest",
                          "--since", "soon"], capture_output=True, text=True, timeout=60,
                         cwd=candidate.parent)
    assert bad.returncode == 2 and "--since 'soon'" in bad.stderr
