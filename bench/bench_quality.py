"""Matching and extraction quality on real text (../shared), beside a naive baseline in the same run.

Run: .venv/bin/python bench/bench_quality.py [--shared DIR] [--per-watch]
Prints `key: value` lines and merges its keys into bench/results.json (details as `quality_detail_*`).
The texts are read from ../shared at run time and never copied here. Without ../shared it says so
and exits 0.

What is measured, exactly:

* Devset (``<shared>/devset/matching``: labels.yaml and articles/): each article's file text is
  matched as is (first non-empty line = title).
* quality_topics_macro_f1 (primary): per topic watch of the shipped newswatch.yaml (drones,
  sanctions, defence_agreement, missiles, nuclear) as shipped, fired vs the article's
  ``primary_topics`` (should alert); F1 per topic, mean over the topics.
* quality_topics_mentioned_macro_f1: the same watches in ``mode: mention`` vs ``mentioned_topics``.
* quality_entities_macro_f1: one ``mode: mention`` watch per labelled entity id (``rule: <id>``) over
  the shipped entities, vs ``entities``; an entity the watchlist lacks scores 0.
* quality_claims_accuracy: on on_topic items whose claim is labelled and where a primary topic
  watch fired, the claim of the best-scoring such watch vs the label (``naive_claims_accuracy``:
  always "asserted", on the same items).
* naive_*: the same keys for the naive baseline: per watch, a plain lower-cased substring search
  of its concepts'/entities' terms as written (no normalisation, no boundaries, no masks, no rule
  operators, no scores); as naive in mention mode as in about mode.
* lang_*: ar/fa/ur/en accuracy of ``worker.matching.language.article_language`` and of
  ``worker.extract.detect_language`` (py3langid) on the devset texts, whole and cut to their first
  120 characters.
* Realworld (``<shared>/realworld``): every page with ground truth named in PROVENANCE.md is run
  through ``worker.extract.extract_page``. extract_include_ratio: share of must-include snippets
  found in the extracted text (snippets whitespace-normalised); extract_exclude_leaks: must-exclude
  snippets found; extract_word_precision / extract_word_recall: bag-of-words overlap with the
  expected text (newspaper4k .expected.txt, Readability .expected.html, scrapinghub articleBody),
  micro-averaged over pages.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from lxml import html as lxml_html

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.extract import decode_body, detect_language, extract_page  # noqa: E402
from worker.matching import compile_watchlist  # noqa: E402
from worker.matching.language import article_language  # noqa: E402
from worker.matching.schema import TermSpec, WatchlistSpec  # noqa: E402

TOPICS = ("drones", "sanctions", "defence_agreement", "missiles", "nuclear")
Predict = Callable[[str], dict[str, str]]  # text → {fired watch id: claim}


def watchlist() -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / "newswatch.yaml").read_text("utf-8"))
    return {key: raw[key] for key in ("entities", "concepts", "watches") if key in raw}


def topic_spec(data: dict[str, Any], *, mention: bool) -> WatchlistSpec:
    watches = [dict(w) for w in data["watches"] if w["id"] in TOPICS]
    for watch in watches:
        watch.pop("examples", None)
        if mention:
            watch["mode"] = "mention"
            watch.pop("min_score", None)
    return WatchlistSpec.model_validate({**data, "watches": watches})


def entity_spec(data: dict[str, Any], ids: Iterable[str]) -> WatchlistSpec:
    watches = [{"id": key, "title": key, "rule": key, "mode": "mention", "claims": "all"}
               for key in ids if key in data["entities"]]
    return WatchlistSpec.model_validate({**data, "watches": watches})


def matcher_predict(spec: WatchlistSpec) -> Predict:
    matcher = compile_watchlist(spec)
    return lambda text: {m.watch_id: m.claim.value for m in matcher.match(text)}


def _written(term: str | TermSpec) -> str:
    text = term.t if isinstance(term, TermSpec) else term
    return re.sub(r"~\d+$", "", text).replace("=", "").strip().lower()


def naive_predict(spec: WatchlistSpec) -> Predict:
    """Per watch, every term of every id its rule names, searched as a lower-cased substring."""
    rules: list[tuple[str, list[str]]] = []
    for watch in spec.watches:
        ids = re.findall(r"[a-z0-9_]+", re.sub(r'"[^"]*"|NEAR/\d+|AND|OR|NOT|SENT', " ", watch.rule))
        terms: list[str] = []
        for key in ids:
            if key in spec.concepts:
                terms += [_written(t) for t in spec.concepts[key].terms + spec.concepts[key].weak]
            elif key in spec.entities:
                entity = spec.entities[key]
                terms += [_written(t) for t in entity.names + entity.adjectives + entity.metonyms]
        rules.append((watch.id, sorted(set(terms))))

    def predict(text: str) -> dict[str, str]:
        lowered = text.lower()
        return {wid: "asserted" for wid, terms in rules if any(t in lowered for t in terms)}
    return predict


def macro_f1(items: list[tuple[set[str], set[str]]], labels: Iterable[str]) -> tuple[float, dict[str, str]]:
    """Mean F1 over ``labels`` of (fired, gold) pairs, and a per-label "P/R/F1 tp fp fn" line."""
    f1s, detail = [], {}
    for label in labels:
        tp = sum(1 for fired, gold in items if label in fired and label in gold)
        fp = sum(1 for fired, gold in items if label in fired and label not in gold)
        fn = sum(1 for fired, gold in items if label not in fired and label in gold)
        p = tp / (tp + fp) if tp + fp else 1.0 if not fn else 0.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        f1s.append(f1)
        detail[label] = f"P {p:.2f} R {r:.2f} F1 {f1:.2f} (tp {tp} fp {fp} fn {fn})"
    return round(sum(f1s) / max(len(f1s), 1), 3), detail


def devset_figures(devset: Path, prefix: str, predictors: dict[str, Predict],
                   articles: list[tuple[dict[str, Any], str]], entities: list[str]) -> dict[str, Any]:
    about, mention, ents = (predictors[k] for k in ("about", "mention", "entities"))
    fired_about = [about(text) for _, text in articles]
    topics, topic_detail = macro_f1([(set(f), set(a["primary_topics"])) for (a, _), f in
                                     zip(articles, fired_about, strict=True)], TOPICS)
    mentioned, _ = macro_f1([(set(mention(text)), set(a["mentioned_topics"])) for a, text in articles],
                            TOPICS)
    entity_f1, entity_detail = macro_f1([(set(ents(text)), set(a["entities"])) for a, text in articles],
                                        entities)
    right = total = 0
    for (label, _), fired in zip(articles, fired_about, strict=True):
        primary = [t for t in label["primary_topics"] if t in fired]
        if label.get("claim") and primary:
            total += 1
            right += fired[primary[0]] == label["claim"]
    out: dict[str, Any] = {
        f"{prefix}topics_macro_f1": topics, f"{prefix}topics_mentioned_macro_f1": mentioned,
        f"{prefix}entities_macro_f1": entity_f1,
        f"{prefix}claims_accuracy": round(right / total, 3) if total else 0.0,
        f"{prefix}claims_items": total,
    }
    out.update({f"{prefix}topic_{k}": v for k, v in topic_detail.items()})
    out.update({f"{prefix}entity_{k}": v for k, v in entity_detail.items()})
    return out


def language_figures(articles: list[tuple[dict[str, Any], str]]) -> dict[str, float]:
    out = {}
    for name, detect in (("matcher", article_language), ("py3langid", detect_language)):
        for cut, suffix in ((None, ""), (120, "_short")):
            right = sum(detect(text.strip()[:cut]) == label["lang"] for label, text in articles)
            out[f"lang_{name}_accuracy{suffix}"] = round(right / len(articles), 3)
    return out


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _expected_text(markup: str) -> str:
    """The words of a ground-truth `.expected.html` body (text nodes joined by spaces)."""
    root = lxml_html.fromstring(markup)
    for bad in root.xpath("//script | //style"):
        bad.drop_tree()
    return _squeeze(" ".join(root.itertext()))


def realworld_figures(realworld: Path) -> dict[str, Any]:
    """Extraction quality on the pages whose ground truth PROVENANCE.md names (see the docstring)."""
    provenance = (realworld / "PROVENANCE.md").read_text("utf-8")
    pages = realworld / "pages"
    truth_dir = pages / "groundtruth"
    trafilatura = {v["file"]: v for v in json.loads((truth_dir / "trafilatura_tests_evaldata.json")
                                                    .read_text("utf-8")).values() if "file" in v}
    scrapinghub = json.loads((truth_dir / "scrapinghub_article-extraction-benchmark_ground-truth.json")
                             .read_text("utf-8"))
    checks: dict[str, tuple[list[str], list[str]]] = {}
    expected: dict[str, str] = {}
    for row in provenance.splitlines():
        m = re.match(r"\| `pages/([^`]+\.html)` \|", row)
        if not m or ".expected" in m.group(1):
            continue
        name = m.group(1)
        inc = re.search(r"includes (\[.*?\])", row)
        exc = re.search(r"excludes (\[.*?\])", row)
        include = list(ast.literal_eval(inc.group(1))) if inc else []
        exclude = list(ast.literal_eval(exc.group(1))) if exc and exc.group(1).startswith("['") else []
        file_key = re.search(r"entry \(file ([\w.\-]+\.html)", row)
        if file_key and file_key.group(1) in trafilatura:
            entry = trafilatura[file_key.group(1)]
            include += entry.get("with", [])
            exclude += entry.get("without", [])
        body_key = re.search(r"articleBody under key ([0-9a-f]{64})", row)
        if body_key and body_key.group(1) in scrapinghub:
            expected[name] = scrapinghub[body_key.group(1)]["articleBody"]
        stem = name[: -len(".html")]
        if (pages / f"{stem}.expected.txt").exists():
            expected[name] = (pages / f"{stem}.expected.txt").read_text("utf-8", errors="replace")
        elif (pages / f"{stem}.expected.html").exists():
            expected[name] = _expected_text((pages / f"{stem}.expected.html").read_text("utf-8"))
        if include or exclude:
            checks[name] = (include, exclude)
    sky = re.search(r"must include (.*?)\. It must not include (.*?)\.\s", provenance)
    if sky:
        sky_page = next((p.name for p in pages.glob("ar_skynewsarabia*.html")), None)
        if sky_page:
            quoted = re.compile(r'"([^"]+)"')
            checks[sky_page] = (quoted.findall(sky.group(1)), quoted.findall(sky.group(2)))
    texts: dict[str, str] = {}
    for name in sorted(set(checks) | set(expected)):
        page = extract_page(decode_body((pages / name).read_bytes(), None), url=None)
        texts[name] = _squeeze(f"{page.title or ''}\n{page.text}") if page else ""
    found = sum(_squeeze(s) in texts[n] for n, (inc, _) in checks.items() for s in inc)
    wanted = sum(len(inc) for inc, _ in checks.values())
    leaks = sum(_squeeze(s) in texts[n] for n, (_, exc) in checks.items() for s in exc)
    overlap = got = want = 0
    for name, truth in expected.items():
        have, need = _words(texts[name]), _words(truth)
        overlap += sum((have & need).values())
        got += sum(have.values())
        want += sum(need.values())
    return {
        "extract_include_ratio": round(found / max(wanted, 1), 3), "extract_exclude_leaks": leaks,
        "extract_word_precision": round(overlap / max(got, 1), 3),
        "extract_word_recall": round(overlap / max(want, 1), 3),
        "extract_detail_pages_checked": len(checks), "extract_detail_pages_with_text": len(expected),
        "extract_detail_includes": wanted,
        "extract_detail_excludes": sum(len(exc) for _, exc in checks.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--per-watch", action="store_true", help="print per-topic/entity P/R/F1 lines too")
    args = parser.parse_args()
    devset, realworld = args.shared / "devset" / "matching", args.shared / "realworld"
    if not (devset / "labels.yaml").exists():
        print(f"quality: skipped: {devset} is absent")
        return 0
    labels = yaml.safe_load((devset / "labels.yaml").read_text("utf-8"))
    articles = [(a, (devset / a["file"]).read_text("utf-8")) for a in labels["articles"]]
    entities = sorted(labels["schema"]["entities"])
    data = watchlist()
    specs = {"about": topic_spec(data, mention=False), "mention": topic_spec(data, mention=True),
             "entities": entity_spec(data, entities)}
    results: dict[str, Any] = {}
    results.update(devset_figures(devset, "quality_", {k: matcher_predict(s) for k, s in specs.items()},
                                  articles, entities))
    results.update(devset_figures(devset, "naive_", {k: naive_predict(s) for k, s in specs.items()},
                                  articles, entities))
    # The naive baseline has no claim status: it says "asserted" every time, scored on the matcher's
    # claim items (on_topic, claim labelled, a primary topic watch fired).
    about = matcher_predict(specs["about"])
    items = [a["claim"] for a, text in articles
             if a.get("claim") and set(a["primary_topics"]) & set(about(text))]
    results["naive_claims_accuracy"] = round(items.count("asserted") / max(1, len(items)), 3)
    results["naive_claims_items"] = len(items)
    results.update(language_figures(articles))
    if (realworld / "PROVENANCE.md").exists():
        results.update(realworld_figures(realworld))
    else:
        print(f"extract: skipped: {realworld} is absent")
    main_keys = [k for k in results if not re.match(r"(quality|naive)_(topic|entity)_", k)]
    for key in main_keys if not args.per_watch else results:
        print(f"{key}: {results[key]}")
    path = ROOT / "bench" / "results.json"
    merged = json.loads(path.read_text("utf-8")) if path.exists() else {}
    merged.update({k: v for k, v in results.items() if k in main_keys})
    merged.update({f"quality_detail_{k}": v for k, v in results.items() if k not in main_keys})
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
