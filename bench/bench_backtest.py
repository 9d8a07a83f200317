"""Backtest benchmark: `worker.backtest.backtest` over N stored articles (default 10,000).

Run: .venv/bin/python bench/bench_backtest.py [--articles N]
Prints `key: value` lines and merges its keys into bench/results.json (other keys are kept).

The store is a temporary SQLite file (WAL, as the service) holding N articles made from the real
texts of bench_matcher's corpus (the seeds, plus the realworld pages when ../shared is present),
each copy numbered so that no cache helps, one story member each (ten articles per story), and the
alerts the shipped watchlist gives them. The candidate is the shipped watchlist with one watch
dropped and two topics in `mode: mention`. The timed part is the whole `backtest` call (compiling
the candidate, reading the store through the read-only engine, matching, counting):
`backtest_articles_per_s`, wall clock, one process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench.bench_matcher import SHARED, build_corpus, real_texts  # noqa: E402
from worker.backtest import backtest  # noqa: E402
from worker.config import load_settings  # noqa: E402
from worker.matching import compile_watchlist  # noqa: E402
from worker.schema import alerts, articles, make_engine  # noqa: E402
from worker.serve.readonly import readonly_engine  # noqa: E402
from worker.stories.schema import stories, story_members  # noqa: E402

NOW = 1_767_000_000.0


def _config(workdir: Path, edit: bool) -> Path:
    tree = yaml.safe_load((ROOT / "newswatch.yaml").read_text("utf-8"))
    tree.pop("feeds", None)
    tree["service"] = {"data_dir": str(workdir / "data")}
    tree["channels"] = {"sink": [f"jsonl://{workdir / 'sink.jsonl'}"]}
    tree["default_channels"] = ["sink"]
    if edit:
        tree["watches"] = [{**w, **({"mode": "mention"} if w["id"] in {"nuclear", "missiles"} else {})}
                           for w in tree["watches"] if w["id"] != "shoigu"]
    path = workdir / ("candidate.yaml" if edit else "running.yaml")
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def fill(running: Path, count: int) -> None:
    """`count` articles, their story members and the alerts the running watchlist gives them."""
    settings = load_settings(running)
    settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    matcher = compile_watchlist(settings)
    engine = make_engine(settings.database_url)
    corpus = build_corpus(count, real_texts())
    with engine.begin() as conn:
        for i, text in enumerate(corpus):
            title, _, body = text.partition("\n\n")
            at, outlet = NOW - (count - i), f"outlet{i % 7}"
            if i % 10 == 0:
                story = conn.execute(insert(stories).values(headline=title, first_seen_at=at, last_seen_at=at)
                                     .returning(stories.c.id)).scalar_one()
            aid = conn.execute(insert(articles).values(
                url_key=f"a{i}", url=f"https://example.org/{i}", source=outlet, title=title, text=body,
                lang="ar", extracted_from="page", processed_at=at).returning(articles.c.id)).scalar_one()
            conn.execute(insert(story_members).values(
                article_key=f"a{i}", article_id=aid, story_id=story, started=i % 10 == 0, source=outlet,
                lang="ar", title=title, at=at, vector="{}", why="{}"))
            fired = [{"watch_id": m.watch_id, "watch_title": m.watch_id, "article_id": aid, "score": m.score,
                      "snippet": m.snippet, "hits_json": "[]", "created_at": at} for m in matcher.match(text)]
            if fired:
                conn.execute(insert(alerts), fired)
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    args = parser.parse_args(argv)
    if not (SHARED / "realworld" / "pages").is_dir():
        print(f"corpus: {SHARED / 'realworld'} is absent: seeds only")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        running, candidate = _config(workdir, False), _config(workdir, True)
        fill(running, args.articles)
        settings = load_settings(candidate)
        engine = readonly_engine(settings.database_url)
        started = time.perf_counter()
        report = backtest(engine, settings, 0.0)
        elapsed = time.perf_counter() - started
        engine.dispose()
    results = {
        "backtest_articles": report.articles,
        "backtest_s": round(elapsed, 2),
        "backtest_articles_per_s": round(report.articles / elapsed, 1),
        "backtest_new": sum(w.new for w in report.watches),
        "backtest_lost": sum(w.lost for w in report.watches),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    path = ROOT / "bench" / "results.json"
    merged = json.loads(path.read_text("utf-8")) if path.exists() else {}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
