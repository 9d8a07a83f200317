"""Real loopback receivers for alert delivery tests: an HTTP webhook server and an aiosmtpd SMTP server.

Both record what actually arrived over the socket; nothing here mocks Apprise or the network stack.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request as received, with the status the receiver answered."""

    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    json: Any  # parsed body, or None when it is not JSON
    status: int
    at: float = 0.0  # time.monotonic() when it arrived


class _Script:
    """Thread-safe failure script shared between the receiver and its handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.requests: list[ReceivedRequest] = []
        self.failures: list[tuple[int, float | None]] = []
        self.delay = 0.0

    def next_answer(self) -> tuple[int, float | None, float]:
        with self.lock:
            status, retry_after = self.failures.pop(0) if self.failures else (200, None)
            return status, retry_after, self.delay

    def record(self, request: ReceivedRequest) -> None:
        with self.lock:
            self.requests.append(request)
            self.lock.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: _Script) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.script = script


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls

    def _receive(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, retry_after, delay = self.server.script.next_answer()
        if delay:
            time.sleep(delay)
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.script.record(ReceivedRequest(
            self.command, self.path, headers, body, parsed, status, time.monotonic()
        ))
        payload = b'{"ok": true}' if status < 300 else b'{"error": "scripted failure"}'
        try:
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", f"{retry_after:g}")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (e.g. its read timeout fired during set_delay)

    do_POST = _receive
    do_PUT = _receive

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output clean


class WebhookReceiver:
    """HTTP server on 127.0.0.1:<free port> that records every POST/PUT.

    `fail_next(n, status, retry_after)` makes the next n requests fail; `set_delay(s)` delays every answer.
    """

    def __init__(self) -> None:
        self._script = _Script()
        self._server = _Server(self._script)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every request received so far (including scripted failures)."""
        with self._script.lock:
            return list(self._script.requests)

    def apprise_url(self, path: str = "/hook") -> str:
        """The matching Apprise `json://` URL."""
        return f"json://{LOOPBACK}:{self.port}/{path.lstrip('/')}"

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        with self._script.lock:
            self._script.failures.extend([(status, retry_after)] * n)

    def recover(self) -> None:
        """Drop the failures still scripted: the next requests succeed."""
        with self._script.lock:
            self._script.failures.clear()

    def set_delay(self, seconds: float) -> None:
        with self._script.lock:
            self._script.delay = seconds

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least `count` requests arrived or `timeout` passes; True if they did."""
        with self._script.lock:
            return self._script.lock.wait_for(lambda: len(self._script.requests) >= count, timeout)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self._receiver = receiver

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._receiver._record(message)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpReceiver:
    """aiosmtpd server on 127.0.0.1 (plain SMTP, no TLS, no AUTH) recording each message as EmailMessage."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._messages: list[EmailMessage] = []
        self._controller: Controller | None = None
        self.port = 0

    @property
    def messages(self) -> list[EmailMessage]:
        """A snapshot of the messages received so far."""
        with self._lock:
            return list(self._messages)

    def _record(self, message: EmailMessage) -> None:
        with self._lock:
            self._messages.append(message)
            self._lock.notify_all()

    def apprise_url(self, to: str = "analyst@example.org", sender: str = "newswatch@example.org") -> str:
        """An Apprise mailto:// URL that delivers over plain SMTP (mode=insecure) to this server."""
        return (
            f"mailto://{LOOPBACK}:{self.port}?from={quote(sender, safe='@')}"
            f"&to={quote(to, safe='@')}&mode=insecure"
        )

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least `count` messages arrived or `timeout` passes; True if they did."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._messages) >= count, timeout)

    def __enter__(self) -> SmtpReceiver:
        last_error: Exception | None = None
        for _ in range(5):  # the free port can be taken between probing and binding
            self.port = _free_port()
            controller = Controller(_SmtpHandler(self), hostname=LOOPBACK, port=self.port)
            try:
                controller.start()
            except Exception as exc:
                last_error = exc
                continue
            self._controller = controller
            return self
        raise RuntimeError(f"could not start SMTP receiver: {last_error}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
