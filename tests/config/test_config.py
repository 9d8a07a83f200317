"""Every kind of bad configuration stops the start with a message naming the file, the key path
and the cause. Cases are files in cases/, each stating what its message must (`# expect:`) and
must never (`# never:`) contain."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import ConfigError, load_settings

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
ROOT = Path(__file__).resolve().parents[2]


def _directives(path: Path, key: str) -> list[str]:
    prefix = f"# {key}: "
    return [line[len(prefix) :].strip() for line in path.read_text().splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_config_is_refused_with_a_clear_message(case: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(case)
    message = str(raised.value)
    assert message.startswith(str(case)), message
    for fragment in _directives(case, "expect"):
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    for secret in _directives(case, "never"):
        assert secret not in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_shipped_config_is_valid_and_resolves_paths() -> None:
    settings = load_settings(ROOT / "newswatch.yaml")
    assert settings.feeds and all(f.path is None or Path(str(f.path)).is_file() for f in settings.feeds)
    assert settings.database_url == f"sqlite:///{ROOT / 'data' / 'newswatch.db'}"
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert {w.id for w in settings.watches} >= {"drones", "sanctions", "missiles"}


def test_env_interpolation_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text('channels:\n  chat: ["json://127.0.0.1:9/${HOOK_PATH}"]\ndefault_channels: [chat]\n')
    monkeypatch.setenv("HOOK_PATH", "alerts")
    monkeypatch.setenv("NEWSWATCH_BROKER_URL", "redis://127.0.0.1:1/0")
    settings = load_settings(cfg)
    assert settings.channels["chat"] == ["json://127.0.0.1:9/alerts"]
    assert settings.broker_url == "redis://127.0.0.1:1/0"
    assert settings.service.data_dir == tmp_path / "data"


def test_channel_entries_may_be_apprise_config_files(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    team = Path(__file__).parent / "apprise" / "team.yml"
    cfg.write_text(f'channels:\n  team:\n    - config: {team}\n    - "json://127.0.0.1:9/other"\n')
    urls = load_settings(cfg).channels["team"]
    assert len(urls) == 3
    assert urls[0].startswith("json://127.0.0.1:9/hook") and urls[1].startswith("mailto://")
    assert urls[2] == "json://127.0.0.1:9/other"


def test_the_readme_example_is_a_valid_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration reference", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "SMTP_USER", "SMTP_PASSWORD", "PGPASSWORD"):
        monkeypatch.setenv(var, "x1")
    (tmp_path / "apprise-team.yml").write_text("urls:\n  - json://127.0.0.1:9/team\n")
    (tmp_path / "newswatch.yaml").write_text(example, encoding="utf-8")
    settings = load_settings(tmp_path / "newswatch.yaml")
    assert [f.name for f in settings.feeds] == ["reuters-world", "fixtures"]
    assert settings.channels["team"][0].startswith("json://127.0.0.1:9/team")
    assert settings.health.operator_channels == ["ops"]


def test_relative_archive_paths_follow_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text('channels:\n  archive: ["jsonl://out/alerts.jsonl", "jsonl:///var/x.jsonl"]\n')
    assert load_settings(cfg).channels["archive"] == [
        f"jsonl://{tmp_path}/out/alerts.jsonl",
        "jsonl:///var/x.jsonl",
    ]
