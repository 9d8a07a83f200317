"""alerts.deliver.send against real loopback receivers through real Apprise (catalogue items 26, 27, 29)."""

from __future__ import annotations

import logging
import socket

import pytest

import alerts.deliver
from alerts.deliver import IDEMPOTENCY_HEADER, SendVerdict, describe_destination, send, validate_destination
from alerts.render import render_alert
from tests.alerts.conftest import make_alert
from tests.support.receivers import SmtpReceiver, WebhookReceiver

SECRETS = ("SECRETPASS", "SECRETPATH42abc", "SECRETTOKEN", "SECRETHEADER", "MAILSECRETPW")


def secret_json_url(port: int) -> str:
    return f"json://user:SECRETPASS@127.0.0.1:{port}/hooks/SECRETPATH42abc?-X-Token=SECRETTOKEN&+X-Api-Key=SECRETHEADER"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


@pytest.mark.delivers
def test_webhook_receives_snippet_and_idempotency_header(webhook: WebhookReceiver) -> None:
    rendered = render_alert(make_alert())
    outcome = send(webhook.apprise_url("/hook"), rendered, idempotency_key="alert-7:dest-2")
    assert outcome.ok and not outcome.transient and outcome.error is None
    assert webhook.wait_for(1, 5)
    (request,) = webhook.requests
    assert request.path == "/hook"
    assert request.headers[IDEMPOTENCY_HEADER.lower()] == "alert-7:dest-2"
    assert request.json["title"] == rendered.title
    assert "⟦طائرة مسيرة⟧" in request.json["message"]
    assert request.json["message"] == rendered.body


@pytest.mark.delivers
def test_smtp_receives_subject_and_utf8_arabic_body(smtp: SmtpReceiver) -> None:
    rendered = render_alert(make_alert())
    outcome = send(smtp.apprise_url(to="analyst@example.org"), rendered, idempotency_key="alert-7:mail")
    assert outcome.ok, outcome.error
    assert smtp.wait_for(1, 5)
    (message,) = smtp.messages
    assert message["Subject"] == rendered.title
    assert message["To"] == "analyst@example.org"
    assert message[IDEMPOTENCY_HEADER] == "alert-7:mail"
    assert len(message.get_all("Message-ID") or []) == 1
    assert message.get_content_type() == "text/plain"
    # SMTP carries CRLF line endings; the text itself must be intact (quoted-printable UTF-8).
    assert message.get_content().replace("\r\n", "\n").strip() == rendered.body.strip()


@pytest.mark.delivers
def test_hostile_content_reaches_html_free_destinations_escaped(smtp: SmtpReceiver) -> None:
    rendered = render_alert(
        make_alert(article_title="<script>x</script> @everyone", link="javascript:alert(1)")
    )
    assert send(smtp.apprise_url(), rendered, idempotency_key="k").ok
    assert smtp.wait_for(1, 5)
    content = smtp.messages[0].get_content()
    assert "<script>x</script>" in content  # literal text in a text/plain part, never HTML
    assert "@everyone" not in content and "javascript:" not in content


def test_server_error_is_transient(webhook: WebhookReceiver) -> None:
    webhook.fail_next(1, status=500)
    outcome = send(webhook.apprise_url(), render_alert(make_alert()), idempotency_key="k")
    assert not outcome.ok and outcome.transient
    assert outcome.error is not None and "HTTP 500 Internal Server Error" in outcome.error


def test_rate_limit_is_transient(webhook: WebhookReceiver) -> None:
    webhook.fail_next(1, status=429, retry_after=3)
    outcome = send(webhook.apprise_url(), render_alert(make_alert()), idempotency_key="k")
    assert not outcome.ok and outcome.transient
    assert outcome.retry_after == 3.0  # read from the provider's response, which Apprise hides


def test_not_found_is_permanent(webhook: WebhookReceiver) -> None:
    webhook.fail_next(1, status=404)
    outcome = send(webhook.apprise_url(), render_alert(make_alert()), idempotency_key="k")
    assert not outcome.ok and not outcome.transient
    assert outcome.error is not None and "HTTP 404 Not Found" in outcome.error


def test_connection_refused_is_transient() -> None:
    port = closed_port()
    outcome = send(f"json://127.0.0.1:{port}/hook", render_alert(make_alert()), idempotency_key="k")
    assert outcome.verdict is SendVerdict.TRANSIENT
    assert outcome.error is not None
    assert outcome.error.startswith(f"json://127.0.0.1:{port}/…: connection refused"), outcome.error


def test_slow_receiver_times_out_as_transient(webhook: WebhookReceiver) -> None:
    webhook.set_delay(2.0)
    outcome = send(webhook.apprise_url(), render_alert(make_alert()), idempotency_key="k", timeout_s=0.5)
    assert outcome.verdict is SendVerdict.TRANSIENT
    assert outcome.error is not None and ": timed out" in outcome.error, outcome.error
    assert "refused" not in outcome.error


def test_internal_error_is_logged_once_with_traceback_and_not_retried(
    webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Apprise 2.3 break: building the asset raises inside the send. That is a programming
    error, not a network failure: one ERROR record with the traceback, verdict INTERNAL."""

    def broken_asset() -> None:
        raise AttributeError("property 'secure_logging' of 'AppriseAsset' object has no setter")

    monkeypatch.setattr(alerts.deliver, "make_asset", broken_asset)
    caplog.set_level(logging.WARNING)
    outcome = send(secret_json_url(webhook.port), render_alert(make_alert()), idempotency_key="k")
    assert outcome.verdict is SendVerdict.INTERNAL and not outcome.transient and not outcome.ok
    assert outcome.error is not None
    assert "internal error: AttributeError: property 'secure_logging'" in outcome.error
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert all(secret not in caplog.text for secret in SECRETS)
    assert webhook.requests == []


def test_no_apprise_retries_one_request_per_send(webhook: WebhookReceiver) -> None:
    webhook.fail_next(5, status=503)
    outcome = send(webhook.apprise_url() + "?retry=3&wait=0", render_alert(make_alert()), idempotency_key="k")
    assert outcome.transient
    assert len(webhook.requests) == 1


def test_unloadable_url_is_permanent_and_redacted() -> None:
    outcome = send(
        "nosuchscheme://user:SECRETPASS@host/SECRETPATH42abc", render_alert(make_alert()), idempotency_key="k"
    )
    assert not outcome.ok and not outcome.transient
    assert outcome.error and "SECRET" not in outcome.error


@pytest.mark.delivers
def test_secrets_never_reach_errors_or_logs(
    webhook: WebhookReceiver, smtp: SmtpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Catalogue item 29: DEBUG everywhere, including the apprise logger; nothing leaks."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="apprise")  # restored by caplog after the test
    rendered = render_alert(make_alert())
    url = secret_json_url(webhook.port)
    mail_url = (
        f"mailto://bob:MAILSECRETPW@127.0.0.1:{smtp.port}?from=n@example.org&to=a@example.org&mode=insecure"
    )
    webhook.fail_next(1, status=500)
    outcomes = [
        send(url, rendered, idempotency_key="k1"),
        send(url, rendered, idempotency_key="k2"),
        send(mail_url, rendered, idempotency_key="k3"),  # the receiver offers no AUTH: fails
        send(
            f"json://user:SECRETPASS@127.0.0.1:{closed_port()}/hooks/SECRETPATH42abc",
            rendered,
            idempotency_key="k4",
        ),
    ]
    assert [o.ok for o in outcomes] == [False, True, False, False]
    assert webhook.requests[1].headers["x-api-key"] == "SECRETHEADER"  # the secret really was used
    texts = [o.error or "" for o in outcomes] + [describe_destination(url), describe_destination(mail_url)]
    texts += [validate_destination("nosuchscheme://u:SECRETPASS@h/SECRETPATH42abc") or ""]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("POST" in r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_describe_destination_labels() -> None:
    assert describe_destination("json://127.0.0.1:8080/hooks/SECRETPATH42abc") == "json://127.0.0.1:8080/…"
    assert (
        describe_destination("mailto://me:pw@smtp.example.com?to=a@b.org")
        == "mailto://smtp.example.com (user ****)"
    )
    assert describe_destination("tgram://123456789:ABCdefGhIJKlmnOPQRstUVwxyZ/12345") == "tgram://…"
    assert describe_destination("jsonl:///var/log/alerts.jsonl") == "jsonl:///var/log/alerts.jsonl"
    assert describe_destination("console://") == "console://"


def test_validate_destination() -> None:
    assert validate_destination("json://127.0.0.1:8080/hook") is None
    assert validate_destination("console://") is None
    assert validate_destination("jsonl://alerts/out.jsonl") is None
    reason = validate_destination("tgram://bad")
    assert reason is not None and "tgram" in reason
    assert validate_destination("not a url at all") is not None
