"""Scripted loopback HTTP servers on raw sockets, so tests can misbehave at the byte level."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]


# A handler writes the whole response itself; it returns True to keep the connection for another request.
Handler = Callable[[socket.socket, Seen, "ScriptServer"], bool]


@dataclass
class ScriptServer:
    """Listens on 127.0.0.1 (and optionally ::1 on the same port); counts every accepted connection."""

    routes: dict[str, Handler]
    host: str = "127.0.0.1"
    with_ipv6: bool = False
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _listeners: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ScriptServer:
        for _attempt in range(20):
            v4 = socket.create_server((self.host, 0))
            self._listeners = [v4]
            if not self.with_ipv6:
                break
            try:
                self._listeners.append(
                    socket.create_server(("::1", v4.getsockname()[1]), family=socket.AF_INET6)
                )
                break
            except OSError:
                v4.close()
        for listener in self._listeners:
            listener.settimeout(0.05)
            threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return int(self._listeners[0].getsockname()[1])

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        for listener in self._listeners:
            listener.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            keep = True
            while keep and not self.stop.is_set():
                seen = _read_request(conn)
                if seen is None:
                    return
                with self._lock:
                    self.requests.append(seen)
                handler = self.routes.get(seen.path.split("?")[0], not_found)
                keep = handler(conn, seen, self)
        except OSError:
            pass
        finally:
            conn.close()


def _read_request(conn: socket.socket) -> Seen | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    request_line, *lines = head.split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Seen(method, path, headers)


def raw_response(status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def respond(status: int = 200, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> Handler:
    """A well-formed keep-alive response with Content-Length."""
    all_headers = [*headers, ("Content-Length", str(len(body)))]

    def handler(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
        conn.sendall(raw_response(status, all_headers, body))
        return True

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    return respond(status, headers=[("Location", location)])


def not_found(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(404, [("Content-Length", "0")]))
    return True


def serve(routes: dict[str, Handler], *, with_ipv6: bool = False, host: str = "127.0.0.1") -> ScriptServer:
    return ScriptServer(routes=routes, with_ipv6=with_ipv6, host=host).start()
