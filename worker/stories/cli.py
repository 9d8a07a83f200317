"""`newswatch stories`: the offline evaluation contract (`--json FILE.jsonl`) and the story listing.

Contract: each input line is `{"id", "title", "text", "source", "url", "published" (ISO 8601 or
null), "lang" (or null)}`; other fields are ignored. Articles are assigned in file order, each
as if it arrived at its `published` time (a null time: the previous article's, or now for the
first), through `StoryClusterer` — the code the service uses — on a temporary SQLite store. One
output line per article: `{"id", "story", "new", "why"}`; story ids are opaque strings. A bad line
stops the run with exit status 2 and a message naming the line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from worker.config import Settings
from worker.schema import make_engine
from worker.stories.features import StoryInput
from worker.stories.service import StoryClusterer, recent_stories


class ContractError(ValueError):
    """An input line does not follow the contract; the message names the line."""


def add_parser(subparsers: Any) -> None:
    """Register `stories` on the `newswatch` command's subparsers."""
    parser = subparsers.add_parser("stories", help="recent stories, or cluster a JSONL file (--json)")
    parser.add_argument("--config", default=argparse.SUPPRESS,
                        help="configuration file (as the global --config)")
    parser.add_argument("--json", type=Path, metavar="FILE.jsonl",
                        help="assign the articles of FILE on a temporary store; one JSON line each")
    parser.add_argument("--limit", type=int, default=20, help="stories to list (without --json)")
    parser.set_defaults(command=_cmd_stories)


def _cmd_stories(settings: Settings, args: argparse.Namespace) -> int:
    if args.json is None:
        return list_stories(settings, args.limit, sys.stdout)
    try:
        with args.json.open(encoding="utf-8") as lines:
            run_contract(settings, lines, sys.stdout)
    except OSError as exc:
        print(f"newswatch: stories: cannot read {args.json}: {exc}", file=sys.stderr)
        return 2
    except ContractError as exc:
        print(f"newswatch: stories: {args.json}: {exc}", file=sys.stderr)
        return 2
    return 0


def parse_line(raw: str, number: int) -> StoryInput:
    """One contract line as a `StoryInput` (the `id` is the idempotency key)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ContractError(f"line {number}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str | int):
        raise ContractError(f"line {number}: expected an object with a string `id`")
    published = data.get("published")
    when = None
    if published is not None:
        try:
            stamp = datetime.fromisoformat(str(published))
        except ValueError:
            raise ContractError(f"line {number}: published: not ISO 8601: {published!r}") from None
        when = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    fields = {k: data.get(k) for k in ("title", "text", "source", "url", "lang")}
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise ContractError(f"line {number}: {key}: expected a string or null")
    return StoryInput(key=str(data["id"]), title=fields["title"] or "", text=fields["text"] or "",
                      source=fields["source"] or "", url=fields["url"], lang=fields["lang"] or None,
                      published_at=when)


def run_contract(settings: Settings, lines: Iterable[str], out: TextIO,
                 clusterer: StoryClusterer | None = None) -> int:
    """Assign every article of `lines` on a fresh temporary store; returns the article count."""
    clusterer = clusterer or StoryClusterer.from_settings(settings)
    count = 0
    with tempfile.TemporaryDirectory(prefix="newswatch-stories-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'stories.db'}")
        try:
            now: float | None = None
            for number, raw in enumerate(lines, 1):
                if not raw.strip():
                    continue
                article = parse_line(raw, number)
                now = article.published_at if article.published_at is not None else now or time.time()
                decision = clusterer.assign_tx(engine, article, now)
                out.write(json.dumps({"id": article.key, "story": str(decision.story_id), "new": decision.new,
                                      "why": decision.why}, ensure_ascii=False) + "\n")
                count += 1
        finally:
            engine.dispose()
    out.flush()
    return count


def list_stories(settings: Settings, limit: int, out: TextIO) -> int:
    """Print the most recently updated stories of the configured store."""
    from worker.messages import recent_messages
    from worker.runtime import Runtime

    rt = Runtime(settings)
    try:
        with rt.engine.connect() as conn:
            found = recent_stories(conn, limit)
            sent = recent_messages(conn, 50 * max(limit, 1), [s.story_id for s in found])
    finally:
        rt.close()
    if not found:
        out.write("no stories yet\n")
    for story in found:
        out.write(f"{_when(story.first_seen_at)}  story {story.story_id}  {story.headline[:100]}\n"
                  f"    {story.articles} article(s) from {len(story.outlets)} outlet(s): "
                  f"{', '.join(story.outlets[:8])}{' …' if len(story.outlets) > 8 else ''}; "
                  f"languages: {', '.join(story.languages)}"
                  f"{'; alerted ' + _when(story.alerted_at) if story.alerted_at else ''}\n")
        for m in sorted((m for m in sent if m.story_id == story.story_id), key=lambda m: m.message_id):
            states = ", ".join(f"{state} {label}" for label, state, _ in m.deliveries) or "no destination"
            out.write(f"    {_when(m.created_at)}  {m.kind} message ({m.reason}): {', '.join(m.watches)}"
                      f"  [{states}]\n")
    return 0


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
