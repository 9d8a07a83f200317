"""Story clustering benchmark: quality on the development stream against two baselines measured in
the same run, and the cost of one assignment with 50,000 stories in the store.

Run: .venv/bin/python bench/bench_stories.py [--stories N] [--measure N]
Prints `key: value` lines and merges its keys into bench/results.json (other keys are kept).

- Quality (`../shared/devset/stories/stream.jsonl`, gold `event` per article; read at run time,
  never copied here): the real `newswatch stories --json` command over the stream without its gold
  field, scored with BCubed precision/recall/F1 (Bagga & Baldwin 1998: per article, the share of
  its cluster that is of its event, and the share of its event that is in its cluster).
  Baselines in the same run: `exact title hash` (normalised title; an empty title is a cluster of
  its own) and `title-token Jaccard >= 0.55` (greedy, in stream order: an article joins the
  cluster of the first earlier article whose title tokens overlap that much). A diagnostic,
  `stories_detail_same_day_*`: the same stream with every date set to one day, so that only the
  evidence (not the 72 h window) separates the hard negatives. When ../shared is
  absent the quality keys are skipped and the benchmark says so.
- Cost: a temporary SQLite store (WAL, as the service) holding N (default 50,000) one-article
  stories spread over the 72 h window, generated deterministically with Zipf-distributed words
  and entities (Iran and Russia in most of them, the case the search index must not scan), then
  `StoryClusterer.assign_tx` (features + one transaction: the stage's whole cost per article) on
  `--measure` generated articles: `stories_ms_per_article_p50/_p95` (wall clock), and
  `stories_rss_mb`, the measuring process's resident memory at the end (interpreter, SQLAlchemy,
  compiled entity tables, the store connection; the store is filled by another process).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from worker.config import load_settings  # noqa: E402
from worker.matching.normalize import normalize  # noqa: E402
from worker.schema import make_engine  # noqa: E402
from worker.stories.assign import encode_vector  # noqa: E402
from worker.stories.features import StoryInput  # noqa: E402
from worker.stories.schema import stories, story_df, story_keys, story_members  # noqa: E402
from worker.stories.scoring import Vector, idf, weigh  # noqa: E402
from worker.stories.service import StoryClusterer  # noqa: E402
from worker.stories.text import tokens  # noqa: E402

DEVSET = ROOT.parent / "shared" / "devset" / "stories" / "stream.jsonl"
SEED = 9
NOW = 1_767_000_000.0  # a fixed clock: the generated store ends here


def bcubed(pred: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 of a clustering `pred` against `gold` (item → label)."""
    by_pred: dict[str, set[str]] = {}
    by_gold: dict[str, set[str]] = {}
    for item in gold:
        by_pred.setdefault(pred[item], set()).add(item)
        by_gold.setdefault(gold[item], set()).add(item)
    p = r = 0.0
    for item in gold:
        mine, truth = by_pred[pred[item]], by_gold[gold[item]]
        both = len(mine & truth)
        p += both / len(mine)
        r += both / len(truth)
    p, r = p / len(gold), r / len(gold)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _title_tokens(title: str) -> frozenset[str]:
    return frozenset(tokens(normalize(title)))


def baseline_exact(rows: list[dict[str, object]]) -> dict[str, str]:
    return {str(r["id"]): (" ".join(tokens(normalize(str(r["title"])))) or f"#{r['id']}") for r in rows}


def baseline_jaccard(rows: list[dict[str, object]], threshold: float = 0.55) -> dict[str, str]:
    out: dict[str, str] = {}
    seen: list[tuple[frozenset[str], str]] = []
    for r in rows:
        toks, rid = _title_tokens(str(r["title"])), str(r["id"])
        label = rid
        for other, other_label in seen if toks else []:
            if len(toks & other) / len(toks | other) >= threshold:
                label = other_label
                break
        out[rid] = label
        seen.append((toks, label))
    return out


def contract(config: Path, rows: list[dict[str, object]]) -> dict[str, str]:
    """Article id → story id from the real `newswatch stories --json` over `rows` (gold removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream.jsonl"
        stream.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "event"}, ensure_ascii=False)
                                  + "\n" for r in rows), "utf-8")
        command = [str(Path(sys.executable).with_name("newswatch")), "stories", "--config", str(config),
                   "--json", str(stream)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return {d["id"]: d["story"] for d in map(json.loads, done.stdout.splitlines())}


def quality(config: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in DEVSET.read_text("utf-8").splitlines() if line.strip()]
    gold = {str(r["id"]): str(r["event"]) for r in rows}
    pred = contract(config, rows)
    # diagnostic: every article on one day, so the time window cannot separate the hard negatives
    same_day = contract(config, [{**r, "published": "2024-01-01T12:00:00Z"} for r in rows])
    out: dict[str, float] = {}
    for name, clusters in (("stories", pred), ("stories_baseline_title_hash", baseline_exact(rows)),
                           ("stories_baseline_title_jaccard", baseline_jaccard(rows)),
                           ("stories_detail_same_day", same_day)):
        p, r, f = bcubed(clusters, gold)
        out |= {f"{name}_bcubed_p": round(p, 3), f"{name}_bcubed_r": round(r, 3),
                f"{name}_bcubed_f1": round(f, 3)}
    out["stories_clusters"] = len(set(pred.values()))
    out["stories_gold_events"] = len(set(gold.values()))
    return out


class Synth:
    """Deterministic article generator: Zipf words, a few very common entities, rare numbers."""

    COMMON = ["Iran", "Russia", "Moscow", "Tehran", "drones", "sanctions"]
    PLACES = ["Damascus", "Kyiv", "Crimea", "Pyongyang", "Gaza", "Beirut", "Baghdad", "Kursk", "Hatay"]

    def __init__(self, rng: random.Random, vocab: int = 20_000) -> None:
        self.rng = rng
        syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
        self.words = ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(vocab)]
        self.weights = [1.0 / (i + 1) for i in range(vocab)]

    def article(self, n: int) -> StoryInput:
        rng = self.rng
        words = rng.choices(self.words, self.weights, k=260)
        ents = rng.sample(self.COMMON, 3) + rng.sample(self.PLACES, 1)
        for i, ent in enumerate(ents):
            words.insert(5 + 20 * i, ent)
        words.insert(40, str(rng.randint(10, 99_999)))
        title = " ".join(words[:9])
        return StoryInput(key=f"a{n}", title=title, text=" ".join(words[9:]), source=f"outlet{n % 300}",
                          lang="en", published_at=NOW - rng.random() * 72 * 3600)


def fill_store(engine: Engine, clusterer: StoryClusterer, count: int, rng: random.Random) -> float:
    """Insert `count` one-article stories directly (bulk), as `assign_story` would store them."""
    synth = Synth(rng)
    batch_m: list[dict[str, object]] = []
    batch_k: list[dict[str, object]] = []
    df: Counter[str] = Counter()
    started = time.perf_counter()
    feats = []
    for n in range(count):
        art = synth.article(n)
        f = clusterer.features(art)
        feats.append((art, f))
        df.update(f.terms)
    day = int(NOW // 86_400)
    spec = clusterer.settings
    with engine.begin() as conn:
        conn.execute(stories.insert(), [{"id": n + 1, "headline": a.title, "first_seen_at": a.published_at,
                                         "last_seen_at": a.published_at, "articles": 1, "revision": 1}
                                        for n, (a, _) in enumerate(feats)])
        for n, (a, f) in enumerate(feats):
            idfs = {t: idf(df[t], count, spec.idf_prior_docs) for t in f.terms}
            vec = Vector.build(f.lang, weigh(f.terms, idfs), f.title, f.signature, f.anchors, a.source)
            batch_m.append({"id": n + 1, "article_key": a.key, "story_id": n + 1, "started": True,
                            "source": a.source, "lang": f.lang, "title": a.title, "at": a.published_at,
                            "vector": encode_vector(vec), "why": "{}"})
            rare = sorted((t for t in f.terms if idfs[t] >= spec.rare_idf), key=lambda t: (-idfs[t], t))
            keys = [*f.bands, *rare[: spec.search_keys]]
            batch_k += [{"key": k, "member_id": n + 1, "at": a.published_at} for k in dict.fromkeys(keys)]
        conn.execute(story_members.insert(), batch_m)
        conn.execute(story_keys.insert(), batch_k)
        conn.execute(story_df.insert(), [{"term": t, "day": day, "n": c} for t, c in df.items()]
                     + [{"term": "", "day": day, "n": count}])
    return time.perf_counter() - started


def _fill(config: Path, url: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(url)
    clusterer = StoryClusterer.from_settings(load_settings(config))
    out.put(fill_store(engine, clusterer, count, random.Random(SEED)))
    engine.dispose()


def cost(config: Path, count: int, measure: int) -> dict[str, float]:
    settings = load_settings(config)
    clusterer = StoryClusterer.from_settings(settings)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        # the store is filled by another process, so that this one's memory is the stage's own
        ctx = multiprocessing.get_context("spawn")
        queue: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
        filler = ctx.Process(target=_fill, args=(config, url, count, queue))
        filler.start()
        fill_s = queue.get()
        filler.join()
        engine = make_engine(url)
        synth = Synth(random.Random(SEED + 1))
        times = []
        for n in range(measure):
            art = synth.article(count + n)
            started = time.perf_counter()
            clusterer.assign_tx(engine, art, NOW)
            times.append((time.perf_counter() - started) * 1000)
        engine.dispose()
    times.sort()
    return {"stories_ms_per_article_p50": round(statistics.median(times), 3),
            "stories_ms_per_article_p95": round(times[int(0.95 * (len(times) - 1))], 3),
            "stories_rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
            "stories_store_size": count, "stories_fill_s": round(fill_s, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "newswatch.yaml")
    parser.add_argument("--stories", type=int, default=50_000)
    parser.add_argument("--measure", type=int, default=500)
    args = parser.parse_args()
    results: dict[str, float] = {}
    if DEVSET.exists():
        results |= quality(args.config)
    else:
        print(f"# {DEVSET} not found: quality keys (stories_bcubed_*) skipped")
    results |= cost(args.config, args.stories, args.measure)
    for key, value in results.items():
        print(f"{key}: {value}")
    path = ROOT / "bench" / "results.json"
    merged = json.loads(path.read_text("utf-8")) if path.exists() else {}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
