"""Deadlines, size caps and content-encoding against misbehaving loopback servers."""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from tests.net.servers import Handler, ScriptServer, Seen, raw_response, respond
from worker.net import Fetched, Fetcher, FetchError, FetchLimits, FetchPolicy

LOCAL = FetchPolicy(allow_private=True)
ServerFactory = Callable[..., ScriptServer]
FetcherFactory = Callable[..., Fetcher]
MiB = 1024 * 1024


def trickle_body(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(200, [("Content-Length", "1000000")]))
    while not server.stop.wait(0.5):
        conn.sendall(b"x")
    return False


def trickle_headers(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10000:
        if server.stop.wait(0.3):
            break
        conn.sendall(bytes([byte]))
    return False


def never_answer(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    server.stop.wait(30)
    return False


def length_lie(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(200, [("Content-Length", str(10 * 1024**3))], b"<rss>"))
    server.stop.wait(30)
    return False


def endless(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(200, [("Connection", "close")]))
    block = b"y" * 65536
    while not server.stop.is_set():
        conn.sendall(block)
    return False


def gzip_bomb(total: int) -> Handler:
    """Streams gzip of ``total`` zero bytes, compressing on the fly so the test stays small and fast."""

    def handler(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
        conn.sendall(raw_response(200, [("Content-Encoding", "gzip"), ("Connection", "close")]))
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(MiB)
        for _ in range(total // MiB):
            if server.stop.is_set():
                break
            conn.sendall(packer.compress(zeros))
        conn.sendall(packer.flush())
        return False

    return handler


def _elapsed_error(fetcher: Fetcher, url: str) -> tuple[float, FetchError]:
    began = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.get(url, policy=LOCAL)
    return time.monotonic() - began, caught.value


def test_trickle_body_stopped_by_total_deadline(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": trickle_body})
    fetcher = make_fetcher(FetchLimits(deadline_s=2.0, read_timeout_s=1.0))
    elapsed, error = _elapsed_error(fetcher, server.url("/"))
    assert 1.9 <= elapsed < 2.5
    assert error.reason == "deadline of 2 s exceeded" and error.transient


def test_trickled_headers_stopped_by_total_deadline(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": trickle_headers})
    elapsed, error = _elapsed_error(make_fetcher(FetchLimits(deadline_s=1.5)), server.url("/"))
    assert 1.4 <= elapsed < 2.0 and error.reason == "deadline of 1.5 s exceeded"


def test_accept_and_never_answer_bounded_by_deadline(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": never_answer})
    fetcher = make_fetcher(FetchLimits(deadline_s=1.0, read_timeout_s=10.0))
    elapsed, error = _elapsed_error(fetcher, server.url("/"))
    assert elapsed < 1.5 and error.reason == "deadline of 1 s exceeded" and error.transient


def test_read_timeout_shorter_than_deadline_is_reported_as_such(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": never_answer})
    fetcher = make_fetcher(FetchLimits(deadline_s=5.0, read_timeout_s=0.5))
    elapsed, error = _elapsed_error(fetcher, server.url("/"))
    assert elapsed < 1.0 and error.reason == "read timeout (0.5 s)" and error.transient


def test_content_length_lie_aborted_before_reading(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": length_lie})
    elapsed, error = _elapsed_error(make_fetcher(), server.url("/"))
    assert elapsed < 0.5
    assert error.reason == "response too large (> 5242880 bytes)" and not error.transient


def test_endless_stream_stopped_at_cap(make_server: ServerFactory, make_fetcher: FetcherFactory) -> None:
    server = make_server({"/": endless})
    elapsed, error = _elapsed_error(make_fetcher(FetchLimits(max_bytes=MiB)), server.url("/"))
    assert elapsed < 2.0 and error.reason == f"response too large (> {MiB} bytes)"


def test_gzip_bomb_aborted_at_decoded_cap_with_low_memory(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": gzip_bomb(1024 * MiB)})
    fetcher = make_fetcher()
    tracemalloc.start()
    try:
        began = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetcher.get(server.url("/"), policy=LOCAL, max_bytes=2 * MiB)
        elapsed = time.monotonic() - began
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == f"response too large (> {2 * MiB} bytes)"
    assert elapsed < 3.0
    assert peak < 12 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


def test_body_exactly_at_cap_is_accepted(make_server: ServerFactory, make_fetcher: FetcherFactory) -> None:
    payload = gzip.compress(b"z" * 4096)
    server = make_server({"/": respond(200, payload, [("Content-Encoding", "gzip")])})
    fetcher = make_fetcher()
    result = fetcher.get(server.url("/"), policy=LOCAL, max_bytes=4096)
    assert isinstance(result, Fetched) and result.body == b"z" * 4096
    with pytest.raises(FetchError, match=r"response too large \(> 4095 bytes\)"):
        fetcher.get(server.url("/"), policy=LOCAL, max_bytes=4095)


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "payload"),
    [
        ("gzip", gzip.compress(b"hello feed")),
        ("GZIP", gzip.compress(b"hello feed")),
        ("x-gzip", gzip.compress(b"hello feed")),
        ("deflate", zlib.compress(b"hello feed")),
        ("deflate", _raw_deflate(b"hello feed")),
        ("gzip, gzip", gzip.compress(gzip.compress(b"hello feed"))),
        ("gzip, deflate", zlib.compress(gzip.compress(b"hello feed"))),
        ("identity", b"hello feed"),
        ("gzip", gzip.compress(b"hello ") + gzip.compress(b"feed")),
    ],
)
def test_supported_encodings_are_decoded(
    make_server: ServerFactory, make_fetcher: FetcherFactory, encoding: str, payload: bytes
) -> None:
    server = make_server({"/": respond(200, payload, [("Content-Encoding", encoding)])})
    result = make_fetcher().get(server.url("/"), policy=LOCAL)
    assert isinstance(result, Fetched) and result.body == b"hello feed"


@pytest.mark.parametrize(
    ("encoding", "payload", "reason"),
    [
        (
            "gzip, gzip, gzip",
            gzip.compress(gzip.compress(gzip.compress(b"x"))),
            "too many content-encoding layers (3 > 2)",
        ),
        ("br", b"\x0b\x02\x80hello", "unsupported content-encoding 'br'"),
        ("gzip", b"this is not gzip", "corrupt compressed body"),
    ],
)
def test_bad_encodings_are_refused(
    make_server: ServerFactory, make_fetcher: FetcherFactory, encoding: str, payload: bytes, reason: str
) -> None:
    server = make_server({"/": respond(200, payload, [("Content-Encoding", encoding)])})
    with pytest.raises(FetchError) as caught:
        make_fetcher().get(server.url("/"), policy=LOCAL)
    assert caught.value.reason.startswith(reason) and not caught.value.transient


def test_fetch_error_survives_pickling() -> None:
    import pickle

    error = FetchError("HTTP 429 Too Many Requests", transient=True, status=429, retry_after=3.0)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.reason, clone.transient, clone.status, clone.retry_after) == (
        "HTTP 429 Too Many Requests",
        True,
        429,
        3.0,
    )
