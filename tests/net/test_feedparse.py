"""parse_feed against hostile, broken and real feeds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.feedparse import FeedParseError, ParsedFeed, canonical_link, parse_feed

BASE = "http://feeds.test/news/rss.xml"
SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "site"


def rss(items: str, *, head: str = '<?xml version="1.0" encoding="utf-8"?>', channel: str = "") -> bytes:
    return (f'{head}<rss version="2.0"><channel><title>News</title>{channel}{items}</channel></rss>').encode()


def item(title: str = "T", link: str = "", guid: str = "", extra: str = "") -> str:
    parts = [f"<title>{title}</title>" if title else ""]
    parts += [f"<link>{link}</link>" if link else "", f"<guid>{guid}</guid>" if guid else "", extra]
    return "<item>" + "".join(parts) + "</item>"


def test_xxe_external_entity_refused_and_sentinel_never_read(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("SENTINEL-7f3a")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{sentinel}">]>'
        '<rss version="2.0"><channel><title>&xxe;</title><item><title>&xxe;</title></item></channel></rss>'
    ).encode()
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, base_url=BASE)
    assert caught.value.reason == "XML entity declarations are refused (<!ENTITY)"
    assert "SENTINEL" not in str(caught.value)


def test_external_dtd_without_entities_is_not_loaded(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.dtd"
    sentinel.write_text("SENTINEL-7f3a")
    body = rss(item("ok", guid="1"), head=f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "file://{sentinel}">')
    feed = parse_feed(body, base_url=BASE)
    assert "SENTINEL" not in repr(feed) and feed.entries[0].title == "ok"


def test_parameter_entity_and_utf16_entity_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><rss/>'
    with pytest.raises(FeedParseError, match="ENTITY"):
        parse_feed(body, base_url=BASE)
    utf16 = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "b">]><rss/>'.encode("utf-16")
    with pytest.raises(FeedParseError, match="ENTITY"):
        parse_feed(utf16, base_url=BASE)


def test_billion_laughs_refused_fast() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    doc = "<rss><channel><title>&lol9;</title></channel></rss>"
    body = f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>{doc}'
    began = time.monotonic()
    with pytest.raises(FeedParseError, match="ENTITY"):
        parse_feed(body.encode(), base_url=BASE)
    assert time.monotonic() - began < 1.0


def test_large_entity_referenced_2000_times_refused_under_a_second() -> None:
    big = "A" * 100_000
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{big}">]><rss version="2.0"><channel>'
        f"<title>{'&big;' * 2000}</title><item><title>x</title></item></channel></rss>"
    ).encode()
    began = time.monotonic()
    with pytest.raises(FeedParseError, match="ENTITY"):
        parse_feed(body, base_url=BASE)
    assert time.monotonic() - began < 1.0


def test_100k_entries_capped_at_500_quickly() -> None:
    body = rss("".join(item(f"t{i}", guid=f"g{i}") for i in range(100_000)))
    began = time.monotonic()
    feed = parse_feed(body, base_url=BASE)
    assert time.monotonic() - began < 3.0
    assert len(feed.entries) == 500 and feed.entries[-1].guid == "g499"
    assert "entry cap of 500 reached; 99500 entries ignored" in feed.warnings


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty response body"),
        (b"  \r\n\t ", "empty response body"),
        (
            b"<!DOCTYPE html><html><head><title>x</title></head><body><a href=x>y</a></body></html>",
            "not a feed: looks like HTML",
        ),
        (b"<html><body>Welcome</body></html>", "not a feed: looks like HTML"),
        (b'{"items": [1, 2, {"oops": null}', "not a feed: looks like JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a feed: no XML element found"),
    ],
)
def test_non_feeds_raise_readable_errors(body: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, base_url=BASE)
    assert caught.value.reason == reason


def test_xml_that_is_not_a_feed_raises() -> None:
    with pytest.raises(FeedParseError, match="no entries and not a feed"):
        parse_feed(b"<?xml version='1.0'?><config><a>1</a><b", base_url=BASE)


def test_invalid_utf8_and_nul_bytes_give_a_usable_feed() -> None:
    body = rss(item("caf\xe9 ok", guid="1")).replace(b"caf\xc3\xa9", b"caf\xe9\xff") + b""
    body = body.replace(b"<title>News", b"<title>Ne\x00ws\x01")
    feed = parse_feed(body, base_url=BASE)
    assert feed.title == "News" and feed.entries[0].title.startswith("caf")
    assert any("control characters" in w for w in feed.warnings)


def test_header_charset_conflicting_with_xml_declaration() -> None:
    body = rss(item("Müller", guid="1"), head='<?xml version="1.0" encoding="iso-8859-1"?>').replace(
        "Müller".encode(), "Müller".encode("latin-1")
    )
    feed = parse_feed(body, base_url=BASE, headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    assert feed.entries[0].title == "Müller"
    assert any("charset conflict" in w for w in feed.warnings)


def test_utf16_without_bom_and_windows_1252() -> None:
    text = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Ünï</title>'
    text += "<item><title>Ω</title><guid>1</guid></item></channel></rss>"
    assert parse_feed(text.encode("utf-16-le"), base_url=BASE).entries[0].title == "Ω"
    cp = rss(item("“quoted” — dash", guid="1"), head='<?xml version="1.0" encoding="windows-1252"?>')
    cp = cp.replace("“quoted” — dash".encode(), "“quoted” — dash".encode("cp1252"))
    assert parse_feed(cp, base_url=BASE).entries[0].title == "“quoted” — dash"


def test_malformed_xml_is_parsed_leniently_with_warning() -> None:
    body = b'<rss version="2.0"><channel><title>T</title><item><title>A &amp; B</title><guid>1</guid></item>'
    feed = parse_feed(body + b"<item><title>broken", base_url=BASE)
    assert feed.entries[0].title == "A & B"
    assert any(
        w.startswith("feed is not well-formed XML") and w.endswith("parsed leniently") for w in feed.warnings
    )


def test_missing_title_link_and_date_are_handled() -> None:
    feed = parse_feed(rss(item(title="", extra="<description>only text</description>")), base_url=BASE)
    entry = feed.entries[0]
    assert (entry.title, entry.link, entry.guid, entry.published) == ("", None, None, None)
    assert entry.key.startswith("hash:") and len(entry.key) == 5 + 64 and entry.summary == "only text"


def test_text_is_plain_and_capped() -> None:
    extra = (
        "<description>&lt;p&gt;one&lt;/p&gt;&lt;p&gt;two&lt;/p&gt;&lt;script&gt;evil()&lt;/script&gt;</description>"
        "<pubDate>Tue, 10 Jun 2003 04:00:00 +0200</pubDate>"
    )
    long_title = "&lt;b&gt;Big&lt;/b&gt;   &amp;amp;\t" + "x" * 5000
    feed = parse_feed(rss(item(long_title, guid="1", extra=extra), channel="<ttl>30</ttl>"), base_url=BASE)
    entry = feed.entries[0]
    assert entry.title.startswith("Big & xxx") and len(entry.title) == 1000
    assert entry.summary == "one two"
    assert entry.published == datetime(2003, 6, 10, 2, 0, tzinfo=UTC)
    assert feed.ttl_seconds == 1800


def test_links_resolved_filtered_and_canonicalised() -> None:
    items = "".join(
        [
            item("rel", link="articles/a.html?utm_source=x&amp;id=7&amp;fbclid=1#top"),
            item("js", link="javascript:alert(1)"),
            item("data", link="data:text/html,hi"),
            item("file", link="file:///etc/passwd"),
            item("abs", link="HTTPS://Other.Example/Story?gclid=3"),
        ]
    )
    entries = {e.title: e for e in parse_feed(rss(items), base_url=BASE).entries}
    assert entries["rel"].link == "http://feeds.test/news/articles/a.html?utm_source=x&id=7&fbclid=1#top"
    assert entries["rel"].canonical_link == "http://feeds.test/news/articles/a.html?id=7"
    assert entries["rel"].key == "link:http://feeds.test/news/articles/a.html?id=7"
    assert entries["js"].link is None and entries["data"].link is None and entries["file"].link is None
    assert entries["abs"].canonical_link == "https://other.example/Story"


def test_file_base_keeps_file_links() -> None:
    items = item("rel", link="articles/x.html") + item("abs", link="file:///srv/site/articles/y.html")
    entries = parse_feed(rss(items), base_url="file:///srv/site/feed.rss.xml").entries
    assert [e.link for e in entries] == [
        "file:///srv/site/articles/x.html",
        "file:///srv/site/articles/y.html",
    ]


def test_duplicate_guids_appear_once() -> None:
    items = item("first", guid="same") + item("second", guid="same") + item("third", guid="other")
    feed = parse_feed(rss(items), base_url=BASE)
    assert [(e.key, e.title) for e in feed.entries] == [("guid:same", "first"), ("guid:other", "third")]


def test_canonical_link_same_story_two_feeds() -> None:
    a = canonical_link("HTTP://News.Example/a/b?utm_medium=rss&x=1#frag")
    b = canonical_link("http://news.example/a/b?x=1&utm_campaign=feed")
    assert a == b == "http://news.example/a/b?x=1"


def test_atom_content_and_updated() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        b'<entry><id>urn:x:1</id><title type="html">&lt;i&gt;Hi&lt;/i&gt;</title><link href="/p/1"/>'
        b"<updated>2024-01-02T03:04:05+02:00</updated>"
        b'<content type="html">&lt;p&gt;body &amp;amp; more&lt;/p&gt;</content></entry></feed>'
    )
    entry = parse_feed(body, base_url="https://site.example/feed").entries[0]
    assert (entry.key, entry.title, entry.content) == ("guid:urn:x:1", "Hi", "body & more")
    assert entry.link == "https://site.example/p/1"
    assert entry.published == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("name", ["feed.rss.xml", "feed.atom.xml"])
def test_real_seed_feeds_parse(name: str) -> None:
    path = SEEDS / name
    feed = parse_feed(path.read_bytes(), base_url=path.as_uri())
    assert isinstance(feed, ParsedFeed) and feed.title and feed.warnings == ()
    assert len(feed.entries) == 5
    for entry in feed.entries:
        assert entry.link is not None and entry.link.startswith("file://")
        assert "/articles/" in entry.link and entry.link.endswith(".html")
        assert (SEEDS / "articles" / entry.link.rsplit("/", 1)[1]).exists()
        assert entry.title and entry.published is not None and entry.published.tzinfo is UTC
        assert entry.key.startswith("guid:")
