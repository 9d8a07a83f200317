"""`newswatch serve` as a real process over a store filled by a real pass over the seeds and a
hostile feed: every page answers, feed text is inert, the engine cannot write, auth is enforced."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from tests.serve.support import BIDI_TITLE, JS_LINK, SCRIPT_TITLE, Serve, with_serve_settings
from tests.support.services import PostgresServer
from worker.config import load_settings
from worker.matching import compile_watchlist
from worker.matching.report import run_examples
from worker.schema import feeds, make_engine
from worker.serve.readonly import readonly_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PAGES = ("/", "/stories", "/articles/1", "/feeds", "/watches", "/watches/iran")


def _db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "data" / "newswatch.db", timeout=30)


def _metrics(url: str, **kwargs: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = httpx.get(f"{url}/metrics", timeout=10, **kwargs).text  # type: ignore[arg-type]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_pages_show_the_store_with_feed_text_inert(seeded: Path) -> None:
    with _db(seeded) as conn:
        (hostile_id,) = conn.execute("SELECT id FROM articles WHERE title LIKE '<script>%'").fetchone()
        article_alerts = conn.execute(
            "SELECT watch_id FROM alerts WHERE article_id = ?", (hostile_id,)
        ).fetchall()
        totals = dict(conn.execute("SELECT watch_id, count(*) FROM alerts GROUP BY watch_id").fetchall())
        n_articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert article_alerts, "the hostile entry must have alerted for the test to mean anything"
    with Serve(seeded) as serve:
        pages = {}
        for path in (*PAGES, f"/articles/{hostile_id}"):
            started = time.perf_counter()
            response = httpx.get(serve.url + path, timeout=10)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (path, response.text[:500])
            assert response.headers["content-type"].startswith("text/html")
            assert elapsed < 1.0, (path, elapsed)
            pages[path] = response.text
        for path, html in pages.items():
            assert "<script" not in html, path  # neither the title's nor any of our own
            assert "<img" not in html, path
            assert 'href="javascript:' not in html.lower() and JS_LINK not in html, path
            assert "\u202e" not in html and "\u202c" not in html, path  # bidi overrides removed
        index, article = pages["/"], pages[f"/articles/{hostile_id}"]
        escaped = SCRIPT_TITLE.replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in index and escaped in article
        assert re.sub("[\u202a-\u202e\u2066-\u2069]", "", BIDI_TITLE) in index
        # snippets: escaped, then the ⟦ ⟧ hit markers become <mark>
        assert "⟦" not in index and index.count("<mark>") >= len(totals)
        assert re.search(r'<p class="snippet" lang="ar" dir="auto">[^<]*<mark>', index)
        assert "&lt;img src=x onerror=window.pwned=2&gt;" in article
        # one article: every match explained, one section per alert in the store
        assert article.count('class="card match"') == len(article_alerts)
        for (watch_id,) in article_alerts:
            assert f'id="match-{watch_id}"' in article
        # watches: the totals the store has
        for watch_id, n in totals.items():
            total = rf'<tr id="watch-{watch_id}">.*?<td class="total">(\d+)<'
            row = re.search(total, pages["/watches"], re.S)
            assert row and int(row.group(1)) == n, watch_id
        assert f"{n_articles} article(s) stored" in index
        # and whether each watch's examples pass, as `newswatch check` finds
        settings = load_settings(seeded)
        failures = run_examples(settings, compile_watchlist(settings))
        for watch in settings.watches:
            n_examples = len(watch.examples.should_match) + len(watch.examples.should_not_match)
            failing = [f for f in failures if f.startswith(f"watch {watch.id!r} ")]
            examples_cell = rf'<tr id="watch-{watch.id}">.*?<td class="examples">(.*?)</td>'
            cell = re.search(examples_cell, pages["/watches"], re.S)
            expected = f"{len(failing)} of {n_examples} fail" if failing else f"{n_examples} pass"
            assert cell and expected in cell.group(1), (watch.id, expected)
        feeds_page = pages["/feeds"]
        for name in ("seeds-http", "hostile"):
            ok_row = rf'<tr id="feed-{name}">\s*<td><bdi>{name}</bdi></td>\s*<td class="state-ok">ok<'
            assert re.search(ok_row, feeds_page), name
        assert httpx.get(f"{serve.url}/articles/999999").status_code == 404
        assert httpx.get(f"{serve.url}/healthz").text == "ok\n"


def test_metrics_follow_the_store(seeded: Path) -> None:
    with _db(seeded) as conn:
        n_articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        n_sent = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'sent'").fetchone()[0]
        n_stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
    with Serve(seeded) as serve:
        before = _metrics(serve.url)
        assert before[("newswatch_articles", ())] == n_articles
        assert before[("newswatch_stories", ())] == n_stories
        assert before[("newswatch_deliveries", (("state", "sent"),))] == n_sent
        assert before[("newswatch_feeds", (("state", "ok"),))] == 2
        assert before[("newswatch_outbox_oldest_pending_age_seconds", ())] == 0
        # the store changes (a delivery waits for 100 s, an entry arrives): so does the next scrape
        with _db(seeded) as conn:
            conn.execute(
                "INSERT INTO deliveries (alert_id, channel, destination, label, state, attempts, "
                "next_attempt_at, lease_until, created_at) "
                "SELECT id, 'archive', 'x', 'x', 'pending', 0, 0, 0, ? FROM alerts LIMIT 1",
                (time.time() - 100,),
            )
            conn.execute(
                "INSERT INTO entries (feed_id, key, title, summary, content, seen_at, state) "
                "SELECT id, 'new-one', 't', '', '', ?, 'new' FROM feeds LIMIT 1",
                (time.time(),),
            )
        after = _metrics(serve.url)
        ready = httpx.get(f"{serve.url}/readyz")  # `run --once` records no scheduler tick either
        assert ready.status_code == 503, ready.text
        checks = ready.json()["checks"]
        assert checks["store"] == "ok" and checks["scheduler"] == "no tick recorded"
        assert checks["consumers"].startswith("stalled: 1 delivery(ies)"), checks
        assert after[("newswatch_deliveries", (("state", "pending"),))] == 1
        assert 100 <= after[("newswatch_outbox_oldest_pending_age_seconds", ())] < 200
        assert after[("newswatch_entries_waiting", ())] == before[("newswatch_entries_waiting", ())] + 1
        with _db(seeded) as conn:
            conn.execute("DELETE FROM deliveries WHERE destination = 'x'")
            conn.execute("DELETE FROM entries WHERE key = 'new-one'")


def test_the_serve_engine_cannot_write(seeded: Path, postgres: PostgresServer) -> None:
    sqlite_url = f"sqlite:///{seeded.parent / 'data' / 'newswatch.db'}"
    make_engine(postgres.url).dispose()  # the tables, as a worker creates them
    for url in (sqlite_url, postgres.url):
        engine = readonly_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM feeds")).scalar_one() >= 0
        with pytest.raises(DBAPIError, match="(?i)read.?only"), engine.begin() as conn:
            conn.execute(insert(feeds).values(name="intruder", source="x", next_check_at=0, lease_until=0))
        with pytest.raises(DBAPIError, match="(?i)read.?only"), engine.begin() as conn:
            conn.execute(text("CREATE TABLE intruder (x INTEGER)"))
        engine.dispose()
    with _db(seeded) as conn:
        assert not conn.execute("SELECT 1 FROM feeds WHERE name = 'intruder'").fetchall()


def _serve_exit(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "--config", str(config), "serve", *args],
        capture_output=True, text=True, timeout=60,
    )


def test_a_wide_bind_needs_credentials(seeded: Path) -> None:
    refused = _serve_exit(seeded, "--bind", "0.0.0.0", "--port", "1")
    assert refused.returncode == 2, refused.stderr
    assert "serve.token" in refused.stderr and "serve.basic_auth" in refused.stderr
    in_file = _serve_exit(with_serve_settings(seeded, {"bind": "0.0.0.0"}))
    assert in_file.returncode == 2 and "serve: " in in_file.stderr and "serve.token" in in_file.stderr
    short = _serve_exit(with_serve_settings(seeded, {"token": "short"}))
    assert short.returncode == 2 and "serve.token:" in short.stderr


def test_token_and_basic_auth_protect_everything_but_health(seeded: Path) -> None:
    token, user, password = "t0ken-" + "x" * 20, "analyst", "correct horse battery"
    config = with_serve_settings(seeded, {"token": token, "basic_auth": {"user": user, "password": password}})
    with Serve(config) as serve:
        for path in ("/", "/feeds", "/metrics", "/articles/1"):
            anonymous = httpx.get(serve.url + path)
            assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
            assert httpx.get(serve.url + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert httpx.get(serve.url + path, auth=(user, "wrong")).status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            assert httpx.get(serve.url + path, headers=bearer).status_code == 200
            assert httpx.get(serve.url + path, auth=(user, password)).status_code == 200
        assert httpx.get(f"{serve.url}/healthz").status_code == 200
        assert httpx.get(f"{serve.url}/readyz").status_code in (200, 503)  # open, whatever it says
        assert token not in serve.log() and password not in serve.log()
