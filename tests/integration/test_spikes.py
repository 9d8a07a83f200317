"""`messages.spikes` through the real pipeline functions, loopback outlets (site servers) and a real
webhook receiver, on an injected clock: one wire story on three sites plus another report is not
a spike (the copies are one report); a third distinct report from a third outlet completes it and
sends ONE spike alert, at once, naming the counts; a fourth report within the window sends no
second spike."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.helpers import SEEDS, write_config
from tests.integration.test_story_messages import _item
from tests.support.clock import Clock
from tests.support.receivers import WebhookReceiver
from tests.support.site_server import SiteServer
from worker.config import load_settings
from worker.oneshot import run_once
from worker.runtime import Runtime

S000, S001, S002, S003 = ("000_6085b7264f9884e6", "001_f29800354f5cf40f", "002_12ba7111f2471564",
                          "003_227bb4d96c4cbcfe")
OUTLETS = ("a", "b", "c", "d", "e")

pytestmark = pytest.mark.timeout(180)


def publish(root: Path, stems: list[str], now: float) -> None:
    """(Re)write `root` as a site listing the seed articles `stems`, published minutes before `now`."""
    (root / "articles").mkdir(parents=True, exist_ok=True)
    for stem in stems:
        html = (SEEDS / "site" / "articles" / f"{stem}.html").read_text(encoding="utf-8")
        (root / "articles" / f"{stem}.html").write_text(html, encoding="utf-8")
    items = "".join(_item(stem, now - 300) for stem in stems)
    (root / "feed.rss.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{root.name}</title><link>https://{root.name}.example/</link><description>d</description>"
        f"{items}</channel></rss>", encoding="utf-8")


@pytest.mark.delivers
def test_a_spike_counts_syndicated_copies_once_and_alerts_once_per_window(tmp_path: Path) -> None:
    clock = Clock(time.time())
    roots = {name: tmp_path / name for name in OUTLETS}
    # a, b, c: the same wire story (seed 000); d: another report (seed 002); e: nothing yet
    for name, stems in (("a", [S000]), ("b", [S000]), ("c", [S000]), ("d", [S002]), ("e", [])):
        publish(roots[name], stems, clock.now)
    with ExitStack() as stack:
        sites = {name: stack.enter_context(SiteServer(root)) for name, root in roots.items()}
        hook = stack.enter_context(WebhookReceiver())
        feeds = [{"name": f"outlet-{n}", "url": f"{s.url}feed.rss.xml", "interval": 60, "allow_private": True}
                 for n, s in sites.items()]
        config = write_config(
            tmp_path, feeds=feeds, channels={"desk": [hook.apprise_url()]},
            extra={"messages": {"spikes": {"iran": {"articles": 3, "outlets": 3, "within": "1h"}}},
                   "fetch": {"per_host_spacing_s": 0}},
        )
        rt = Runtime(load_settings(config), clock=clock)

        def spikes() -> list[str]:
            return [r.json["message"] for r in hook.requests
                    if r.json["title"].startswith("[newswatch] Spike:")]

        assert run_once(rt).deliveries_failed == 0
        assert hook.requests and spikes() == []  # 4 articles, but the three copies are one report

        clock.now += 120
        publish(roots["e"], [S003], clock.now)
        assert run_once(rt).deliveries_failed == 0
        (body,) = spikes()
        assert "Spike: 3 reports from 3 outlets within 1h (syndicated copies counted once)" in body
        assert "Watch: Spike: " in body and "[spike:iran]" in body

        clock.now += 120
        publish(roots["d"], [S002, S001], clock.now)
        assert run_once(rt).deliveries_failed == 0
        assert len(spikes()) == 1  # within the window: no second spike
        with rt.engine.connect() as conn:
            (n,) = conn.exec_driver_sql("SELECT COUNT(*) FROM alerts WHERE watch_id = 'spike:iran'").one()
            (processed,) = conn.exec_driver_sql("SELECT COUNT(*) FROM articles").one()
        assert n == 1 and processed == 6
        rt.close()
