"""Matcher benchmark: throughput, compile time, memory, and a naive one-pass baseline in the same run.

Run: .venv/bin/python bench/bench_matcher.py [--articles N] [--naive-articles N]
Prints `key: value` lines and merges its keys into bench/results.json (other keys are kept; the
extra figures as `matcher_detail_*`). The big watchlist is generated deterministically (seed SEED).

What is measured, exactly:

* Corpus (``real_texts``, ``build_corpus``): real text only: the five seed articles and the text
  extracted from every real article page in ../shared/realworld/pages (Arabic, English, Persian,
  Hebrew, Urdu; read at run time, never copied here), taken in turn to make N (default 1,000)
  articles, each with its own number appended. Without ../shared: the seeds alone (it says so).
* Watchlists: the shipped one (newswatch.yaml), and a generated sparse 5,000-term one of ~500
  watches (``big_spec``: the shipped entities/concepts/watches, 100 topic concepts of topical
  corpus words and bigrams plus synthetic jargon, and entities with synthetic name-like terms).
* matcher_articles_per_s / matcher_5k_articles_per_s: ``Matcher.match`` calls per CPU second of
  this process (``time.process_time``), median of 3 passes over the whole corpus; one call does all
  the work the worker relies on (normalise, scan, rules, scores, Hit records, snippets).
* naive_5k_articles_per_s: the naive baseline over the same corpus, one honest pass per article:
  one Aho-Corasick automaton over every plain term as written (lower-cased) of all watches, run
  over the lower-cased text (no normalisation, no boundaries, no masks, no rules, no scores); a
  watch fires when one of its terms is found. matcher_vs_naive_ratio = 5k matcher rate / naive rate.
* matcher_compile_s: the larger of the two watchlists' compile times (median wall-clock of 3
  ``compile_watchlist`` calls); matcher_rss_mb: the larger RSS growth of a first compile.
* seed_precision / seed_recall (and naive_*): watches fired on the five seeds against the gold
  labels of seeds/expected_watches.yaml, shipped watchlist, every watch in mention mode.
* *_fired_per_article: mean number of watches that fire per article (naive: first 200 articles).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import ahocorasick_rs
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.matching import Matcher, compile_watchlist, normalize  # noqa: E402
from worker.matching.schema import TermSpec, WatchlistSpec  # noqa: E402

SEED = 20240517
SHARED = ROOT.parent / "shared"


def real_texts(shared: Path = SHARED) -> list[str]:
    """The five seed articles, then the text of every real article page in ``<shared>/realworld/pages``
    (not the ground-truth files), extracted by ``worker.extract.extract_page`` as the worker would
    (title line, blank line, body). The pages are read at run time and never copied here."""
    from worker.extract import decode_body, extract_page

    texts = [p.read_text("utf-8") for p in sorted((ROOT / "seeds").glob("00*.txt"))]
    for page in sorted((shared / "realworld" / "pages").glob("*.html")):
        if ".expected" in page.name:
            continue
        extracted = extract_page(decode_body(page.read_bytes(), None), url=None)
        if extracted is not None:
            title = extracted.title or ""
            texts.append(f"{title}\n\n{extracted.text}" if title else extracted.text)
    return texts


def build_corpus(count: int, texts: list[str]) -> list[str]:
    """``count`` distinct articles: the real texts in turn, each copy with its own number appended
    (so no whole-text cache can help)."""
    return [f"{texts[i % len(texts)]}\n{i}" for i in range(count)]


def shipped_spec() -> WatchlistSpec:
    raw = yaml.safe_load((ROOT / "newswatch.yaml").read_text("utf-8"))
    return WatchlistSpec.model_validate({k: raw[k] for k in ("entities", "concepts", "watches") if k in raw})


_LATIN_SYLLABLES = ("ka", "ro", "vel", "min", "dar", "sho", "tek", "lu", "bar", "zan", "or", "ev", "mir",
                    "nos",
                    "gal", "tur", "ser", "vik", "ham", "dul", "pra", "kes", "lin", "mor")
_ARABIC_SYLLABLES = ("كا", "رو", "مين", "دار", "شو", "تيك", "لو", "بار", "زان", "مير", "نوس", "غال", "تور",
                     "سير", "فيك", "حام", "دول", "كس", "لين", "مور", "عاد", "صال", "نجي", "طار")


def _synthetic(rng: random.Random, syllables: tuple[str, ...], words: int) -> str:
    return " ".join("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))) for _ in range(words))


def _vocabulary(corpus: list[str]) -> tuple[list[str], list[str]]:
    """Topical words and bigrams of the corpus (normalised, letters only): those found in 0.5-5 %
    of a 400-article sample. Commoner words ("said", "قال") are not watch terms."""
    sample = corpus[:400]
    doc_freq: Counter[str] = Counter()
    pair_freq: Counter[str] = Counter()
    for text in sample:
        norm = normalize(text)
        doc_freq.update(set(re.findall(r"[^\W\d_]{4,}", norm)))
        pair_freq.update(set(re.findall(r"(?=\b([^\W\d_]{4,} [^\W\d_]{4,})\b)", norm)))
    low, high = len(sample) // 200, len(sample) // 20
    words = sorted(w for w, n in doc_freq.items() if low <= n <= high)
    pairs = sorted(p for p, n in pair_freq.items() if low <= n <= high)
    return words, pairs


def big_spec(corpus: list[str], rng: random.Random, terms: int = 5000) -> WatchlistSpec:
    """A sparse 5,000-term watchlist of ~500 watches, as a real one is: the shipped entities,
    concepts and watches; ~400 person/organisation/place/equipment entities with synthetic
    name-like terms in both scripts (rarely present, as most watched names are in a given article);
    and ~100 topic concepts of real corpus vocabulary (``_vocabulary``: topical words and bigrams),
    each padded with synthetic terms. Persons are watched in mention mode, topics in about mode.
    """
    shipped = yaml.safe_load((ROOT / "newswatch.yaml").read_text("utf-8"))
    entities: dict[str, Any] = dict(shipped["entities"])
    concepts: dict[str, Any] = dict(shipped["concepts"])
    watches: list[dict[str, Any]] = [{k: v for k, v in w.items() if k != "examples"}
                                     for w in shipped["watches"]]
    used = sum(len(v) for spec in [*entities.values(), *concepts.values()] for k, v in spec.items()
               if k in ("names", "adjectives", "metonyms", "terms", "weak"))
    words, pairs = _vocabulary(corpus)
    real = rng.sample(words, min(len(words), 700)) + rng.sample(pairs, min(len(pairs), 300))
    for i in range(100):  # topic concepts: ~10 real terms + 12 synthetic equipment/jargon terms each
        own = real[i * len(real) // 100:(i + 1) * len(real) // 100]
        jargon = [f"{_synthetic(rng, _LATIN_SYLLABLES, 1)}-{rng.randint(10, 999)}" for _ in range(6)]
        jargon += [_synthetic(rng, _ARABIC_SYLLABLES, 1) for _ in range(6)]
        concepts[f"topic{i}"] = {"terms": own[:-2] + jargon, "weak": own[-2:]}
        watches.append({"id": f"topic{i}", "title": f"Topic {i}", "rule": f"topic{i}"})
        used += len(own) + len(jargon)
    i = 0
    while used < terms:  # entities, 8 terms each (the last one fewer to land on exactly `terms`)
        kind = ("person", "org", "place", "other")[i % 4]
        names = [_synthetic(rng, _LATIN_SYLLABLES, 2) for _ in range(3)]
        names += [_synthetic(rng, _ARABIC_SYLLABLES, 2) for _ in range(3)]
        metonyms = [_synthetic(rng, _LATIN_SYLLABLES, 1), _synthetic(rng, _ARABIC_SYLLABLES, 1)]
        keep = min(8, terms - used)
        named = min(6, keep)
        entities[f"e{i}"] = {"kind": kind, "names": names[:named], "metonyms": metonyms[:keep - named]}
        watches.append({"id": f"e{i}", "title": f"Entity {i}", "rule": f"e{i}",
                        "mode": "mention" if kind == "person" else "about"})
        used += keep
        i += 1
    return WatchlistSpec.model_validate({"entities": entities, "concepts": concepts, "watches": watches})


def compile_timed(spec: WatchlistSpec) -> tuple[Matcher, float, float]:
    """The matcher, the median wall-clock time of 3 compiles, and the RSS growth of the first."""
    rss = psutil.Process().memory_info().rss
    times = []
    matcher = None
    for _ in range(3):
        start = time.perf_counter()
        compiled = compile_watchlist(spec)
        times.append(time.perf_counter() - start)
        if matcher is None:
            matcher = compiled
            grown = (psutil.Process().memory_info().rss - rss) / 2**20
    assert matcher is not None
    return matcher, sorted(times)[1], grown


def throughput(run: Any, corpus: list[str], passes: int = 3) -> float:
    """Articles per CPU second of this process (median of ``passes`` passes over ``corpus``)."""
    rates = []
    for _ in range(passes):
        start = time.process_time()
        for text in corpus:
            run(text)
        rates.append(len(corpus) / max(time.process_time() - start, 1e-9))
    return sorted(rates)[len(rates) // 2]


class Naive:
    """Baseline, one honest pass per article: a single Aho-Corasick automaton over every plain
    term (as written, lower-cased) of every watch's concepts and entities, run over the lower-cased
    text (no normalisation, no boundaries, no masks, no rule operators); a watch fires when any of
    its terms is found."""

    def __init__(self, spec: WatchlistSpec) -> None:
        owners: dict[str, set[int]] = {}
        for index, watch in enumerate(spec.watches):
            ids = re.findall(r"[a-z0-9_]+", re.sub(r'"[^"]*"|NEAR/\d+|AND|OR|NOT|SENT', " ", watch.rule))
            for key in ids:
                terms: list[str | TermSpec] = []
                if key in spec.concepts:
                    terms = spec.concepts[key].terms + spec.concepts[key].weak
                elif key in spec.entities:
                    entity = spec.entities[key]
                    terms = entity.names + entity.adjectives + entity.metonyms
                for term in terms:
                    owners.setdefault(_text(term).lower(), set()).add(index)
        self.patterns = sorted(p for p in owners if p)
        self.watches = [frozenset(owners[p]) for p in self.patterns]
        self.ids = [w.id for w in spec.watches]
        self.automaton = ahocorasick_rs.AhoCorasick(self.patterns)

    def match(self, text: str) -> set[str]:
        fired: set[int] = set()
        for index, _, _ in self.automaton.find_matches_as_indexes(text.lower(), overlapping=True):
            fired |= self.watches[index]
        return {self.ids[i] for i in fired}


def _text(term: str | TermSpec) -> str:
    written = term.t if isinstance(term, TermSpec) else term
    return re.sub(r"~\d+$", "", written).replace("=", "").strip()


def seed_quality(predict: Any) -> tuple[float, float]:
    """Precision and recall against the gold labels in seeds/expected_watches.yaml."""
    expected = yaml.safe_load((ROOT / "seeds" / "expected_watches.yaml").read_text("utf-8"))
    tp = fp = fn = 0
    for name, labels in expected.items():
        fired = predict((ROOT / "seeds" / name).read_text("utf-8"))
        tp += len(set(labels["gold_fire"]) & fired)
        fn += len(set(labels["gold_fire"]) - fired)
        fp += len(set(labels["gold_silent"]) & fired)
    return round(tp / max(tp + fp, 1), 3), round(tp / max(tp + fn, 1), 3)


def mention_spec(spec: WatchlistSpec) -> WatchlistSpec:
    data = spec.model_dump()
    for watch in data["watches"]:
        watch["mode"] = "mention"
    return WatchlistSpec.model_validate(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--naive-articles", type=int, default=0, help="0: the whole corpus (one pass)")
    args = parser.parse_args()
    rng = random.Random(SEED)
    if not (SHARED / "realworld" / "pages").is_dir():
        print(f"corpus: {SHARED / 'realworld'} is absent: seeds only")
    texts = real_texts()
    corpus = build_corpus(args.articles, texts)
    megabytes = sum(len(t.encode()) for t in corpus) / 2**20
    shipped, shipped_compile, shipped_rss = compile_timed(shipped_spec())
    big = big_spec(corpus, rng)
    big_matcher, big_compile, big_rss = compile_timed(big)
    naive_big = Naive(big)
    results = {
        "matcher_articles_per_s": round(throughput(shipped.match, corpus)),
        "matcher_5k_articles_per_s": round(throughput(big_matcher.match, corpus)),
        "matcher_compile_s": round(max(shipped_compile, big_compile), 3),
        "matcher_rss_mb": round(max(shipped_rss, big_rss, 0.0), 1),
    }
    naive_rate = throughput(naive_big.match, corpus[: args.naive_articles or None], passes=1)
    results["matcher_vs_naive_ratio"] = round(results["matcher_5k_articles_per_s"] / naive_rate, 1)
    mention = compile_watchlist(mention_spec(shipped_spec()))
    precision, recall = seed_quality(lambda text: {m.watch_id for m in mention.match(text)})
    naive_precision, naive_recall = seed_quality(Naive(shipped_spec()).match)
    extra = {
        "corpus_articles": len(corpus), "corpus_mb": round(megabytes, 2), "corpus_distinct_texts": len(texts),
        "shipped_forms": len(shipped.tables.surfaces), "big_terms": 5000, "big_watches": len(big.watches),
        "big_forms": len(big_matcher.tables.surfaces),
        "shipped_compile_s": round(shipped_compile, 3), "big_compile_s": round(big_compile, 3),
        "shipped_rss_mb": round(shipped_rss, 1), "big_rss_mb": round(big_rss, 1),
        "process_rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        "naive_5k_articles_per_s": round(naive_rate, 1),
        "shipped_fired_per_article": round(sum(len(shipped.match(t)) for t in corpus) / len(corpus), 2),
        "big_fired_per_article": round(sum(len(big_matcher.match(t)) for t in corpus) / len(corpus), 2),
        "naive_big_fired_per_article": round(sum(len(naive_big.match(t)) for t in corpus[:200]) / 200, 2),
        "seed_precision": precision, "seed_recall": recall,
        "naive_seed_precision": naive_precision, "naive_seed_recall": naive_recall,
        "normalize_check": normalize("مسيّرات") == "مسيرات",
    }
    for key, value in {**results, **extra}.items():
        print(f"{key}: {value}")
    path = ROOT / "bench" / "results.json"
    merged = json.loads(path.read_text("utf-8")) if path.exists() else {}
    merged.update(results)
    merged.update({f"matcher_detail_{k}": v for k, v in extra.items()})
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
