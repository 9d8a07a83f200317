"""Shared fixtures for alert tests: a sample alert and the real loopback receivers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from alerts.render import AlertContent
from alerts.schemes import register_schemes
from tests.support.receivers import SmtpReceiver, WebhookReceiver


def make_alert(**overrides: object) -> AlertContent:
    """An Arabic drone-strike alert; any field can be overridden."""
    fields: dict[str, object] = {
        "watch_id": "w-drones",
        "watch_title": "Drones",
        "article_title": "هجوم بطائرة مسيرة على ميناء الحديدة",
        "source": "Al Example News",
        "link": "https://news.example.org/2026/11/21/drone",
        "published": datetime(2026, 11, 21, 18, 30, 5, tzinfo=UTC),
        "snippet": "أعلنت السلطات أن ⟦طائرة مسيرة⟧ استهدفت الميناء فجر اليوم.",
        "terms": ("طائرة مسيرة",),
        "score": 0.91,
        "lang": "ar",
    }
    fields.update(overrides)
    return AlertContent(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _schemes() -> None:
    register_schemes()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver
