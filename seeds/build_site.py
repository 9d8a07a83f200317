"""Build the fixture news site under seeds/site/ from the five seed articles, deterministically.

Usage: ``python seeds/build_site.py [OUT_DIR]`` (default: the seeds directory itself). Writes
``OUT_DIR/site/feed.rss.xml``, ``OUT_DIR/site/feed.atom.xml``, ``OUT_DIR/site/articles/<stem>.html`` and
``OUT_DIR/expected_pages.yaml``. The seed ``.txt`` files are only read. Running it twice gives identical
bytes; tests/extract/test_site_fixtures.py checks that the committed files match a fresh build.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import yaml
from site_chrome import SITE_NAME, SITE_URL, Chrome, chrome_for
from site_parts import Article, t
from templates_classic import microdata, table_layout
from templates_modern import drupal, nextjs, wordpress

SEEDS_DIR = Path(__file__).resolve().parent
Template = Callable[[Article, Chrome], str]
SUBSTANTIVE = 60  # characters: shorter seed lines are sub-headings, captions or scraped UI labels
SCRIPT_MARKERS = ("dataLayer", "adsbygoogle", "buildId", "MM_swapImage", "@context", "Noto Naskh")


@dataclass(frozen=True)
class SeedMeta:
    """How the site publishes one seed: template, section, byline and publication time.

    `headline`: the article's own headline where the seed's first line is not one (page chrome, a
    date line, or no headline at all); `chrome`: scraped page furniture (site name, date line,
    share labels, repeated headline) that is not part of the article body.
    """

    template: Template
    section: str
    author: str
    published: datetime
    headline: str | None = None
    chrome: tuple[str, ...] = ()


def _tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


HEADLINE_001 = "وزير الدفاع الروسي يزور إيران.. تعاون عسكري طويل الأمد بين موسكو وطهران"
HEADLINE_003 = "اتصالات متزايدة.. موسكو مستعدة لتعزيز التعاون العسكري مع طهران"
HEADLINE_004 = "بوتين وبيزيشكيان يوقعان شراكة استراتيجية بين روسيا وإيران لمدة 20 عاماً"  # none in the seed

META: dict[str, SeedMeta] = {
    "000_6085b7264f9884e6": SeedMeta(wordpress, "أخبار العالم", "وكالات",
                                     datetime(2024, 1, 17, 10, 15, tzinfo=_tz(3))),
    "001_f29800354f5cf40f": SeedMeta(nextjs, "الشرق الأوسط", "محمود غراب",
                                     datetime(2024, 1, 24, 14, 40, tzinfo=_tz(2)),
                                     headline=HEADLINE_001,
                                     chrome=("الموقع الرسمي | القاهرة الاخبارية", "• مشاركة :",
                                             "post-title")),
    "002_12ba7111f2471564": SeedMeta(table_layout, "تقارير", "فريق التحرير",
                                     datetime(2024, 2, 12, 8, 5, tzinfo=_tz(0))),
    "003_227bb4d96c4cbcfe": SeedMeta(microdata, "أخبار العالم", "وكالات",
                                     datetime(2024, 5, 7, 16, 20, tzinfo=_tz(3)),
                                     headline=HEADLINE_003,
                                     chrome=("الثلاثاء 7 مايو / مايو 2024", "Changed")),
    "004_c4a9f35214ecb214": SeedMeta(drupal, "سياسة دولية", "المستقلة",
                                     datetime(2024, 10, 18, 11, 0, tzinfo=_tz(3)),
                                     headline=HEADLINE_004),
}


def summarize(paragraphs: tuple[str, ...], limit: int = 300) -> str:
    """First sentence or two of the first substantive paragraph, plain text, at most ``limit`` characters."""
    first = next(p for p in paragraphs if len(p) >= 100).strip()  # skip sub-headings and captions
    sentences = re.split(r"(?<=[.!?؟])\s+", first)
    summary = sentences[0]
    if len(summary) < 80 and len(sentences) > 1:
        summary = f"{summary} {sentences[1]}"
    if len(summary) > limit:
        summary = summary[:limit].rsplit(" ", 1)[0] + "…"
    return summary


def load_article(path: Path) -> Article:
    """Read one seed: the title is its headline (the first line, unless META names the real one),
    every other non-blank line that is neither the headline nor page chrome is a paragraph (text
    unchanged)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    meta = META[path.stem]
    title = meta.headline or lines[0].strip()
    body = lines if meta.headline and meta.headline not in lines[0] else lines[1:]
    skip = {title, *meta.chrome}
    paragraphs = tuple(line.rstrip() for line in body if line.strip() and line.strip() not in skip)
    return Article(stem=path.stem, title=title, paragraphs=paragraphs, section=meta.section,
                   author=meta.author, published=meta.published, summary=summarize(paragraphs))


def _window(words: list[str], start: int, size: int = 9) -> str:
    return " ".join(words[start:start + size])


def must_contain(article: Article) -> list[str]:
    """Phrases from the beginning, quarter points, middle (one whole paragraph) and end of the body."""
    body = [" ".join(p.split()) for p in article.paragraphs if len(p) >= SUBSTANTIVE]
    last = len(body) - 1
    phrases = [_window(body[0].split(), 0)]
    for idx in sorted({last // 4, (3 * last) // 4} - {0, last, last // 2}):
        phrases.append(_window(body[idx].split(), 2))
    phrases.append(body[last // 2])
    end_words = body[last].split()
    phrases.append(_window(end_words, max(0, len(end_words) - 9)))
    return phrases


def must_not_contain(article: Article, chrome: Chrome, html: str) -> list[str]:
    """Boilerplate visible on the page (and script markers present in it) that never occurs in the article."""
    article_text = " ".join([article.title, *article.paragraphs])
    candidates = [*chrome.marker_strings(), *(m for m in SCRIPT_MARKERS if m in html)]
    return [c for c in dict.fromkeys(candidates) if c not in article_text]


def rss_feed(articles: list[Article]) -> str:
    """RSS 2.0 with content: and dc: namespaces; item links are relative to the feed's own URL."""
    items = []
    for art in articles:
        content = "".join(f"<p>{t(p.strip())}</p>" for p in art.paragraphs)
        items.append(f"""  <item>
    <title>{t(art.title)}</title>
    <link>{art.path}</link>
    <guid isPermaLink="false">news.example:article:{art.stem.split("_", 1)[1]}</guid>
    <pubDate>{format_datetime(art.published)}</pubDate>
    <dc:creator>{t(art.author)}</dc:creator>
    <category>{t(art.section)}</category>
    <description>{t(art.summary)}</description>
    <content:encoded><![CDATA[{content}]]></content:encoded>
  </item>""")
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>{t(SITE_NAME)} - أخبار العالم</title>
  <link>{SITE_URL}</link>
  <description>آخر الأخبار والتقارير من {t(SITE_NAME)}</description>
  <language>ar</language>
  <lastBuildDate>{format_datetime(articles[0].published)}</lastBuildDate>
  <ttl>15</ttl>
{body}
</channel>
</rss>
"""


def atom_feed(articles: list[Article]) -> str:
    """Atom 1.0 with tag: URI ids; entry links are relative to the feed's own URL (no xml:base)."""
    entries = []
    for art in articles:
        stamp = art.published.isoformat()
        entries.append(f"""  <entry>
    <title>{t(art.title)}</title>
    <link rel="alternate" type="text/html" href="{art.path}"/>
    <id>tag:news.example,{art.published:%Y-%m-%d}:/{art.path}</id>
    <published>{stamp}</published>
    <updated>{stamp}</updated>
    <author><name>{t(art.author)}</name></author>
    <category term="{t(art.section)}"/>
    <summary type="text">{t(art.summary)}</summary>
  </entry>""")
    body = "\n".join(entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">
  <title>{t(SITE_NAME)} - أخبار العالم</title>
  <subtitle>آخر الأخبار والتقارير من {t(SITE_NAME)}</subtitle>
  <link rel="alternate" type="text/html" href="{SITE_URL}"/>
  <id>tag:news.example,2024:feed/world</id>
  <updated>{articles[0].published.isoformat()}</updated>
  <author><name>{t(SITE_NAME)}</name></author>
{body}
</feed>
"""


def build(seeds_dir: Path, out_dir: Path) -> list[Path]:
    """Generate the whole site from ``seeds_dir/00*.txt`` into ``out_dir``; return the files written."""
    articles = [load_article(p) for p in sorted(seeds_dir.glob("00*.txt"))]
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        written.append(target)

    expectations = []
    for index, art in enumerate(articles):
        meta = META[art.stem]
        chrome = chrome_for(index, art.section)
        html = meta.template(art, chrome)
        write(f"site/{art.path}", html)
        expectations.append({
            "page": art.path, "seed": f"{art.stem}.txt", "template": meta.template.__name__, "lang": "ar",
            "title": art.title, "must_contain": must_contain(art),
            "must_not_contain": must_not_contain(art, chrome, html),
        })
    newest_first = sorted(articles, key=lambda art: art.published, reverse=True)
    write("site/feed.rss.xml", rss_feed(newest_first))
    write("site/feed.atom.xml", atom_feed(newest_first))
    header = "# Generated by seeds/build_site.py from seeds/00*.txt; edit the generator, not this file.\n"
    dumped = yaml.safe_dump({"pages": expectations}, allow_unicode=True, sort_keys=False, width=10_000)
    write("expected_pages.yaml", header + dumped)
    return written


def main(argv: list[str]) -> int:
    """CLI entry point: build into argv[1] or the seeds directory."""
    out_dir = Path(argv[1]) if len(argv) > 1 else SEEDS_DIR
    for path in build(SEEDS_DIR, out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
