"""Feed health: one operator notice per failing or silent episode and one on recovery, sent
through the outbox and Apprise to a real webhook receiver; and `newswatch feeds` shows it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.polite.support import feed_row, rss, runtime
from tests.support.receivers import WebhookReceiver
from tests.support.services import ROOT
from tests.support.site_server import SiteServer
from worker.oneshot import run_once
from worker.polling import sync_feeds
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)


def _site(tmp_path: Path, items: list[dict[str, str]]) -> Path:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "feed.rss.xml").write_bytes(rss(items))
    return site


def _runtime(tmp_path: Path, site: SiteServer, hook: WebhookReceiver, **health: object) -> Runtime:
    rt = runtime(
        tmp_path,
        feeds_=[{"name": "wire", "url": f"{site.url}feed.rss.xml", "allow_private": True, "interval": 600}],
        channels={"ops": [hook.apprise_url()]},
        extra={"health": {"operator_channels": ["ops"], **health}, "fetch": {"per_host_spacing_s": 0}},
    )
    sync_feeds(rt)
    return rt


def _next_pass(rt: Runtime) -> None:
    rt.clock.now = max(rt.clock(), feed_row(rt, "wire").next_check_at)  # type: ignore[attr-defined]
    assert run_once(rt).feeds_polled == 1


def _titles(hook: WebhookReceiver) -> list[str]:
    return [str(r.json["title"]) for r in hook.requests if r.status == 200]


@pytest.mark.delivers
def test_twenty_failures_raise_one_notice_and_recovery_one_more_per_episode(tmp_path: Path) -> None:
    with (
        SiteServer(_site(tmp_path, [{"guid": "a", "title": "weather report"}])) as site,
        WebhookReceiver() as hook,
    ):
        rt = _runtime(tmp_path, site, hook, failing_after=5)
        _next_pass(rt)  # healthy first
        for episode in (1, 2):
            site.set_response("/feed.rss.xml", status=500)
            for _ in range(20):
                _next_pass(rt)
            assert feed_row(rt, "wire").error_streak == 20
            site.clear_response("/feed.rss.xml")
            for _ in range(3):
                _next_pass(rt)
            titles = _titles(hook)
            assert len(titles) == 2 * episode
            assert "feed wire is failing (5 consecutive errors)" in titles[-2]
            assert "feed wire has recovered" in titles[-1]
        failing = next(r for r in hook.requests if "failing" in str(r.json["title"]))
        assert "Last error: HTTP 500 Internal Server Error" in str(failing.json["message"])
        rt.close()


@pytest.mark.delivers
def test_a_silent_feed_raises_one_notice_and_one_when_entries_return(tmp_path: Path) -> None:
    with (
        SiteServer(_site(tmp_path, [{"guid": "a", "title": "weather report"}])) as site,
        WebhookReceiver() as hook,
    ):
        rt = _runtime(tmp_path, site, hook, silent_after_s=3600)
        for _ in range(6):  # an hour of successful polls without anything new
            _next_pass(rt)
        assert _titles(hook) == []
        for _ in range(12):
            _next_pass(rt)
        assert len(_titles(hook)) == 1 and "feed wire has gone silent" in _titles(hook)[0]
        _site(tmp_path, [{"guid": "b", "title": "sports results"}, {"guid": "a", "title": "weather report"}])
        _next_pass(rt)
        _next_pass(rt)
        titles = _titles(hook)
        assert len(titles) == 2 and "feed wire has recovered" in titles[1]
        rt.close()


def test_feeds_command_shows_state_last_success_streak_and_reason(tmp_path: Path) -> None:
    with (
        SiteServer(_site(tmp_path, [{"guid": "a", "title": "weather report"}])) as site,
        WebhookReceiver() as hook,
    ):
        rt = _runtime(tmp_path, site, hook, failing_after=2)
        _next_pass(rt)
        site.set_response("/feed.rss.xml", status=404)
        for _ in range(3):
            _next_pass(rt)
        rt.close()
        out = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "newswatch"),
                "--config",
                str(tmp_path / "newswatch.yaml"),
                "feeds",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        line = next(line for line in out.splitlines() if line.startswith("wire"))
        assert "failing" in line and " 3 " in line and "HTTP 404 Not Found" in line
        assert "2023-11-14 22:13:20Z" in line  # last success: the injected clock's first poll
