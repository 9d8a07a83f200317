"""A loopback TCP proxy that can stop forwarding (a network partition without resets), for all
connections or only for those already open (a half-open flow that a NAT or firewall forgot)."""

from __future__ import annotations

import select
import socket
import threading
from types import TracebackType


class PausableProxy:
    """Forward 127.0.0.1:<port> to `target_port`; `pause()` stops moving bytes both ways (connections
    stay open, as behind a dead link), `resume()` carries on."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._running = threading.Event()
        self._running.set()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._frozen: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def freeze_open_connections(self) -> None:
        with self._lock:
            self._frozen.update(self._sockets)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                if src in self._frozen:
                    self._stopping.wait(0.2)
                    continue
                self._running.wait(0.2)
                if not self._running.is_set():
                    continue
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> PausableProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._running.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()
