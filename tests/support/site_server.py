"""A real loopback HTTP origin for tests: serves a directory with validators and conditional GET.

    with SiteServer(SEEDS / "site") as site:
        httpx.get(f"{site.url}feed.rss.xml")          # 200, ETag + Last-Modified
        site.hits["/feed.rss.xml"]                    # GET requests per path (304s included)
        site.not_modified["/feed.rss.xml"]            # 304 answers per path
        site.set_response("/gone.html", status=410)   # canned answer instead of the file
        site.set_delay("/slow.html", 5.0)             # answer after a pause
        site.client_ports("/slow.html")               # client-side port of each request

Runs ``ThreadingHTTPServer`` on an ephemeral port in a daemon thread; ``__exit__`` shuts it down and cuts
pending delays short. Paths are URL paths with a leading "/" and no query string.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

CONTENT_TYPES = (
    (".rss.xml", "application/rss+xml"),
    (".atom.xml", "application/atom+xml"),
    (".xml", "application/xml"),
    (".html", "text/html; charset=utf-8"),
    (".htm", "text/html; charset=utf-8"),
    (".txt", "text/plain; charset=utf-8"),
    (".json", "application/json"),
)


@dataclass(frozen=True)
class CannedResponse:
    """A response served instead of the file; Content-Length is added unless ``headers`` sets it."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


def content_type(path: Path) -> str:
    """Media type for a served file, by (double) suffix."""
    name = path.name.lower()
    found = (ctype for suffix, ctype in CONTENT_TYPES if name.endswith(suffix))
    return next(found, "application/octet-stream")


def etag_for(body: bytes) -> str:
    """Strong, quoted entity tag from the content hash."""
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match semantics (RFC 9110 §13.1.2): weak comparison against a list or "*"."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def not_modified_since(header: str, mtime: int) -> bool:
    """True when the resource (whole-second ``mtime``) is not newer than the If-Modified-Since date."""
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    return since.tzinfo is not None and mtime <= since.timestamp()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], site: SiteServer, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.site = site
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response (timeouts under test) are expected, not errors."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._respond(count=True)

    def do_HEAD(self) -> None:
        self._respond(count=False)

    def _respond(self, *, count: bool) -> None:
        site = self.server.site
        path = unquote(urlsplit(self.path).path) or "/"
        site._record(path, dict(self.headers.items()), self.client_address[1], count=count)
        site._pause(path)
        canned = site._canned(path)
        try:
            if canned is not None:
                self._send(canned.status, canned.body, dict(canned.headers))
            else:
                self._serve_file(path, count=count)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _serve_file(self, path: str, *, count: bool) -> None:
        target = self.server.site._resolve(path)
        if target is None:
            self._send(404, b"not found\n", {"Content-Type": "text/plain; charset=utf-8"})
            return
        body = target.read_bytes()
        mtime = int(target.stat().st_mtime)
        validators = {"ETag": etag_for(body), "Last-Modified": formatdate(mtime, usegmt=True)}
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        fresh = etag_matches(inm, validators["ETag"]) if inm is not None else (
            ims is not None and not_modified_since(ims, mtime))
        if fresh:
            if count:
                self.server.site._count_304(path)
            self._send(304, b"", validators, length=False)
            return
        self._send(200, body, {"Content-Type": content_type(target), **validators})

    def _send(self, status: int, body: bytes, headers: dict[str, str], *, length: bool = True) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if length and not any(name.lower() == "content-length" for name in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)


class SiteServer:
    """Serve ``root`` over HTTP on ``host`` and an ephemeral port; use as a context manager.

    ``url`` is the base URL ending in "/". ``hits`` counts GET requests per path (304s included) and
    ``not_modified`` the 304 answers; both are updated under a lock by the server threads.
    """

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._canned_responses: dict[str, CannedResponse] = {}
        self._delays: dict[str, float] = {}
        self._headers_seen: dict[str, list[dict[str, str]]] = {}
        self._client_ports: dict[str, list[int]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._server is None:
            raise RuntimeError("SiteServer is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:43121/"."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> SiteServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = _Server((self.host, 0), self, family)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"SiteServer:{self.port}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def set_response(self, path: str, *, status: int = 200, body: bytes | str = b"",
                     headers: dict[str, str] | None = None) -> None:
        """Answer every request for ``path`` with this status, body and headers instead of the file."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        canned = CannedResponse(status, raw, tuple((headers or {}).items()))
        with self._lock:
            self._canned_responses[_norm(path)] = canned

    def clear_response(self, path: str) -> None:
        """Serve the file again for ``path``."""
        with self._lock:
            self._canned_responses.pop(_norm(path), None)

    def set_delay(self, path: str, seconds: float) -> None:
        """Wait ``seconds`` before answering requests for ``path`` (0 removes the delay)."""
        with self._lock:
            if seconds > 0:
                self._delays[_norm(path)] = seconds
            else:
                self._delays.pop(_norm(path), None)

    def headers_seen(self, path: str) -> list[dict[str, str]]:
        """Request headers of every request for ``path``, oldest first (copies)."""
        with self._lock:
            return [dict(h) for h in self._headers_seen.get(_norm(path), [])]

    def client_ports(self, path: str) -> list[int]:
        """The client-side TCP port of every request for ``path``, oldest first."""
        with self._lock:
            return list(self._client_ports.get(_norm(path), []))

    def _record(self, path: str, headers: dict[str, str], client_port: int, *, count: bool) -> None:
        with self._lock:
            if count:
                self.hits[path] += 1
            self._headers_seen.setdefault(path, []).append(headers)
            self._client_ports.setdefault(path, []).append(client_port)

    def _count_304(self, path: str) -> None:
        with self._lock:
            self.not_modified[path] += 1

    def _pause(self, path: str) -> None:
        with self._lock:
            delay = self._delays.get(path, 0.0)
        if delay:
            self._stopping.wait(delay)

    def _canned(self, path: str) -> CannedResponse | None:
        with self._lock:
            return self._canned_responses.get(path)

    def _resolve(self, path: str) -> Path | None:
        """The file under ``root`` for a URL path, or None (missing, a directory, or escaping root)."""
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target


def _norm(path: str) -> str:
    return path if path.startswith("/") else "/" + path
