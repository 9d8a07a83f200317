"""The command line as a user meets it, on real subprocesses: the start-up self-check, the exit
status of `run --once`, `--config` after the subcommand, and what `newswatch run` prints."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import SEEDS, write_config
from tests.support.receivers import WebhookReceiver
from tests.support.services import ROOT, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SECRET = "S3cretPass"
BROKEN = f"nosuchscheme://user:{SECRET}@host/T0kenValue"
# A release of Apprise whose asset no longer accepts a setting we pass (as 2.3 did with
# `secure_logging`), installed for the subprocess only.
BROKEN_APPRISE = """
import apprise
from apprise.exception import AppriseImproperlyConfigured

_init = apprise.AppriseAsset.__init__


def _refuse(self, *args, **kwargs):
    if "http_redirects" in kwargs:
        raise AppriseImproperlyConfigured("AppriseAsset init(): An invalid key http_redirects was specified.")
    _init(self, *args, **kwargs)


apprise.AppriseAsset.__init__ = _refuse
"""


def newswatch(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> (
    subprocess.CompletedProcess[str]
):
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def seed_config(tmp_path: Path, channels: dict[str, list[str]]) -> Path:
    return write_config(
        tmp_path, feeds=[{"name": "seeds", "path": str(SEEDS / "site" / "feed.rss.xml")}], channels=channels
    )


@pytest.mark.parametrize("command", [["worker"], ["run"], ["run", "--once"]])
def test_broken_destination_refuses_to_start_with_one_line(tmp_path: Path, command: list[str]) -> None:
    config = seed_config(tmp_path, {"ops": [BROKEN], "console": ["console://"]})
    done = newswatch("--config", str(config), *command, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("newswatch: cannot start: channel 'ops' destination nosuchscheme://…: ")
    assert "Apprise cannot load this URL" in lines[0]
    assert SECRET not in done.stderr + done.stdout and "T0kenValue" not in done.stderr + done.stdout
    assert not (tmp_path / "data" / "newswatch.db").exists(), "it started anyway"


def test_incompatible_apprise_install_refuses_to_start_naming_each_destination(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(textwrap.dedent(BROKEN_APPRISE), encoding="utf-8")
    config = seed_config(tmp_path, {"hook": [f"json://user:{SECRET}@127.0.0.1:9/hook"], "console": ["console://"]})
    env = {"PYTHONPATH": f"{shim}{os.pathsep}{ROOT}"}
    cause = "AppriseImproperlyConfigured: AppriseAsset init(): An invalid key http_redirects was specified."
    worker = newswatch("--config", str(config), "worker", cwd=tmp_path, env=env, timeout=60)
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert worker.stderr.strip().splitlines() == [
        f"newswatch: cannot start: channel 'hook' destination json://127.0.0.1:9/… (user ****): {cause}",
        f"newswatch: cannot start: channel 'console' destination console://: {cause}",
    ]
    check = newswatch("--config", str(config), "check", cwd=tmp_path, env=env, timeout=60)
    assert check.returncode == 1 and cause in check.stdout, check.stdout + check.stderr
    assert SECRET not in worker.stderr + check.stdout + check.stderr


@pytest.mark.delivers
def test_run_once_exits_zero_when_all_sent_and_one_when_not(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        good = tmp_path / "good"
        good.mkdir()
        config = seed_config(good, {"hook": [hook.apprise_url()]})
        done = newswatch("--config", str(config), "run", "--once", cwd=good)
        assert done.returncode == 0, done.stdout + done.stderr
        sent = len(hook.requests)
        assert sent > 0 and f"{sent} delivery(ies) sent, 0 not sent" in done.stdout
        bad = tmp_path / "bad"
        bad.mkdir()
        hook.fail_next(10_000, status=503)
        config = seed_config(bad, {"hook": [hook.apprise_url()]})
        done = newswatch("--config", str(config), "run", "--once", cwd=bad)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"0 delivery(ies) sent, {sent} not sent" in done.stdout


def test_config_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    config = seed_config(tmp_path, {"console": ["console://"]})
    article = SEEDS / "000_6085b7264f9884e6.txt"
    before = newswatch("--config", str(config), "match", "--json", str(article), cwd=tmp_path)
    after = newswatch("match", "--json", "--config", str(config), str(article), cwd=tmp_path)
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout == after.stdout and '"shoigu"' in after.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # no newswatch.yaml here: only the --config after the subcommand can work
    checked = newswatch("check", "--config", str(config), cwd=elsewhere)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _all_messages_shown(workdir: Path, text: str) -> bool:
    """Every seed entry is processed and every message's article title was printed, once."""
    db = workdir / "data" / "newswatch.db"
    if not db.exists():
        return False
    conn = sqlite3.connect(db, timeout=30)
    try:
        states = [s for (s,) in conn.execute("SELECT state FROM entries")]
        titles = [t for (t,) in conn.execute(
            "SELECT a.title FROM messages m JOIN articles a ON a.id = m.article_id")]
    except sqlite3.OperationalError:  # tables not created yet
        return False
    finally:
        conn.close()
    settled = len(states) == 5 and set(states) == {"done"}
    return settled and bool(titles) and all(text.count(f"Article: {t}\n") == 1 for t in titles)


@pytest.mark.delivers
def test_run_prints_a_banner_then_readable_alerts_only(tmp_path: Path) -> None:
    """What `make run` shows: the shipped configuration over the seeds, real headlines, and none
    of Celery's banner or per-task lines."""
    shutil.copy(ROOT / "newswatch.yaml", tmp_path / "newswatch.yaml")
    shutil.copytree(SEEDS, tmp_path / "seeds")
    headlines = [p["title"] for p in yaml.safe_load((SEEDS / "expected_pages.yaml").read_text())["pages"]]
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "run"],
            cwd=tmp_path, stdout=out, stderr=err, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        started = time.monotonic()
        try:
            shown = wait_until(lambda: _all_messages_shown(tmp_path, out_path.read_text()), 60)
            elapsed = time.monotonic() - started
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    text, errors = out_path.read_text(), err_path.read_text()
    assert shown, f"headlines missing after 60 s:\n{text[-3000:]}\n{errors[-3000:]}"
    # one message per story: five seed pages of one outlet are three to five stories (000 and 001
    # share a passage, which within one outlet is boilerplate; 003 may join a Shoigu story)
    conn = sqlite3.connect(tmp_path / "data" / "newswatch.db")
    ((n_messages,),) = conn.execute("SELECT COUNT(*) FROM messages").fetchall()
    conn.close()
    assert len(headlines) - 2 <= n_messages == text.count("[newswatch] "), text[-3000:]
    assert elapsed < 30, f"the seed alerts took {elapsed:.0f} s"
    assert text.startswith("newswatch: config newswatch.yaml\n  store    sqlite:///")
    for key in ("broker", "feeds    1: seeds", "watches", "channels console (console://)"):
        assert key in text.split("\n\n")[0]
    for noise in ("celery@", "[config]", "[queues]", "Task newswatch.", "succeeded in", "Sent newswatch"):
        assert noise not in text + errors, noise
    for chrome in ("الموقع الرسمي | القاهرة الاخبارية", "الثلاثاء 7 مايو / مايو 2024"):
        assert f"Article: {chrome}" not in text
