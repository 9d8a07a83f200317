"""Hot reload with real processes: redis-server, a Celery worker (two pool processes) and beat,
the seed site on loopback. Edits of the configuration file take effect without a restart, a
broken edit keeps the version in force and raises one notice, and `watchlist activate` rolls back."""

from __future__ import annotations

import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest
import yaml

from tests.faults.support import Stack, assert_healthy, fault_stack
from tests.support.services import ROOT, wait_until
from tests.watchlist.support import NEW_WATCH, NEW_WATCH_TEXT, edit_config
from worker.watchlist_versions import CHECK_EVERY_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DRONES_TEXT = "Russia launched dozens of drones\nUkraine said Shahed-136 drones and a UAV were shot down."


def _active(world: Stack) -> int | None:
    rows = world.query("SELECT version_id FROM watchlist_active")
    return int(rows[0][0]) if rows else None


def _publish(world: Stack, slug: str, title: str, text: str) -> None:
    """Add a page and an item pointing to it at the top of the site's feed."""
    body = "".join(f"<p>{line}</p>" for line in text.splitlines())
    page = (f"<html><head><title>{title}</title></head>"
            f"<body><article><h1>{title}</h1>{body}</article></body></html>")
    (world.site.root / "articles" / f"{slug}.html").write_text(page, encoding="utf-8")
    item = (f"<item><title>{title}</title><link>articles/{slug}.html</link>"
            f"<guid isPermaLink=\"false\">reload:{slug}</guid><pubDate>{formatdate()}</pubDate>"
            f"<description>{text}</description></item>")
    feed = world.site.root / "feed.rss.xml"
    xml = feed.read_text(encoding="utf-8")
    feed.write_text(xml.replace("<item>", item + "\n  <item>", 1), encoding="utf-8")


def _alerts_of(world: Stack, slug: str) -> dict[str, int | None]:
    rows = world.query(
        "SELECT al.watch_id, al.watchlist_version FROM alerts al JOIN articles a ON a.id = al.article_id"
        " WHERE a.url LIKE ?", f"%/{slug}.html")
    return {w: v for w, v in rows}


def _processed(world: Stack, slug: str) -> bool:
    return bool(world.query("SELECT 1 FROM articles WHERE url LIKE ?", f"%/{slug}.html"))


def _cli(world: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worker.cli", "--config", str(world.config), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_edits_reload_without_restart_bad_edit_keeps_version_and_rollback(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world:
        tree = yaml.safe_load(world.config.read_text(encoding="utf-8"))
        tree["health"] = {"operator_channels": ["hook"]}
        world.config.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
        world.worker(concurrency=2)
        world.start("beat")

        # the file in force at start-up becomes version 1; the seeds' alerts carry it
        assert wait_until(lambda: _active(world) is not None, 60), world.logs()
        first = _active(world)
        assert world.wait_all_final(120), world.logs()
        versions = {v for (v,) in world.query("SELECT watchlist_version FROM alerts")}
        assert versions == {first}

        # a valid edit: a new version, in force for the next item without any restart
        edit_config(world.config, "add")
        assert wait_until(lambda: _active(world) not in (None, first), 30), world.logs()
        second = _active(world)
        time.sleep(CHECK_EVERY_S + 1)
        _publish(world, "zeppelin-1", "Zeppelin over the harbour", NEW_WATCH_TEXT)
        assert wait_until(lambda: NEW_WATCH in _alerts_of(world, "zeppelin-1"), 60), world.logs()
        assert _alerts_of(world, "zeppelin-1") == {NEW_WATCH: second}

        # a broken edit (an example fails): the version stays, exactly one notice
        unsent = "SELECT COUNT(*) FROM deliveries WHERE state <> 'sent'"
        assert wait_until(lambda: world.query(unsent) == [(0,)], 30), world.query("SELECT * FROM deliveries")
        n_hook = len(world.hook.requests)
        edit_config(world.config, "broken")
        assert wait_until(lambda: bool(world.query("SELECT 1 FROM watchlist_rejections")), 30), world.logs()
        time.sleep(6)  # several more ticks read the same bad file
        assert _active(world) == second
        assert world.query("SELECT COUNT(*) FROM notices WHERE kind = 'watchlist'") == [(1,)]
        assert wait_until(lambda: len(world.hook.requests) > n_hook, 30), "the notice was not delivered"
        time.sleep(3)
        notices = [r for r in world.hook.requests[n_hook:] if b"watchlist change rejected" in r.body]
        assert len(notices) == 1 and len(world.hook.requests) == n_hook + 1

        listing = _cli(world, "watchlist", "versions")
        marked = [line.split()[1] for line in listing.stdout.splitlines() if line.startswith("*")]
        assert listing.returncode == 0 and marked == [str(second)], listing

        # rollback to version 1: the new watch no longer fires, alerts carry version 1
        done = _cli(world, "watchlist", "activate", str(first))
        assert done.returncode == 0, done.stderr
        assert _active(world) == first
        time.sleep(CHECK_EVERY_S + 1)
        _publish(world, "zeppelin-2", "Zeppelin and drones", f"{NEW_WATCH_TEXT}\n{DRONES_TEXT}")
        assert wait_until(lambda: _processed(world, "zeppelin-2"), 60), world.logs()
        fired = _alerts_of(world, "zeppelin-2")
        assert NEW_WATCH not in fired and fired and set(fired.values()) == {first}, fired
        time.sleep(3)
        assert _active(world) == first  # the bad file on disk does not undo the rollback
        assert _cli(world, "watchlist", "activate", "999").returncode == 1
        assert_healthy(world)  # workers still consume; no secret in logs, Redis or the store
