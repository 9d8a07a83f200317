"""A store filled by a real `newswatch run --once` over the seed site and a hostile feed, and a
`newswatch serve` subprocess on a free loopback port over it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import yaml

from tests.integration.helpers import SEEDS, write_config
from tests.support.services import NewswatchProcess, free_port, wait_until
from tests.support.site_server import SiteServer

# Titles are stored as plain text (worker/feedparse.py strips tags), so the markup is escaped
# once more in the feed: what the store holds, and the dashboard must escape, is the literal text.
SCRIPT_TITLE = "<script>window.pwned=1</script> إيران تزود روسيا بالمسيرات"
BIDI_TITLE = "\u202eevil.exe\u202c موسكو وطهران"
JS_LINK = "javascript:alert(document.cookie)"


def hostile_feed(path: Path) -> Path:
    """An RSS file whose entries carry markup in titles, a `javascript:` link and a bidi override,
    with seed article text so that watches fire on them."""
    body = (SEEDS / "000_6085b7264f9884e6.txt").read_text(encoding="utf-8")
    other = (SEEDS / "003_227bb4d96c4cbcfe.txt").read_text(encoding="utf-8")
    items = [
        (escape(SCRIPT_TITLE), JS_LINK, escape("<img src=x onerror=window.pwned=2> ") + body),
        (BIDI_TITLE, "https://hostile.invalid/bidi", other),
    ]
    xml = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{i}</guid>"
        f"<description>{escape(text)}</description></item>"
        for i, (t, link, text) in enumerate(items)
    )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>hostile</title>'
        f"<link>https://hostile.invalid/</link>{xml}</channel></rss>",
        encoding="utf-8",
    )
    return path


def seeded_config(workdir: Path, site: SiteServer, extra: dict[str, Any] | None = None) -> Path:
    """A configuration with the seed site and the hostile feed, alerts archived to a JSONL file."""
    return write_config(
        workdir,
        feeds=[
            {"name": "seeds-http", "url": f"{site.url}feed.rss.xml", "allow_private": True,
             "backfill": "all"},
            {"name": "hostile", "path": str(hostile_feed(workdir / "hostile.rss.xml")), "backfill": "all"},
        ],
        channels={"archive": [f"jsonl://{workdir / 'alerts.jsonl'}"]},
        extra=extra,
    )


def run_once(config: Path) -> None:
    """`newswatch run --once` as a real process; raises with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, timeout=180, cwd=config.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def with_serve_settings(config: Path, serve: dict[str, Any]) -> Path:
    """A copy of `config` with a `serve:` section."""
    tree = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree["serve"] = serve
    out = config.with_name(f"serve-{abs(hash(str(serve)))}.yaml")
    out.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


class Serve(NewswatchProcess):
    """`newswatch serve` on a free loopback port; `url` once it answers /healthz."""

    def __init__(self, config: Path, *args: str) -> None:
        self.port = free_port()
        super().__init__(config, "serve", "--port", str(self.port), *args)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Serve:
        super().__enter__()

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, 30), self.log()
        return self
