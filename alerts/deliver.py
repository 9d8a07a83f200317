"""Send one rendered alert to ONE Apprise destination and report a retry-aware, secret-free outcome.

Contract: one fresh Apprise object per call and destination (a partial failure elsewhere can never
cause a re-send here); no Apprise-level retries or e-mail throttle (the outbox owns retries);
body_format TEXT; no redirects; every log record Apprise or urllib3 emits during the call is masked.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import apprise
from apprise import AppriseAsset, AppriseResult, AppriseResultStatus, NotifyFormat, NotifyType

from alerts.redact import MASK, RedactingFilter, redact, split_url, url_secrets
from alerts.render import RenderedAlert
from alerts.responses import recorded_responses, retry_after
from alerts.schemes import CONSOLE_SCHEME, JSONL_SCHEME, jsonl_path, normalise_url, register_schemes

IDEMPOTENCY_HEADER = "X-Newswatch-Idempotency"
HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"})
_HOST_SCHEMES = HEADER_SCHEMES | {CONSOLE_SCHEME}
# Loggers that see destination URLs during a send: Apprise itself and urllib3's request lines.
_URL_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)
_MAX_ERROR = 500
_STATUS_RE = re.compile(r"error=(\d{3})\b")
_TRANSIENT_WORDS = ("connection", "timed out", "timeout", "temporar", "unavailable", "refused")
_TRANSIENT_CODES = frozenset({408, 425, 429})

# Logger filter lists are shared process state; serialise our add/remove so concurrent sends
# cannot lose each other's filter in a read-modify-write race.
_FILTER_LOCK = threading.Lock()


@dataclass(frozen=True)
class SendOutcome:
    """Result of one delivery attempt.

    `transient`: failed but worth retrying (timeout, 5xx, 408/425/429, connection errors, or an
    unclassified failure). `error`: readable and redacted. `retry_after`: seconds the provider
    asked us to wait (a 429/503 answer's Retry-After), else None.
    """

    ok: bool
    transient: bool
    error: str | None
    retry_after: float | None


def make_asset() -> AppriseAsset:
    """Apprise settings for untrusted content: masked logging, no redirects, no templates or escape
    expansion, in-memory storage, sequential dispatch in the calling thread."""
    asset = AppriseAsset(storage_mode="memory", allow_templates=False)
    # Plain attributes in Apprise 2.2; on releases before PR #1610 http_redirects is simply ignored.
    asset.secure_logging = True
    asset.http_redirects = False
    asset.async_mode = False
    asset.interpret_escapes = False
    return asset


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
    return redact(reason, secrets)[:_MAX_ERROR]


def _failure_messages(result: AppriseResult) -> list[str]:
    """Distinct WARNING+ messages captured for this call, in order."""
    return list(dict.fromkeys(entry.message for entry in result.logs() if entry.level != "INFO"))


def classify(result: AppriseResult, secrets: Sequence[str]) -> SendOutcome:
    """Map an AppriseResult for a single-destination call to a SendOutcome."""
    if result.status == AppriseResultStatus.SUCCESS:
        return SendOutcome(ok=True, transient=False, error=None, retry_after=None)
    messages = _failure_messages(result)
    text = redact("; ".join(messages), secrets)[:_MAX_ERROR]
    if result.status == AppriseResultStatus.NOMATCH:
        return SendOutcome(False, False, text or "no Apprise service matched", None)
    if result.status == AppriseResultStatus.TIMEOUT:
        return SendOutcome(False, True, text or "timed out", None)
    codes = [int(code) for code in _STATUS_RE.findall(" ".join(messages))]
    if codes:
        code = codes[-1]
        transient = code >= 500 or code in _TRANSIENT_CODES
    else:
        # Unknown causes are retried: the outbox caps attempts, and a lost alert is worse.
        lowered = text.lower()
        transient = any(word in lowered for word in _TRANSIENT_WORDS) or not text
    return SendOutcome(False, transient, text or f"delivery failed ({result.status.name})", None)


def send(url: str, alert: RenderedAlert, *, idempotency_key: str, timeout_s: float = 10.0) -> SendOutcome:
    """Deliver `alert` to the single destination `url` once (no Apprise retries) and classify the result.

    Never raises for delivery problems; an unloadable URL is a permanent failure. `timeout_s` bounds
    each socket connect/read, not the whole call.
    """
    register_schemes()
    secrets = url_secrets(url)
    with masked_logs(secrets):
        try:
            return _send_masked(url, alert, idempotency_key, timeout_s, secrets)
        except Exception as exc:  # a plugin crash must become an outcome, not a task failure
            error = redact(f"{describe_destination(url)}: {type(exc).__name__}: {exc}", secrets)
            return SendOutcome(False, True, error[:_MAX_ERROR], None)


def _send_masked(
    url: str, alert: RenderedAlert, idempotency_key: str, timeout_s: float, secrets: Sequence[str]
) -> SendOutcome:
    asset = make_asset()
    service = apprise.Apprise.instantiate(prepare_url(url, idempotency_key), asset=asset)
    if service is None:
        reason = validate_destination(url) or "Apprise cannot load this URL"
        return SendOutcome(False, False, reason, None)
    service.retry = 0
    service.request_rate_per_sec = 0
    service.socket_connect_timeout = timeout_s
    service.socket_read_timeout = timeout_s
    notifier = apprise.Apprise(asset=asset)
    notifier.add(service)
    with recorded_responses() as seen:
        result = notifier.notify(
            body=alert.body, title=alert.title, notify_type=NotifyType.INFO, body_format=NotifyFormat.TEXT
        )
    try:
        outcome = classify(result, secrets)
    finally:
        result.close()
    wait = retry_after(seen)
    if outcome.ok or wait is None:
        return outcome
    return SendOutcome(outcome.ok, outcome.transient, outcome.error, wait)
