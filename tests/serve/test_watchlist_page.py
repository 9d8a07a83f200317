"""The dashboard's watchlist page and its rejection banner, on the seeded store through a real
`newswatch serve` process: the version in force is listed with its hash and watches; a rejected
change shows a banner on every page (its error and file escaped) while the file in view is the
rejected one, and
/metrics says the same (`newswatch_watchlist_version`, `newswatch_watchlist_rejected`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.support import Serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

def _gauges(url: str) -> dict[str, float]:
    body = httpx.get(f"{url}/metrics", timeout=10).text
    return {s.name: s.value for family in text_string_to_metric_families(body) for s in family.samples
            if s.name.startswith("newswatch_watchlist_")}


ERROR = "watch 'zeppelin': example <script>x()</script> did not match"


def test_watchlist_page_and_the_rejected_change_banner(seeded: Path) -> None:
    db = seeded.parent / "data" / "newswatch.db"
    with sqlite3.connect(db, timeout=30) as conn:
        ((active, sha, changed_at),) = conn.execute(
            "SELECT a.version_id, v.sha256, a.changed_at FROM watchlist_active a"
            " JOIN watchlist_versions v ON v.id = a.version_id").fetchall()
    with Serve(seeded) as serve:
        page = httpx.get(f"{serve.url}/watchlist", timeout=10).text
        assert f'<tr id="version-{active}" class="active">' in page and sha[:12] in page
        assert "in force" in page and "iran" in page
        assert "was rejected" not in httpx.get(serve.url + "/", timeout=10).text
        gauges = _gauges(serve.url)
        assert gauges == {"newswatch_watchlist_version": active, "newswatch_watchlist_rejected": 0,
                          "newswatch_watchlist_rejections_total": 0}

        with sqlite3.connect(db, timeout=30) as conn:  # what a rejected reload records
            conn.execute("INSERT INTO watchlist_rejections (file_sha256, error, created_at, source)"
                         " VALUES (?, ?, ?, ?)", ("f" * 64, ERROR, changed_at + 10, "/etc/<b>nw</b>.yaml"))
            conn.execute("UPDATE watchlist_active SET rejected_sha256 = ?, rejected_at = ?",
                         ("f" * 64, changed_at + 10))
        try:
            for path in ("/", "/stories", "/watchlist", "/feeds"):
                html = httpx.get(serve.url + path, timeout=10).text
                assert "A watchlist change was rejected" in html, path
                assert "example &lt;script&gt;x()&lt;/script&gt; did not match" in html
                assert "/etc/&lt;b&gt;nw&lt;/b&gt;.yaml" in html
                assert "<script" not in html and "<b>" not in html
            gauges = _gauges(serve.url)
            assert gauges["newswatch_watchlist_rejected"] == 1
            assert gauges["newswatch_watchlist_rejections_total"] == 1

            with sqlite3.connect(db, timeout=30) as conn:  # a good file is in view again
                conn.execute("UPDATE watchlist_active SET rejected_sha256 = NULL, rejected_at = NULL")
            assert "was rejected" not in httpx.get(serve.url + "/", timeout=10).text
        finally:
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute("DELETE FROM watchlist_rejections WHERE file_sha256 = ?", ("f" * 64,))
                conn.execute("UPDATE watchlist_active SET rejected_sha256 = NULL, rejected_at = NULL")
