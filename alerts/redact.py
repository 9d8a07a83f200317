"""Secret handling for Apprise destination URLs: find the secrets, mask them in text and log records.

Apprise masks passwords in its own "Loaded ... URL" lines, but path tokens, header values and GET
parameters still reach DEBUG logs (its own and urllib3's request lines), so every log line that may
carry a destination URL must pass through `redact` / `RedactingFilter`.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote

MASK = "****"

# Shorter strings would mangle ordinary words in log lines; they protect nothing anyway.
MIN_SECRET_LEN = 3

# Schemes whose host part is a real network host; for all others Apprise URLs usually carry a token
# there (tgram://BOTTOKEN/..., discord://ID/TOKEN, slack://T/B/X ...).
NETWORK_HOST_SCHEMES = frozenset(
    {"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos", "console", "jsonl"}
)

# Our own local schemes (alerts.schemes) carry no credentials, only a file path.
LOCAL_SCHEMES = frozenset({"console", "jsonl"})

# Query keys that configure behaviour and never hold credentials.
_PLAIN_QUERY_KEYS = frozenset(
    (
        "from to cc bcc mode method format overflow cto rto verify smtp name reply retry wait optional tz"
        " emojis store redirect priority lang image avatar color pgp footer tags tag"
    ).split()
)
_SECRET_KEY_HINTS = ("token", "secret", "key", "pass", "pwd", "auth", "sig", "cred", "webhook", "bearer")
_URL_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)


@dataclass(frozen=True)
class UrlParts:
    """A tolerant split of an Apprise URL (Apprise hosts may hold tokens with ':' that urllib rejects)."""

    scheme: str
    user: str
    password: str
    host: str  # host[:port] as written
    path_segments: tuple[str, ...]
    query: tuple[tuple[str, str], ...]


def split_url(url: str) -> UrlParts | None:
    """Split `url` into parts without validating it; None when it has no `scheme://`."""
    match = _URL_RE.match(url.strip())
    if match is None:
        return None
    rest = match.group("rest").split("#", 1)[0]
    location, _, query = rest.partition("?")
    netloc, _, path = location.partition("/")
    user = password = ""
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
    pairs = tuple(
        (key, value) for key, _, value in (item.partition("=") for item in query.split("&") if item)
    )
    segments = tuple(seg for seg in path.split("/") if seg)
    return UrlParts(match.group("scheme").lower(), user, password, netloc, segments, pairs)


def _token_like(value: str) -> bool:
    """Whether a path segment or query value looks like a credential rather than a word."""
    if "@" in value:  # e-mail recipients in mailto paths
        return False
    has_digit = any(ch.isdigit() for ch in value)
    return (len(value) >= 8 and has_digit) or len(value) >= 20


def _query_secret(key: str, value: str) -> bool:
    """Whether a query value must be treated as a secret."""
    if key[:1] in ("+", "-"):  # custom HTTP headers / GET parameters: often Authorization, X-Token
        return True
    bare = unquote(key).lower()
    if bare in _PLAIN_QUERY_KEYS:
        return False
    return any(hint in bare for hint in _SECRET_KEY_HINTS) or _token_like(unquote(value))


def _variants(secret: str) -> set[str]:
    """The spellings in which a secret may show up in logs (raw, decoded, re-encoded)."""
    plain = unquote(secret)
    return {secret, plain, quote(plain, safe=""), quote_plus(plain)}


class _ThisThreadOnly(logging.Filter):
    """Drops the records of the thread that created it; other threads' records pass."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self._thread


_URL_TOKENS = re.compile(r"[/:@?&=,]|%3[Aa]|%40")


@functools.lru_cache(maxsize=256)
def plugin_private_parts(url: str) -> tuple[str, ...]:
    """The parts of `url` that its own Apprise plugin hides in `url(privacy=True)` (the Pushover
    user key, a Telegram bot token, a Gotify app token, …): the plugin knows its URL's layout,
    which no heuristic does. Empty when Apprise cannot load the URL."""
    import apprise

    logger = logging.getLogger("apprise")
    silence = _ThisThreadOnly()  # Apprise logs the URL it loads; nothing masks it yet
    logger.filters = [*logger.filters, silence]
    try:
        service = apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(secure_logging=True))
        if service is None:
            return ()
        plain = service.url(privacy=False)  # type: ignore[no-untyped-call]
        private = service.url(privacy=True)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - an unloadable URL still gets the heuristics
        return ()
    finally:
        logger.filters = [f for f in logger.filters if f is not silence]
    ours, theirs = _URL_TOKENS.split(plain), _URL_TOKENS.split(private)
    matcher = difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False)
    hidden = [ours[i] for op, i1, i2, _, _ in matcher.get_opcodes() if op != "equal" for i in range(i1, i2)]
    return tuple(part for part in hidden if len(part) >= MIN_SECRET_LEN)


def url_secrets(url: str) -> list[str]:
    """Every secret piece of an Apprise URL: what its plugin hides when asked for a private URL,
    plus password, token-like host/path parts, header and GET-parameter values and token-like
    query values (Apprise shows path tokens and headers of generic webhooks), in raw and
    percent-encoded spellings.

    Longest first; strings shorter than MIN_SECRET_LEN are left out.
    """
    parts = split_url(url)
    if parts is None or parts.scheme in LOCAL_SCHEMES:
        return []
    found: list[str] = list(plugin_private_parts(url))
    if _token_like(unquote(parts.user)):
        found.append(parts.user)  # token-style URLs put keys there (pover://USERKEY@TOKEN)
    if parts.password:
        found.append(parts.password)
    network = parts.scheme in NETWORK_HOST_SCHEMES
    if not network and parts.host and "." not in parts.host:
        found.append(parts.host)
    for segment in parts.path_segments:
        if _token_like(unquote(segment)) or (not network and len(segment) >= 4):
            found.append(segment)
    found.extend(value for key, value in parts.query if value and _query_secret(key, value))
    spellings = {v for secret in found for v in _variants(secret) if len(v) >= MIN_SECRET_LEN}
    return sorted(spellings, key=lambda s: (-len(s), s))


def compile_secrets(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive alternation matching any of `secrets` (longest first), or None if empty."""
    usable = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=lambda s: (-len(s), s))
    if not usable:
        return None
    return re.compile("|".join(re.escape(s) for s in usable), re.IGNORECASE)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return `text` with every occurrence of each secret (case-insensitive) replaced by MASK."""
    pattern = compile_secrets(secrets)
    return text if pattern is None else pattern.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks the given secrets in a record's message, args, exception and stack text.

    It never drops records. It formats the message once (msg % args), masks it and clears args, so
    every handler and formatter after it sees only the masked text.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        """`secrets`: strings to mask; a destination URL among them also masks each of its secret
        parts (a bot token logged on its own, a user key), not only the whole URL."""
        super().__init__()
        pieces = (piece for secret in secrets for piece in (secret, *url_secrets(secret)))
        self._pattern = compile_secrets(pieces)

    def _mask(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in place; always returns True."""
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string must not let raw args through
            message = f"{record.msg} {record.args!r}"
        record.msg = self._mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


def quiet_apprise_logger() -> None:
    """Make the `apprise` logger no more verbose than INFO (its DEBUG lines carry tokens), nor
    than the root logger (so a WARNING service does not print a line per notification).

    An operator who really wants Apprise DEBUG output can lower the level again after this call.
    """
    logger = logging.getLogger("apprise")
    floor = max(logging.INFO, logging.getLogger().getEffectiveLevel())
    if logger.level < floor:  # includes NOTSET, which would inherit a DEBUG root
        logger.setLevel(floor)
