"""Start-up self-check of every destination: everything a send does, short of the network.

A broken installation (an Apprise release that changed an API we use, a plugin that no longer
loads) must stop the service at start-up with one line naming the destination, not surface as
"pending" deliveries that retry for a day and a half. For each destination this builds the Apprise
asset and plugin exactly as `alerts.deliver.send` does, renders a sample alert, and converts it
to the plugin's own format; nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from apprise import NotifyFormat
from apprise.conversion import convert_between

from alerts.deliver import build_service, describe_destination, masked_logs, validate_destination
from alerts.outcome import MAX_ERROR
from alerts.redact import redact, url_secrets
from alerts.render import AlertContent, render_alert
from alerts.schemes import register_schemes

SAMPLE = AlertContent(
    watch_id="self-check",
    watch_title="newswatch self-check",
    article_title="اختبار ذاتي: تنبيه تجريبي لا يُرسل",
    source="newswatch",
    link="https://example.org/newswatch/self-check",
    published=datetime(2026, 1, 1, tzinfo=UTC),
    snippet="هذا ⟦تنبيه تجريبي⟧ يُعرض ولا يُرسل. A sample alert, rendered and never sent.",
    terms=("تنبيه تجريبي",),
    score=1.0,
    lang="ar",
)


@dataclass(frozen=True)
class DestinationProblem:
    """A destination that cannot work: its channel, secret-free label and the cause."""

    channel: str
    label: str
    cause: str

    def line(self) -> str:
        """One line for the operator, secrets masked."""
        return f"channel {self.channel!r} destination {self.label}: {self.cause}"


def check_destination(url: str) -> str | None:
    """None when `url` loads and renders the sample alert as a send would; else the cause."""
    register_schemes()
    secrets = url_secrets(url)
    with masked_logs(secrets):
        try:
            service = build_service(url, "newswatch-self-check", timeout_s=1.0)
            if service is None:
                reason = validate_destination(url) or "Apprise cannot load this URL"
                return reason.removeprefix(f"{describe_destination(url)}: ")
            rendered = render_alert(SAMPLE)
            convert_between(NotifyFormat.TEXT, service.notify_format, rendered.body)  # type: ignore[no-untyped-call]
            service.url(privacy=True)  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - any failure here is the answer being asked for
            return redact(f"{type(exc).__name__}: {exc}", secrets)[:MAX_ERROR]
    return None


def check_channels(channels: Mapping[str, Sequence[str]], only: Iterable[str] | None = None) -> list[
    DestinationProblem
]:
    """Every destination of `channels` (or of the channels named in `only`) that fails the check."""
    wanted = set(channels) if only is None else set(only)
    problems = []
    for channel, urls in channels.items():
        if channel not in wanted:
            continue
        for url in urls:
            cause = check_destination(url)
            if cause is not None:
                problems.append(DestinationProblem(channel, describe_destination(url), cause))
    return problems
