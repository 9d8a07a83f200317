"""`newswatch backtest`: what a candidate watchlist would have alerted on, replayed over the store.

The stored articles processed since `--since` are matched again with the candidate configuration
(the `--config` file) and compared, per watch, with what the service matched at the time (the
`alerts` rows: the running watchlist's verdicts). Nothing is written: the store is opened through
the read-only engine of `newswatch serve`.

Counts are what an analyst would have received, not keyword hits: articles are grouped by the
story the service assigned them to (`story_members`), a watch appears once per story (in its first
message or in the follow-up that first lists it), and `messages.cooldown.watches` applies: a
story's message leaves a watch out while that watch was announced, for another story, within its
cooldown. Both sides are counted under the candidate's cooldowns, so the comparison shows what the
matching change does. Channel cooldowns, quiet hours and follow-up caps are per channel and are not
replayed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from worker.config import Settings, duration_seconds
from worker.matching import Matcher, compile_watchlist
from worker.schema import alerts, articles
from worker.stories.schema import story_members

SAMPLES = 3  # snippets kept per watch for new and for lost articles


REPORTS_DIR = "backtests"  # under service.data_dir: every backtest's report, for the dashboard


@dataclass
class WatchReport:
    """One watch: articles and stories (messages) under both watchlists, and what changed."""

    watch_id: str
    title: str
    running_articles: int = 0
    candidate_articles: int = 0
    running_messages: int = 0
    candidate_messages: int = 0
    new: int = 0  # articles the candidate alerts on and the running watchlist did not
    lost: int = 0  # the other way round
    new_samples: list[str] = field(default_factory=list)
    lost_samples: list[str] = field(default_factory=list)


@dataclass
class BacktestReport:
    """The whole replay: `watches` sorted by id (watches of either watchlist)."""

    since: float
    articles: int
    watches: list[WatchReport]

    def to_json(self) -> str:
        """The report as one JSON document (stable key order)."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class _Fired:
    article_id: int
    story: int | None
    at: float
    watches: dict[str, str]  # watch id → snippet


def backtest(engine: Engine, candidate: Settings, since: float,
             progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None) -> BacktestReport:
    """Replay the articles processed since `since` through `candidate` (see the module docstring).
    `progress(rows, total)` may wrap the article iteration (a progress bar)."""
    matcher = compile_watchlist(candidate)
    with engine.connect() as conn:
        rows = conn.execute(
            select(articles.c.id, articles.c.title, articles.c.text, articles.c.processed_at,
                   story_members.c.story_id)
            .outerjoin(story_members, story_members.c.article_id == articles.c.id)
            .where(articles.c.processed_at >= since, articles.c.extracted_from != "notice")
            .order_by(articles.c.processed_at, articles.c.id)
        ).all()
        stored = conn.execute(
            select(alerts.c.article_id, alerts.c.watch_id, alerts.c.watch_title, alerts.c.snippet)
            .join(articles, articles.c.id == alerts.c.article_id)
            # operator notices and spikes (`spike:<watch>`) are not matches of a watch
            .where(articles.c.processed_at >= since, articles.c.extracted_from != "notice",
                   ~alerts.c.watch_id.contains(":"))
        ).all()
    running: dict[int, dict[str, str]] = defaultdict(dict)
    titles = {w.id: w.title for w in candidate.watches}
    for article_id, watch_id, watch_title, snippet in stored:
        running[article_id][watch_id] = snippet
        titles.setdefault(watch_id, watch_title)
    then: list[_Fired] = []
    now: list[_Fired] = []
    for row in progress(rows, len(rows)) if progress else rows:
        then.append(_Fired(row.id, row.story_id, row.processed_at, running.get(row.id, {})))
        now.append(_Fired(row.id, row.story_id, row.processed_at, _match(matcher, row.title, row.text)))
    cooldowns = candidate.messages.cooldown.watches
    reports = {w: WatchReport(w, t) for w, t in titles.items()}
    for watch_id, report in reports.items():
        report.running_messages = _messages(then, watch_id, cooldowns.get(watch_id, 0.0))
        report.candidate_messages = _messages(now, watch_id, cooldowns.get(watch_id, 0.0))
    for old, new in zip(then, now, strict=True):
        for watch_id in old.watches.keys() | new.watches.keys():
            report = reports[watch_id]
            report.running_articles += watch_id in old.watches
            report.candidate_articles += watch_id in new.watches
            if watch_id not in old.watches:
                report.new += 1
                _sample(report.new_samples, new.watches[watch_id])
            elif watch_id not in new.watches:
                report.lost += 1
                _sample(report.lost_samples, old.watches[watch_id])
    return BacktestReport(since, len(rows), [reports[w] for w in sorted(reports)])


def _match(matcher: Matcher, title: str, text: str) -> dict[str, str]:
    # the text exactly as processing matches it (worker/processing.py)
    found = matcher.match(f"{title}\n\n{text}" if title else text)
    return {m.watch_id: m.snippet for m in found}


def _messages(fired: list[_Fired], watch_id: str, cooldown: float) -> int:
    """Messages showing `watch_id`: once per story, in processing order, skipped while the watch's
    cooldown from its last announcement (for another story) runs."""
    announced: set[int] = set()
    last_at: float | None = None
    count = 0
    for f in fired:
        if watch_id not in f.watches:
            continue
        story = f.story if f.story is not None else -f.article_id  # no story: the article alone
        if story in announced:
            continue
        if last_at is not None and cooldown and f.at - last_at < cooldown:
            continue
        announced.add(story)
        last_at = f.at
        count += 1
    return count


def _sample(samples: list[str], snippet: str) -> None:
    if len(samples) < SAMPLES:
        samples.append(snippet)


def render_text(report: BacktestReport) -> str:
    """The report as aligned plain text, one block per watch with changes first."""
    lines = [f"{report.articles} stored article(s) replayed",
             f"{'watch':<24} {'articles run→cand':>18} {'messages run→cand':>18} {'new':>5} {'lost':>5}"]
    for w in sorted(report.watches, key=lambda w: (-(w.new + w.lost), w.watch_id)):
        lines.append(f"{w.watch_id[:24]:<24} {f'{w.running_articles} → {w.candidate_articles}':>18} "
                     f"{f'{w.running_messages} → {w.candidate_messages}':>18} {w.new:>5} {w.lost:>5}")
        lines += [f"    + {s}" for s in w.new_samples] + [f"    - {s}" for s in w.lost_samples]
    return "\n".join(lines) + "\n"


def render_html(report: BacktestReport) -> str:
    """The report as one self-contained HTML page; every snippet is escaped and direction-isolated."""
    def snippets(sign: str, items: list[str]) -> str:
        return "".join(f'<p class="{sign}" dir="auto">{html.escape(s)}</p>' for s in items)

    rows = "".join(
        f"<tr><td><bdi>{html.escape(w.title)}</bdi> <code>{html.escape(w.watch_id)}</code></td>"
        f"<td>{w.running_articles} → {w.candidate_articles}</td>"
        f"<td>{w.running_messages} → {w.candidate_messages}</td><td>{w.new}</td><td>{w.lost}</td>"
        f"<td>{snippets('new', w.new_samples)}{snippets('lost', w.lost_samples)}</td></tr>"
        for w in report.watches
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>newswatch backtest</title>'
        "<style>body{font-family:system-ui,'Noto Naskh Arabic','Noto Sans Arabic',sans-serif}"
        "td{vertical-align:top;border-top:1px solid #ccc;padding:4px}.new{color:#060}.lost{color:#900}"
        "</style></head><body>"
        f"<h1>Backtest: {report.articles} stored article(s)</h1><table><tr><th>watch</th>"
        "<th>articles (running → candidate)</th><th>messages</th><th>new</th><th>lost</th>"
        f"<th>samples</th></tr>{rows}</table></body></html>\n"
    )


def add_parser(subparsers: Any) -> None:
    """Register `backtest` on the `newswatch` command's subparsers."""
    parser = subparsers.add_parser("backtest", help="replay stored articles through a candidate watchlist")
    parser.add_argument("--config", default=argparse.SUPPRESS,
                        help="the candidate configuration (its store is the one replayed)")
    parser.add_argument("--since", default="7d", help="how far back: a duration such as 7d, 36h (default 7d)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write the report as HTML")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(command=_cmd_backtest)


def _cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from worker.serve.readonly import readonly_engine

    try:
        since = time.time() - duration_seconds(args.since)
    except ValueError as exc:
        print(f"newswatch: backtest: --since {args.since!r}: {exc}", file=sys.stderr)
        return 2
    engine = readonly_engine(settings.database_url)

    def bar(rows: Iterable[Any], total: int) -> Iterable[Any]:
        shown: Iterable[Any] = tqdm(rows, total=total, unit="article", disable=not sys.stderr.isatty(),
                                    file=sys.stderr)
        return shown

    try:
        report = backtest(engine, settings, since, bar)
    finally:
        engine.dispose()
    print(report.to_json() if args.json else render_text(report), end="\n" if args.json else "")
    if args.html:
        args.html.write_text(render_html(report), encoding="utf-8")
    candidate = str(getattr(args, "config", None) or os.environ.get("NEWSWATCH_CONFIG") or "newswatch.yaml")
    try:
        saved = save_report(settings.service.data_dir / REPORTS_DIR, report, Path(candidate).name,
                            window=args.since)
    except OSError as exc:
        print(f"newswatch: backtest: cannot keep the report for the dashboard: {exc}", file=sys.stderr)
        return 1
    print(f"newswatch: report kept as {saved} (the dashboard lists it)", file=sys.stderr)
    return 0


def save_report(folder: Path, report: BacktestReport, candidate: str, now: float | None = None,
                window: str | None = None) -> Path:
    """Keep `report` as `<folder>/<UTC time>.json` (with the candidate file's name and the
    `--since` given) and `.html` beside it, for the dashboard's backtest page; the JSON path.
    Files only: the store is untouched. The HTML is written first and the JSON, which is what the
    dashboard lists, renamed into place last, so a listed report is always complete."""
    folder.mkdir(parents=True, exist_ok=True)
    at = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))
    body = {"candidate": candidate, "created_at": at, "window": window, **json.loads(report.to_json())}
    for n in range(1, 1000):  # two runs in one second: 20260101T000000Z-2, ...
        name = stamp if n == 1 else f"{stamp}-{n}"
        try:
            with (folder / f"{name}.html").open("x", encoding="utf-8") as out:  # claims the name
                out.write(render_html(report))
        except FileExistsError:
            continue
        partial = folder / f".{name}.json.tmp"
        partial.write_text(json.dumps(body, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        return partial.replace(folder / f"{name}.json")
    raise FileExistsError(f"{folder}: no free report name for {stamp}")
