"""Shared pieces for the fixture page templates: the article record, escaping and small markup helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape

from site_chrome import SITE_NAME, SITE_URL, Chrome

AR_MONTHS = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر",
             "نوفمبر", "ديسمبر")


@dataclass(frozen=True)
class Article:
    """One seed article as the site publishes it (title = first line of the seed, paragraphs = the rest)."""

    stem: str
    title: str
    paragraphs: tuple[str, ...]
    section: str
    author: str
    published: datetime
    summary: str

    @property
    def path(self) -> str:
        """Site-relative path of the article page."""
        return f"articles/{self.stem}.html"

    @property
    def canonical(self) -> str:
        """Absolute canonical URL on the production site."""
        return SITE_URL + self.path

    @property
    def date_ar(self) -> str:
        """Human date line in Arabic, as shown under the headline."""
        d = self.published
        return f"{d.day} {AR_MONTHS[d.month - 1]} {d.year} - {d:%H:%M}"


def t(text: str) -> str:
    """Escape text content."""
    return escape(text, quote=False)


def a(text: str) -> str:
    """Escape an attribute value."""
    return escape(text, quote=True)


def script_json(data: object) -> str:
    """JSON for inline <script> blocks, with "<" escaped so it can never close the script element."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def json_ld(article: Article) -> str:
    """A schema.org NewsArticle JSON-LD block (metadata only, no article body)."""
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.summary,
        "datePublished": article.published.isoformat(),
        "dateModified": article.published.isoformat(),
        "author": {"@type": "Person", "name": article.author},
        "publisher": {"@type": "Organization", "name": SITE_NAME,
                      "logo": {"@type": "ImageObject", "url": SITE_URL + "static/logo.png"}},
        "mainEntityOfPage": article.canonical,
        "inLanguage": "ar",
    }
    return f'<script type="application/ld+json">{script_json(data)}</script>'


def head_meta(article: Article) -> str:
    """The <meta> tags every template shares: charset, viewport, canonical, Open Graph, Twitter."""
    return "\n".join((
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="description" content="{a(article.summary)}">',
        f'<link rel="canonical" href="{a(article.canonical)}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:title" content="{a(article.title)}">',
        f'<meta property="og:description" content="{a(article.summary)}">',
        f'<meta property="og:url" content="{a(article.canonical)}">',
        f'<meta property="og:site_name" content="{a(SITE_NAME)}">',
        f'<meta property="article:published_time" content="{article.published.isoformat()}">',
        '<meta name="twitter:card" content="summary_large_image">',
    ))


ANALYTICS_JS = """<script>
window.dataLayer = window.dataLayer || [];
function gtag(){dataLayer.push(arguments);}
gtag('js', new Date()); gtag('config', 'G-NEWSX2024');
(function(d){var s=d.createElement('script');s.async=true;s.src='https://cdn.news.example/px.js';
d.getElementsByTagName('head')[0].appendChild(s);})(document);
</script>"""

SHARE_SVG = ('<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">'
             '<path d="M18 2h-3a5 5 0 0 0-5 5v3H7v4h3v8h4v-8h3l1-4h-4V7a1 1 0 0 1 1-1h3z"/></svg>')


def items(texts: tuple[str, ...], *, cls: str = "", link: bool = True) -> str:
    """<li> elements (optionally wrapping links) for a list widget."""
    klass = f' class="{cls}"' if cls else ""
    rows = []
    for n, text in enumerate(texts):
        inner = f'<a href="/news/{4800 + n * 7}">{t(text)}</a>' if link else t(text)
        rows.append(f"<li{klass}>{inner}</li>")
    return "".join(rows)


def body_with_inserts(paragraphs: tuple[str, ...], read_also: str, ad: str, *, p_open: str = "<p>") -> str:
    """Article paragraphs with the inline "read also" box after the 3rd and an ad slot after the 6th."""
    out: list[str] = []
    for n, text in enumerate(paragraphs, start=1):
        out.append(f"{p_open}{t(text.rstrip())}</p>")
        if n == 3:
            out.append(read_also)
        if n == 6:
            out.append(ad)
    return "\n".join(out)


def comment_texts(chrome: Chrome) -> list[dict[str, str]]:
    """Comments as JSON-able records (for client-side state blobs)."""
    return [{"author": c.author, "when": c.when, "text": c.text} for c in chrome.comments]
