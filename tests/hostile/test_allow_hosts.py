"""A feed's `allow_hosts` through the pipeline: the feed and its links on the allowed host are
fetched; a link in it to another internal host is refused without a connection and the article
falls back to the feed text. Configuration errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.net.servers import ScriptServer, respond, serve
from tests.polite.support import feed_id, rss, runtime
from worker.config import ConfigError, load_settings
from worker.polling import poll_feed, sync_feeds
from worker.processing import process_entry
from worker.schema import articles, entries

pytestmark = [pytest.mark.timeout(60), pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2", "::1"])]


@pytest.mark.parametrize("allow", [{"allow_hosts": ["127.0.0.1"]}, {"allow_private": True}])
def test_links_reach_only_the_allowed_hosts(tmp_path: Path, allow: dict[str, object]) -> None:
    other: ScriptServer = serve(
        {"/secret.html": respond(200, b"<html><body>internal admin</body></html>")}, host="127.0.0.2"
    )
    routes = {
        "/story.html": respond(
            200,
            b"<html><body><article><p>" + b"Allowed page text. " * 30 + b"</p></article></body></html>",
            [("Content-Type", "text/html")],
        )
    }
    bridge: ScriptServer = serve(routes)
    try:
        routes["/feed.xml"] = respond(
            200,
            rss(
                [
                    {
                        "guid": "1",
                        "title": "on the bridge",
                        "link": bridge.url("/story.html"),
                        "description": "feed 1",
                    },
                    {
                        "guid": "2",
                        "title": "elsewhere",
                        "link": other.url("/secret.html"),
                        "description": "feed 2",
                    },
                ]
            ),
        )
        rt = runtime(
            tmp_path,
            feeds_=[{"name": "bridge", "url": bridge.url("/feed.xml"), **allow}],
            extra={"fetch": {"per_host_spacing_s": 0}},
        )
        sync_feeds(rt)
        ids = poll_feed(rt, feed_id(rt, "bridge")).new_entry_ids
        assert len(ids) == 2
        assert {process_entry(rt, i).outcome for i in ids} == {"processed"}
        with rt.engine.connect() as conn:
            rows = {
                r.title: r
                for r in conn.execute(
                    select(entries.c.title, articles.c.extracted_from, articles.c.extract_note).join(
                        articles, articles.c.id == entries.c.article_id
                    )
                )
            }
        assert rows["on the bridge"].extracted_from == "page"
        assert rows["elsewhere"].extracted_from == "feed"
        assert "blocked: non-public address 127.0.0.2" in rows["elsewhere"].extract_note
        assert other.connections == 0
        rt.close()
    finally:
        bridge.close()
        other.close()


@pytest.mark.parametrize(
    ("feed", "key"),
    [
        (
            {"url": "http://bridge.internal/feed", "allow_hosts": ["ok.internal", "not a host!"]},
            "feeds[0].allow_hosts[1]",
        ),
        ({"url": "http://bridge.internal/feed", "allow_hosts": ["10.1.2.0/33"]}, "feeds[0].allow_hosts[0]"),
        ({"url": "http://bridge.internal/feed", "allow_hosts": "bridge.internal"}, "feeds[0].allow_hosts"),
        ({"path": "feed.xml", "allow_private": True}, "feeds[0]"),
    ],
)
def test_allow_hosts_errors_name_the_key(tmp_path: Path, feed: dict[str, object], key: str) -> None:
    config = tmp_path / "newswatch.yaml"
    config.write_text(yaml.safe_dump({"feeds": [{"name": "f", **feed}]}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert f"  {key}: " in str(caught.value), str(caught.value)


def test_allow_hosts_entries_are_normalised(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.yaml"
    feed = {
        "name": "f",
        "url": "http://Bridge.Internal/feed",
        "allow_hosts": ["Bridge.Internal.", "10.1.2.7/24", "[fd12::1]"],
    }
    config.write_text(yaml.safe_dump({"feeds": [feed]}), encoding="utf-8")
    spec = load_settings(config).feeds[0]
    assert spec.allow_hosts == ["bridge.internal", "10.1.2.0/24", "fd12::1/128"]
    assert spec.allowlist.names == frozenset({"bridge.internal"})
