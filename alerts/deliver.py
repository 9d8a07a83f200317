"""Send one rendered alert to ONE Apprise destination and report a retry-aware, secret-free outcome.

Contract: one fresh Apprise object per call and destination (a partial failure elsewhere can never
cause a re-send here); no Apprise-level retries or e-mail throttle (the outbox owns retries);
body_format as rendered (TEXT unless `body_format_for` chose Markdown or HTML); no redirects;
every log record Apprise or urllib3 emits during the call is masked.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import quote

import apprise
import requests
from apprise import AppriseAsset, NotifyFormat, NotifyType
from apprise.plugins.base import NotifyBase

from alerts.outcome import MAX_ERROR, SendOutcome, SendVerdict, classify
from alerts.redact import MASK, RedactingFilter, redact, split_url, url_secrets
from alerts.render import BodyFormat, RenderedAlert
from alerts.responses import recorded_responses, retry_after
from alerts.schemes import CONSOLE_SCHEME, JSONL_SCHEME, jsonl_path, normalise_url, register_schemes

__all__ = [
    "SendOutcome", "SendVerdict", "body_format_for", "describe_destination", "send", "validate_destination"
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Newswatch-Idempotency"
HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"})
EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
# Read by programs, not people: they keep the plain text body whatever formats the plugin accepts.
_PLAIN_SCHEMES = HEADER_SCHEMES - EMAIL_SCHEMES | {CONSOLE_SCHEME, JSONL_SCHEME}
_HOST_SCHEMES = HEADER_SCHEMES | {CONSOLE_SCHEME}
# Loggers that see destination URLs during a send: Apprise itself and urllib3's request lines.
_URL_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)
# Failures of the network or the provider that escape Apprise: retried. Anything else raised
# inside a send is a programming error (ours or Apprise's) and is not.
_NETWORK_ERRORS = (OSError, requests.RequestException, smtplib.SMTPException)

# Logger filter lists are shared process state; serialise our add/remove so concurrent sends
# cannot lose each other's filter in a read-modify-write race.
_FILTER_LOCK = threading.Lock()


def make_asset() -> AppriseAsset:
    """Apprise settings for untrusted content: masked logging, no redirects, no templates or escape
    expansion, in-memory storage, sequential dispatch in the calling thread."""
    # Constructor keywords only: Apprise 2.3 made `secure_logging` a read-only property, and the
    # constructor is the documented way to set every one of these on 2.x.
    return AppriseAsset(
        storage_mode="memory",
        allow_templates=False,
        secure_logging=True,
        http_redirects=False,
        async_mode=False,
        interpret_escapes=False,
    )


@contextmanager
def masked_logs(secrets: Sequence[str]) -> Iterator[None]:
    """Mask `secrets` in every record the URL-bearing loggers create while the block runs."""
    if not secrets:
        yield
        return
    flt = RedactingFilter(secrets)
    loggers = [logging.getLogger(name) for name in _URL_LOGGERS]
    with _FILTER_LOCK:
        for logger in loggers:
            # Copy-on-write so a thread iterating the old list never sees it change mid-iteration.
            logger.filters = [*logger.filters, flt]
    try:
        yield
    finally:
        with _FILTER_LOCK:
            for logger in loggers:
                logger.filters = [f for f in logger.filters if f is not flt]


def prepare_url(url: str, idempotency_key: str | None) -> str:
    """The URL handed to Apprise: jsonl paths normalised, idempotency header added where supported,
    oversize bodies truncated rather than rejected upstream."""
    url = normalise_url(url.strip())
    parts = split_url(url)
    extra: list[str] = []
    if parts is not None and parts.scheme in HEADER_SCHEMES and idempotency_key is not None:
        extra.append(f"+{IDEMPOTENCY_HEADER}={quote(idempotency_key, safe='')}")
    if parts is not None and parts.scheme not in (CONSOLE_SCHEME, JSONL_SCHEME):
        if not any(key.lower() == "overflow" for key, _ in parts.query):
            extra.append("overflow=truncate")
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


def describe_destination(url: str) -> str:
    """A secret-free label such as 'json://127.0.0.1:8080/…' or 'mailto://smtp.example.com (user ****)'."""
    parts = split_url(url)
    if parts is None:
        return "(unparseable destination)"
    if parts.scheme == JSONL_SCHEME:
        return f"jsonl://{jsonl_path({'host': normalise_url(url)[len('jsonl://') :].split('?', 1)[0]})}"
    if parts.scheme not in _HOST_SCHEMES:
        return f"{parts.scheme}://…"
    host = parts.host.split("@")[-1]
    label = f"{parts.scheme}://{host}" + ("/…" if parts.path_segments else "")
    if parts.user or parts.password:
        label += f" (user {MASK})"
    return redact(label, url_secrets(url))


class _Collect(logging.Handler):
    """Collects formatted WARNING+ messages (used while Apprise loads a URL)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def validate_destination(url: str) -> str | None:
    """None if Apprise can load `url` (including our custom schemes), else a redacted reason."""
    register_schemes()
    secrets = url_secrets(url)
    collector = _Collect()
    apprise_logger = logging.getLogger("apprise")
    with masked_logs(secrets):
        apprise_logger.addHandler(collector)
        try:
            service = apprise.Apprise.instantiate(prepare_url(url, None), asset=make_asset())
        finally:
            apprise_logger.removeHandler(collector)
    if service is not None:
        return None
    detail = "; ".join(dict.fromkeys(collector.messages)) or "unsupported scheme or invalid parameters"
    reason = f"{describe_destination(url)}: Apprise cannot load this URL: {detail}"
    return redact(reason, secrets)[:MAX_ERROR]


def build_service(url: str, idempotency_key: str | None, timeout_s: float) -> NotifyBase | None:
    """The configured Apprise plugin for one destination, exactly as a send uses it, or None when
    Apprise cannot load the URL: no Apprise-level retries or rate limiting, our socket timeouts."""
    service = apprise.Apprise.instantiate(prepare_url(url, idempotency_key), asset=make_asset())
    if service is None:
        return None
    service.retry = 0
    service.request_rate_per_sec = 0
    service.socket_connect_timeout = timeout_s
    service.socket_read_timeout = timeout_s
    return service


def body_format_for(url: str) -> BodyFormat:
    """The body format `url` shows best: HTML for e-mail (mailto/mailtos), Markdown for a service
    whose Apprise plugin takes Markdown as is (Telegram, Matrix, Slack, Discord, Rocket.Chat, …),
    else plain text. A URL `?format=` that makes the plugin resolve to something else, a plugin
    that would have to convert, an unloadable URL or an Apprise without per-send format
    resolution (`resolve_format`) all mean plain text: our Markdown is only sent where it is read."""
    parts = split_url(url)
    scheme = parts.scheme if parts is not None else ""
    if scheme in _PLAIN_SCHEMES:
        return BodyFormat.TEXT
    wanted = NotifyFormat.HTML if scheme in EMAIL_SCHEMES else NotifyFormat.MARKDOWN
    register_schemes()
    with masked_logs(url_secrets(url)):
        service = apprise.Apprise.instantiate(prepare_url(url, None), asset=make_asset())
    resolve = getattr(service, "resolve_format", None)
    if service is None or resolve is None or resolve(wanted) != wanted:
        return BodyFormat.TEXT
    return BodyFormat(wanted.value)


def send(url: str, alert: RenderedAlert, *, idempotency_key: str, timeout_s: float = 10.0) -> SendOutcome:
    """Deliver `alert` to the single destination `url` once (no Apprise retries) and classify it.

    Never raises. A provider or network failure is TRANSIENT or PERMANENT with its cause named;
    an unloadable URL is PERMANENT; any other exception is INTERNAL, logged once at ERROR with its
    traceback. `timeout_s` bounds each socket connect/read, not the whole call.
    """
    register_schemes()
    secrets = url_secrets(url)
    label = describe_destination(url)
    with masked_logs(secrets):
        try:
            return _send_masked(url, alert, idempotency_key, timeout_s, secrets, label)
        except _NETWORK_ERRORS as exc:
            error = redact(f"{label}: network error: {type(exc).__name__}: {exc}", secrets)
            return SendOutcome(SendVerdict.TRANSIENT, error[:MAX_ERROR])
        except Exception as exc:
            error = redact(f"{label}: internal error: {type(exc).__name__}: {exc}", secrets)[:MAX_ERROR]
            log.error("send to %s failed inside newswatch or Apprise, not retried: %s", label, error,
                      exc_info=True)
            return SendOutcome(SendVerdict.INTERNAL, error)


def _send_masked(
    url: str, alert: RenderedAlert, key: str, timeout_s: float, secrets: Sequence[str], label: str
) -> SendOutcome:
    service = build_service(url, key, timeout_s)
    if service is None:
        reason = validate_destination(url) or f"{label}: Apprise cannot load this URL"
        return SendOutcome(SendVerdict.PERMANENT, reason)
    notifier = apprise.Apprise(asset=service.asset)
    notifier.add(service)
    with recorded_responses() as seen:
        result = notifier.notify(
            body=alert.body, title=alert.title, notify_type=NotifyType.INFO,
            body_format=NotifyFormat(alert.body_format.value),
        )
    try:
        outcome = classify(result, seen, secrets, label)
    finally:
        result.close()
    wait = retry_after(seen)
    if outcome.ok or wait is None:
        return outcome
    return SendOutcome(outcome.verdict, outcome.error, wait)
