"""console:// and jsonl:// custom schemes, delivered through the production send() path."""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime
from pathlib import Path

import pytest
from apprise.manager_plugins import NotificationManager

from alerts.deliver import SendVerdict, send
from alerts.render import RenderedAlert, render_alert
from alerts.schemes import register_schemes
from tests.alerts.conftest import make_alert

PER_PROCESS = 150


def _append_many(url: str, worker: int) -> int:
    """Child process body: send PER_PROCESS large alerts to the same jsonl file."""
    failures = 0
    for i in range(PER_PROCESS):
        # ~9 KB of UTF-8 per line, far above PIPE_BUF, to expose any interleaving.
        alert = RenderedAlert(title=f"w{worker}-{i}", body=f"{worker}:{i} " + "مسيرة " * 800)
        failures += not send(url, alert, idempotency_key=f"{worker}-{i}").ok
    return failures


def test_register_schemes_is_idempotent() -> None:
    register_schemes()
    register_schemes()
    manager = NotificationManager()  # type: ignore[no-untyped-call]
    assert "console" in manager and "jsonl" in manager


@pytest.mark.delivers
def test_console_prints_title_body_and_blank_line(capsys: pytest.CaptureFixture[str]) -> None:
    rendered = render_alert(make_alert())
    assert send("console://", rendered, idempotency_key="k").ok
    assert capsys.readouterr().out == f"{rendered.title}\n{rendered.body}\n\n"


@pytest.mark.delivers
def test_jsonl_relative_path_appends_valid_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = render_alert(make_alert()), render_alert(make_alert(article_title="second"))
    assert send("jsonl://out/deep/alerts.jsonl", first, idempotency_key="a").ok
    assert send("jsonl://out/deep/alerts.jsonl", second, idempotency_key="b").ok
    lines = (tmp_path / "out/deep/alerts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["title"] for r in records] == [first.title, second.title]
    assert records[0]["body"] == first.body  # Arabic kept as UTF-8
    assert records[0]["type"] == "info"
    assert datetime.fromisoformat(records[0]["time"]).utcoffset() is not None


@pytest.mark.delivers
def test_jsonl_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "abs dir" / "alerts.jsonl"
    assert send(f"jsonl://{target}", render_alert(make_alert()), idempotency_key="a").ok
    assert len(target.read_text(encoding="utf-8").splitlines()) == 1


def test_jsonl_unwritable_path_fails_with_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    outcome = send(f"jsonl://{blocker}/x.jsonl", render_alert(make_alert()), idempotency_key="a")
    assert outcome.verdict is SendVerdict.PERMANENT
    # `file` is a file where a directory is needed: makedirs names it.
    assert outcome.error is not None and f"failed: File exists ({blocker})" in outcome.error, outcome.error
    assert f"jsonl://{blocker}/x.jsonl" in outcome.error


@pytest.mark.delivers
def test_two_processes_append_without_broken_lines(tmp_path: Path) -> None:
    url = f"jsonl://{tmp_path / 'shared.jsonl'}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        failures = pool.starmap(_append_many, [(url, 0), (url, 1)])
    assert failures == [0, 0]
    lines = (tmp_path / "shared.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 2 * PER_PROCESS
    assert {r["title"] for r in records} == {f"w{w}-{i}" for w in (0, 1) for i in range(PER_PROCESS)}
    assert all(r["body"].startswith(r["title"][1:].replace("-", ":") + " ") for r in records)
