"""`newswatch check` shows feeds, destinations and the store without any secret, run as the real
command line with secrets in channel URLs (from the environment) and in the database URL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import shipped_watchlist
from tests.support.services import ROOT

pytestmark = pytest.mark.timeout(60)

SECRETS = {
    "NW_SMTP_PASSWORD": "Sm7pPassw0rd-xyzzy",
    "NW_BOT_TOKEN": "123456789:AAHbotTOKENsecretvalue_qwerty",
    "NW_HOOK_TOKEN": "HookT0kenInQuery-plugh",
    "NW_DB_PASSWORD": "DbPassw0rd-frobnicate",
}


def test_check_output_contains_no_secret(tmp_path: Path) -> None:
    tree = {
        "service": {
            "data_dir": str(tmp_path / "data"),
            "database_url": "postgresql+psycopg://watcher:${NW_DB_PASSWORD}@127.0.0.1:1/newswatch",
        },
        "feeds": [{"name": "wire", "url": "https://news.example.org/rss.xml"}],
        "channels": {
            "mail": ["mailtos://analyst:${NW_SMTP_PASSWORD}@smtp.example.org?to=desk@example.org"],
            "chat": ["tgram://${NW_BOT_TOKEN}/-100123456"],
            "hook": ["json://hooks.example.org/notify?token=${NW_HOOK_TOKEN}"],
        },
        "default_channels": ["mail", "chat", "hook"],
        "health": {"operator_channels": ["mail"]},
        **shipped_watchlist(),
    }
    config = tmp_path / "newswatch.yaml"
    config.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "newswatch"), "--config", str(config), "check"],
        capture_output=True,
        text=True,
        timeout=50,
        env={**os.environ, **SECRETS},
    )
    output = done.stdout + done.stderr
    assert "mail:" in done.stdout and "chat:" in done.stdout and "hook:" in done.stdout  # destinations shown
    assert "wire" in done.stdout and "watcher" in done.stdout  # feeds and the (masked) store shown
    for name, secret in SECRETS.items():
        assert secret not in output, name
        assert secret[:10] not in output, name  # not even a prefix
