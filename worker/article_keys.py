"""Article identity: one key per story, however its URL is spelled.

`article_key(url)` is the `articles.url_key` of a story link. The URL is normalised with courlan
(the URL library trafilatura uses: lower-case host, IDNA, sorted query parameters, tracking
parameters such as `utm_*`, `fbclid`, `gclid`, `mc_cid`, `ref` removed), and then the spellings
that never name a different story are folded: the scheme (http/https), a leading `www.`, a
default port (:80, :443), a trailing `/` and the fragment. The key is an identity, not a URL to
fetch (`articles.url` keeps the link). Non-http(s) links (local `file:` fixtures) are their own
key.

`page_canonical(html, page_url)` is the page's `<link rel="canonical">`, when it names a story
on the same site (the same host, `www.` aside, or a parent or subdomain of it) and not the site's
home page (some CMSs declare the home page as every page's canonical). A page on another site
cannot claim someone else's story, so it cannot suppress that story's alert.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from courlan import normalize_url

_HEAD_CHARS = 256 * 1024  # <link rel=canonical> sits in <head>: never scan more than this


def article_key(url: str) -> str:
    """The identity of the story at `url` (see the module docstring); never raises."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return url
        normal = urlsplit(normalize_url(url.strip()))
        host = (normal.hostname or "").removeprefix("www.")
        port = normal.port
    except ValueError:
        return url
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = normal.path.rstrip("/")
    return f"{netloc}{path}" + (f"?{normal.query}" if normal.query else "")


class _CanonicalFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.href: str | None = None
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "body":
            self.done = True
        elif tag == "link" and self.href is None:
            values = {k.lower(): (v or "") for k, v in attrs}
            if "canonical" in values.get("rel", "").lower().split() and values.get("href"):
                self.href = values["href"].strip()
                self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.done = True


def _site(host: str) -> str:
    return host.lower().rstrip(".").removeprefix("www.")


def page_canonical(html: str, page_url: str) -> str | None:
    """The canonical URL the page declares for itself, absolute, or None (see the module)."""
    finder = _CanonicalFinder()
    try:
        for start in range(0, min(len(html), _HEAD_CHARS), 8192):
            finder.feed(html[start : start + 8192])
            if finder.done:
                break
        if not finder.href:
            return None
        url = urljoin(page_url, finder.href)
        target, page = urlsplit(url), urlsplit(page_url)
        target_host, page_host = _site(target.hostname or ""), _site(page.hostname or "")
    except ValueError:
        return None
    if target.scheme not in ("http", "https") or not target_host or not page_host:
        return None
    same_site = (
        target_host == page_host
        or target_host.endswith(f".{page_host}")
        or (page_host.endswith(f".{target_host}") and "." in target_host)
    )
    if not same_site or target.path.strip("/") == "":
        return None
    return url
