"""The loopback news site and the configurations of the pipeline benchmark (bench_pipeline.py).

Pages are the seed articles made unique (a numbered paragraph in front), grouped into feeds of
`per_feed` items; "event" pages each report an event of their own (made-up town and people), so
each starts a story and sends one message. A `Ticker` feed grows while the bench runs: the bench
publishes event items on it at a chosen rate, each poll stores the items added since the last.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.integration.helpers import shipped_watchlist

ROOT = Path(__file__).resolve().parents[1]
SEED_PAGES = sorted((ROOT / "seeds" / "site" / "articles").glob("*.html"))
_LETTERS = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"


def build_group(root: Path, prefix: str, feeds: int, per_feed: int) -> list[str]:
    """`feeds` feeds named `<prefix><i>` of `per_feed` distinct seed-based pages each; their names."""
    articles = root / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    pages = [p.read_text(encoding="utf-8") for p in SEED_PAGES]
    for n in range(feeds * per_feed):
        html = pages[n % len(pages)].replace("</title>", f" — {prefix}{n}</title>", 1)
        html = re.sub(r"(<p[ >])", f"<p>تحديث رقم {n} من غرفة الأخبار {prefix}.</p>\\1", html, count=1)
        (articles / f"{prefix}{n}.html").write_text(html, encoding="utf-8")
    names = [f"{prefix}{f}" for f in range(feeds)]
    for f, name in enumerate(names):
        write_feed(root / f"{name}.xml", [f"{prefix}{n}" for n in range(f * per_feed, (f + 1) * per_feed)])
    return names


def _name(n: int, k: int) -> str:
    """A made-up word unique to (n, k): the rare names of one event."""
    x, out = n * 7 + k + 1000, ""
    while x:
        x, r = divmod(x, len(_LETTERS))
        out += _LETTERS[r]
    return out + "ان"


def event_page(n: int) -> str:
    """A page about an event of its own (a drone strike on a made-up town)."""
    town, chief, unit = _name(n, 1), _name(n, 2), _name(n, 3)
    paras = [
        f"أعلن مسؤولون أن طائرات مسيرة إيرانية الصنع أطلقتها روسيا أصابت مستودعا في بلدة {town} فجر اليوم.",
        f"وقال رئيس البلدية {chief} إن الهجوم الذي نفذته وحدة {unit} ألحق أضرارا بمحطة الكهرباء في {town}.",
        f"وأضاف {chief} أن فرق الإنقاذ عملت لساعات في {town} وأن الطائرات المسيرة من طراز شاهد.",
        f"ولم تعلق موسكو ولا طهران على الهجوم على {town}، فيما طالب {chief} بمزيد من أنظمة الدفاع الجوي.",
    ]
    body = "".join(f"<p>{p}</p>" for p in paras)
    title = f"طائرات مسيرة إيرانية تضرب بلدة {town}"
    return (
        f'<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><article><h1>{title}</h1>{body}</article></body></html>"
    )


def write_feed(path: Path, slugs: list[str]) -> None:
    """An RSS document listing `articles/<slug>.html` for each slug, newest first."""
    items = "".join(
        f"<item><title>خبر {s}</title><link>articles/{s}.html</link>"
        f'<guid isPermaLink="false">bench-{s}</guid><description>ملخص {s}</description></item>'
        for s in reversed(slugs)
    )
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{path.stem}</title>{items}</channel></rss>",
        encoding="utf-8",
    )


class Ticker:
    """A feed of event pages that grows as the bench publishes (the feed keeps the last 200)."""

    def __init__(self, root: Path, name: str, first: int) -> None:
        self.path, self.root, self.next, self.slugs = root / f"{name}.xml", root, first, []
        self.name = name
        write_feed(self.path, [])

    def publish(self, count: int) -> None:
        """Add `count` new event items (their pages first, then the feed)."""
        for _ in range(count):
            slug = f"ev{self.next}"
            (self.root / "articles" / f"{slug}.html").write_text(event_page(self.next), encoding="utf-8")
            self.slugs.append(slug)
            self.next += 1
        tmp = self.path.with_suffix(".tmp")
        write_feed(tmp, self.slugs[-200:])
        tmp.replace(self.path)


def write_config(
    path: Path, feeds: list[str], site: str, hook: str, db: str | None, broker: str | None
) -> Path:
    """A configuration over `feeds` of `site` with the shipped watchlist, every watch routed to the
    webhook (sends are part of the work); db/broker None: the embedded defaults in data_dir."""
    watchlist = shipped_watchlist()
    for watch in watchlist["watches"]:
        watch["channels"] = ["hook"]
    service: dict[str, Any] = {"data_dir": str(path.parent / "data"), "log_level": "WARNING"}
    if db:
        service["database_url"] = db
    if broker:
        service["broker_url"] = broker
    tree = {
        "service": service,
        # One loopback host stands for the many hosts of real feeds: per-host politeness off.
        "fetch": {"per_host_concurrency": 64, "per_host_spacing_s": 0},
        "feeds": [
            {"name": f, "url": f"{site}{f}.xml", "interval": 86400, "allow_private": True, "backfill": "all"}
            for f in feeds
        ],
        "channels": {"hook": [hook]},
        **watchlist,
    }
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return path
