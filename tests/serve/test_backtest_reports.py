"""Backtest reports on the dashboard: a real `newswatch backtest` run over the seeded store keeps
its report under `service.data_dir/backtests`; a real `newswatch serve` lists it (candidate file,
the watches it changes) and serves its HTML, and nothing else under that name space."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.serve.support import Serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_a_backtest_report_is_listed_and_served_and_nothing_else_is(seeded: Path) -> None:
    tree = yaml.safe_load(seeded.read_text(encoding="utf-8"))
    tree["watches"] = [w for w in tree["watches"] if w["id"] != "iran"]
    candidate = seeded.with_name("candidate-no-iran.yaml")
    candidate.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "worker.cli", "--config", str(candidate), "backtest",
                           "--since", "3650d", "--json"], capture_output=True, text=True, timeout=120,
                          cwd=seeded.parent)
    assert done.returncode == 0, done.stderr
    lost = {w["watch_id"]: w["lost"] for w in json.loads(done.stdout)["watches"]}["iran"]
    assert lost >= 1
    folder = seeded.parent / "data" / "backtests"
    (kept,) = [p for p in folder.glob("*.json")]
    assert f"report kept as {kept}" in done.stderr and kept.with_suffix(".html").is_file()
    for suffix in (".json", ".html"):  # not a report's name: never listed nor served
        (folder / f"notes{suffix}").write_text("{}", encoding="utf-8")
    try:
        with Serve(seeded) as serve:
            page = httpx.get(f"{serve.url}/backtests", timeout=10).text
            assert f'id="report-{kept.stem}"' in page and "candidate-no-iran.yaml" in page
            assert f'<a href="/backtests/{kept.stem}">' in page and "notes" not in page
            assert f'<td class="lost">{lost}</td>' in page
            report = httpx.get(f"{serve.url}/backtests/{kept.stem}", timeout=10)
            assert report.status_code == 200 and report.text == kept.with_suffix(".html").read_text("utf-8")
            assert "default-src 'none'" in report.headers["content-security-policy"]
            for name in ("notes", "20990101T000000Z", "..%2Fnewswatch.db", "%2E%2E", kept.stem + ".json"):
                assert httpx.get(f"{serve.url}/backtests/{name}", timeout=10).status_code == 404, name
    finally:
        for path in folder.iterdir():
            path.unlink()
        candidate.unlink()
