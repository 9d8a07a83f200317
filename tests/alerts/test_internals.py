"""Canaries for what alerts/ relies on beyond Apprise's documented API.

Each failure names the library versions installed, so an upgrade that changes them is caught by
`make test-latest` with the cause spelled out, not by alerts silently stuck in `pending`.
"""

from __future__ import annotations

import apprise
import requests
from apprise import AppriseAsset
from apprise.plugins.base import NotifyBase

from alerts.deliver import build_service, make_asset, send
from alerts.render import render_alert
from tests.alerts.conftest import make_alert
from tests.support.receivers import WebhookReceiver

VERSIONS = f"Apprise {apprise.__version__}, requests {requests.__version__}"


def test_apprise_http_plugins_send_through_requests_session(webhook: WebhookReceiver) -> None:
    """The status and Retry-After of a send come only from the recorded exchanges."""
    webhook.fail_next(1, status=429, retry_after=7)
    outcome = send(webhook.apprise_url(), render_alert(make_alert()), idempotency_key="k")
    seen_by_recorder = outcome.retry_after == 7.0 and "HTTP 429 Too Many Requests" in (outcome.error or "")
    assert seen_by_recorder, (
        f"{VERSIONS}: Apprise's json:// plugin no longer sends through requests.Session.send, so "
        f"alerts/responses.py cannot see provider answers (status, Retry-After): {outcome}"
    )


def test_asset_settings_are_accepted_and_kept() -> None:
    asset = make_asset()
    kept = (asset.secure_logging, asset.http_redirects, asset.async_mode, asset.interpret_escapes)
    assert isinstance(asset, AppriseAsset)
    assert kept == (True, False, False, False), f"{VERSIONS}: AppriseAsset ignored a setting: {kept}"


def test_plugin_retry_rate_and_timeouts_are_settable() -> None:
    service = build_service("json://127.0.0.1:9/hook", None, timeout_s=1.5)
    assert isinstance(service, NotifyBase), f"{VERSIONS}: json:// did not load"
    values = (
        service.retry,
        service.request_rate_per_sec,
        service.socket_connect_timeout,
        service.socket_read_timeout,
    )
    assert values == (0, 0, 1.5, 1.5), (
        f"{VERSIONS}: NotifyBase retry/request_rate_per_sec/socket timeouts changed: {values}"
    )
