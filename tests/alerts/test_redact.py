"""redact / url_secrets / RedactingFilter / quiet_apprise_logger."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from alerts.redact import MASK, RedactingFilter, quiet_apprise_logger, redact, url_secrets

JSON_URL = (
    "json://user:SECRETPASS@127.0.0.1:8080/hooks/SECRETPATH42abc?-X-Token=SECRETTOKEN&+X-Api-Key=SECRETHEADER"
)

PUSHOVER = "pover://uSr5k@aPpToKeN1234567890abcdefghijk"


def test_url_secrets_of_a_json_url() -> None:
    secrets = url_secrets(JSON_URL)
    for secret in ("SECRETPASS", "SECRETPATH42abc", "SECRETTOKEN", "SECRETHEADER"):
        assert secret in secrets
    for plain in ("user", "127.0.0.1", "hooks", "8080"):
        assert plain not in secrets


def test_url_secrets_of_token_schemes_and_mailto() -> None:
    assert "123456789:ABCdefGhIJKlmnOPQRstUVwxyZ" in url_secrets(
        "tgram://123456789:ABCdefGhIJKlmnOPQRstUVwxyZ/12345"
    )
    mail = url_secrets(
        "mailto://bob:p%40ss%20word@smtp.example.com?to=a@example.org&from=n@example.org&mode=ssl"
    )
    assert "p%40ss%20word" in mail and "p@ss word" in mail
    assert not any("example" in s for s in mail)
    assert "slack-tok-0123456789" in url_secrets("json://h/p?apikey=slack-tok-0123456789&format=text")


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        # Only the plugin knows these are secrets: a short Pushover user key, a short Gotify token.
        (PUSHOVER, "uSr5k"),
        (PUSHOVER, "aPpToKeN1234567890abcdefghijk"),
        ("gotify://push.example.org/Ab1", "Ab1"),
        ("tgram://123456789:ABCdefGhIJKlmnOPQRstUVwxyZ/12345", "ABCdefGhIJKlmnOPQRstUVwxyZ"),
    ],
)
def test_a_root_filter_built_from_urls_masks_each_secret_part_logged_alone(url: str, hidden: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token in use: %s", (hidden,), None)
    assert hidden in url_secrets(url)
    RedactingFilter([url]).filter(record)
    assert record.getMessage() == f"token in use: {MASK}"
    assert "push.example.org" not in url_secrets("gotify://push.example.org/Ab1")


def test_redact_masks_every_spelling_case_insensitively() -> None:
    text = "url=/hooks/SECRETPATH42abc?X-Token=secrettoken auth SECRETPASS"
    out = redact(text, url_secrets(JSON_URL))
    assert "SECRET" not in out.upper()
    assert out.count(MASK) == 3
    assert redact("nothing to hide", []) == "nothing to hide"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(url_secrets(JSON_URL)))
    logger = logging.getLogger("newswatch.test.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.removeHandler(handler)


def test_filter_masks_message_args_and_exceptions(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.debug("POST %s with %r", "/hooks/SECRETPATH42abc", {"X-Token": "SECRETTOKEN"})
    logger.info("password=%(pw)s", {"pw": "SECRETPASS"})
    try:
        raise ValueError("bad header SECRETHEADER")
    except ValueError:
        logger.exception("failed")
    logger.warning("broken format %s %s", "SECRETPASS")  # malformed: must not leak via the fallback
    output = stream.getvalue()
    assert "SECRET" not in output
    assert output.count(MASK) >= 5
    assert "ValueError" in output


def test_quiet_apprise_logger_caps_at_info_and_at_the_root_level() -> None:
    logger, root = logging.getLogger("apprise"), logging.getLogger()
    before, root_before = logger.level, root.level
    try:
        root.setLevel(logging.DEBUG)
        logger.setLevel(logging.DEBUG)
        quiet_apprise_logger()
        assert logger.level == logging.INFO
        logger.setLevel(logging.WARNING)
        quiet_apprise_logger()
        assert logger.level == logging.WARNING  # never made more verbose
        root.setLevel(logging.WARNING)  # `newswatch run` without --verbose
        logger.setLevel(logging.NOTSET)
        quiet_apprise_logger()
        assert logger.level == logging.WARNING  # no INFO line per notification
    finally:
        logger.setLevel(before)
        root.setLevel(root_before)
