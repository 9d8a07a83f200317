"""The outcome of one delivery attempt, and how an Apprise result maps to it.

The verdict comes from what the provider really answered (the HTTP exchanges that
alerts.responses records) where there was an HTTP exchange, and from Apprise's own result and
messages for other transports (SMTP, local schemes). Apprise log text is only ever used as the
readable reason, never parsed for status codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus

from apprise import AppriseResult, AppriseResultStatus

from alerts.redact import redact
from alerts.responses import Exchange

MAX_ERROR = 500
_TRANSIENT_CODES = frozenset({408, 425, 429})
_TRANSIENT_WORDS = ("connection", "timed out", "timeout", "temporar", "unavailable", "refused")


class SendVerdict(StrEnum):
    """What the outbox does next: SENT done; TRANSIENT retry on the backoff schedule; PERMANENT
    record and stop; INTERNAL a programming error inside newswatch or Apprise, logged with its
    traceback and never retried as if the network had failed."""

    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    INTERNAL = "internal"


@dataclass(frozen=True)
class SendOutcome:
    """Result of one delivery attempt. `error`: readable, names the cause, secret-free.
    `retry_after`: seconds the provider asked us to wait (a 429/503 Retry-After), else None."""

    verdict: SendVerdict
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """The destination accepted the alert."""
        return self.verdict is SendVerdict.SENT

    @property
    def transient(self) -> bool:
        """Worth retrying later."""
        return self.verdict is SendVerdict.TRANSIENT


def classify(
    result: AppriseResult, exchanges: Sequence[Exchange], secrets: Sequence[str], label: str
) -> SendOutcome:
    """Map the AppriseResult of a single-destination call, and the HTTP exchanges it made, to an
    outcome. `label` is the secret-free destination label that starts every reason."""
    if result.status == AppriseResultStatus.SUCCESS:
        return SendOutcome(SendVerdict.SENT)
    detail = redact("; ".join(_failure_messages(result)), secrets)
    if result.status == AppriseResultStatus.NOMATCH:
        return _outcome(SendVerdict.PERMANENT, label, "no Apprise service matched", detail)
    last = exchanges[-1] if exchanges else None
    if last is not None and last.status is not None:
        code = last.status
        verdict = (
            SendVerdict.TRANSIENT if code >= 500 or code in _TRANSIENT_CODES else SendVerdict.PERMANENT
        )
        return _outcome(verdict, label, f"HTTP {code} {_phrase(code)}", detail)
    if last is not None and last.timed_out:
        return _outcome(SendVerdict.TRANSIENT, label, "timed out", redact(last.error or "", secrets))
    if last is not None:
        cause = "connection refused" if "refused" in (last.error or "").lower() else "connection failed"
        return _outcome(SendVerdict.TRANSIENT, label, cause, redact(last.error or "", secrets))
    if result.status == AppriseResultStatus.TIMEOUT:
        return _outcome(SendVerdict.TRANSIENT, label, "timed out", detail)
    # No HTTP exchange (SMTP, local schemes): Apprise's own words are all there is. Unknown causes
    # are retried: the outbox caps attempts, and a lost alert is worse than a late one.
    lowered = detail.lower()
    transient = not detail or any(word in lowered for word in _TRANSIENT_WORDS)
    verdict = SendVerdict.TRANSIENT if transient else SendVerdict.PERMANENT
    return _outcome(verdict, label, f"delivery failed ({result.status.name.lower()})", detail)


def _outcome(verdict: SendVerdict, label: str, cause: str, detail: str) -> SendOutcome:
    text = f"{label}: {cause}" + (f": {detail}" if detail else "")
    return SendOutcome(verdict, text[:MAX_ERROR])


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "(non-standard status)"


def _failure_messages(result: AppriseResult) -> list[str]:
    """Distinct WARNING+ messages captured for this call, in order."""
    quiet = ("INFO", "DEBUG")
    return list(dict.fromkeys(entry.message for entry in result.logs() if entry.level not in quiet))
