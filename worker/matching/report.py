"""Command bodies for ``newswatch match`` and ``newswatch check`` (the CLI wires argparse to these)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from worker.matching.matcher import Matcher
from worker.matching.results import Claim, WatchMatch
from worker.matching.schema import ConceptSpec, NearSpec, WatchlistSpec, WatchSpec


@dataclass(frozen=True)
class Article:
    """An input file as the matcher sees it: the text (title on its first non-empty line)."""

    title: str
    text: str
    lang: str


def first_line(text: str) -> str:
    """The first non-empty line, stripped (the article title by convention)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def load_article(path: Path) -> Article:
    """Read a .txt article (first non-empty line = title) or extract an .html page.

    For HTML the matched text is the extracted title, a blank line, then the extracted body, so
    hit offsets refer to that text.
    """
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm"):
        from worker.extract import extract_page

        page = extract_page(raw, url=None)
        if page is None:
            return Article(title="", text="", lang="und")
        title = (page.title or "").strip()
        text = f"{title}\n\n{page.text}" if title else page.text
        return Article(title=title or first_line(text), text=text, lang=page.lang)
    from worker.extract import detect_language

    return Article(title=first_line(raw), text=raw, lang=detect_language(raw))


def match_to_json(match: WatchMatch) -> dict[str, object]:
    """The contract shape of one fired watch in ``newswatch match --json`` output."""
    return {
        "watch": match.watch_id,
        "score": match.score,
        "snippet": match.snippet,
        "hits": [{"id": h.id, "text": h.text, "start": h.start, "end": h.end, "weight": h.weight,
                  "variant": h.variant} for h in match.hits],
        "claim": match.claim.value,
    }


def _print_readable(path: Path, article: Article, matches: list[WatchMatch], out: TextIO) -> None:
    out.write(f"== {path}  [{article.lang}]  {article.title}\n")
    if not matches:
        out.write("   (no watch fired)\n")
    for m in matches:
        claim = "" if m.claim is Claim.UNCLASSIFIED else f"  claim {m.claim.value}"
        out.write(f"   {m.watch_id:<24} score {m.score:.2f}{claim}\n      {m.snippet}\n")
        forms = sorted({f"{h.text}{'*' if h.variant else ''}" for h in m.hits if h.weight > 0})
        out.write(f"      hits: {', '.join(forms)}\n")


def match_files(matcher: Matcher, paths: Sequence[Path], *, as_json: bool, out: TextIO) -> int:
    """Run the matcher over each file; print one JSON line per file (``as_json``) or a readable
    report. Return 0, or 1 when a file could not be read (reported on stderr, others still run)."""
    status = 0
    for path in paths:
        try:
            article = load_article(path)
        except OSError as exc:
            print(f"newswatch match: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        matches = matcher.match(article.text)
        if as_json:
            record = {"file": str(path), "title": article.title, "lang": article.lang,
                      "matches": [match_to_json(m) for m in matches]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            _print_readable(path, article, matches, out)
    return status


def _near(kind: str, near: NearSpec) -> str:
    only = f" (only {', '.join(near.terms)})" if near.terms else ""
    return f"{kind} within {near.near} words of {', '.join(near.concepts)}{only}"


def concept_options(concept: ConceptSpec) -> list[str]:
    """The concept's context rules and language limit, one readable line each."""
    lines = [_near("promote weak terms", concept.promote)] if concept.promote else []
    lines += [_near("mask hits", near) for near in concept.near_masks()]
    if concept.languages:
        lines.append(f"languages: {', '.join(concept.languages)}")
    return lines


def watch_summary(watch: WatchSpec) -> str:
    """One line: the watch's rule, mode and threshold, claim policy and languages."""
    threshold = watch.min_score if watch.min_score is not None else 2.0 if watch.mode == "about" else 1.0
    claims = {"flag": "flag (denied/speculative alert, marked)", "asserted": "asserted only",
              "all": "all (not classified)"}[watch.claims]
    languages = f" · languages {', '.join(watch.languages)}" if watch.languages else ""
    return f"{watch.rule} · {watch.mode} ≥ {threshold:g} · claims {claims}{languages}"


def forms_listing(spec: WatchlistSpec, matcher: Matcher) -> str:
    """Deterministic text listing every generated form and rejected variant, per id, each
    concept's context rules, and each watch's rule, threshold and claim policy."""
    lines = ["# newswatch watchlist lock: generated surface forms (normalised). Review and diff it.", ""]
    kinds = {**{k: "entity" for k in spec.entities}, **{k: "concept" for k in spec.concepts}}
    for key, forms in matcher.forms.items():
        lines.append(f"[{kinds.get(key, 'literal')} {key}]")
        if key in spec.concepts:
            lines += [f"  ({line})" for line in concept_options(spec.concepts[key])]
        lines += [f"  {line}" for line in forms]
        rejected = matcher.rejected_variants.get(key, ())
        lines += [f"  rejected variant {r.variant}: {r.reason}" for r in rejected]
        lines.append("")
    for watch in spec.watches:
        lines += [f"[watch {watch.id}]", f"  {watch_summary(watch)}", ""]
    return "\n".join(lines)


def run_examples(spec: WatchlistSpec, matcher: Matcher) -> list[str]:
    """Check every watch's examples; return one readable failure description per broken example."""
    failures: list[str] = []
    for watch in spec.watches:
        cases = ((True, watch.examples.should_match), (False, watch.examples.should_not_match))
        for expected, texts in cases:
            for text in texts:
                matches = {m.watch_id: m for m in matcher.match(text)}
                if (watch.id in matches) == expected:
                    continue
                if expected:
                    policy = " (claims: asserted: a denied or speculative report does not fire)" \
                        if watch.claims == "asserted" else ""
                    failures.append(f"watch {watch.id!r} should match but did not{policy}:\n    {text!r}")
                else:
                    m = matches[watch.id]
                    hits = ", ".join(f"{h.id}:{h.text}" for h in m.hits)
                    claim = "" if m.claim is Claim.UNCLASSIFIED else f", claim {m.claim.value}"
                    failures.append(f"watch {watch.id!r} should not match but fired (score {m.score}{claim}, "
                                    f"hits {hits}):\n    {m.snippet}")
    return failures


def check_watchlist(spec: WatchlistSpec, matcher: Matcher, *, out: TextIO,
                    lock_path: Path | None = None) -> int:
    """Print the generated forms (or write them to ``lock_path``), run every watch's examples and
    report failures readably. Return 0 when all examples pass, else 1."""
    listing = forms_listing(spec, matcher)
    if lock_path is not None:
        lock_path.write_text(listing + "\n", encoding="utf-8")
        out.write(f"wrote {lock_path}\n")
    else:
        out.write(listing + "\n")
    failures = run_examples(spec, matcher)
    total = sum(len(w.examples.should_match) + len(w.examples.should_not_match) for w in spec.watches)
    for failure in failures:
        out.write(f"FAIL {failure}\n")
    out.write(f"examples: {total - len(failures)}/{total} passed\n")
    return 1 if failures else 0
