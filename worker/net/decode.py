"""Content-Encoding removal with bounded output per step, so a bomb never inflates in one go."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from worker.net.errors import FetchError

MAX_LAYERS = 2
PIECE = 64 * 1024  # decoded bytes produced per decompress call
_SUPPORTED = frozenset({"gzip", "x-gzip", "deflate"})


class _Inflater:
    """One gzip or deflate layer; deflate accepts both zlib-wrapped and raw streams."""

    def __init__(self, kind: str) -> None:
        self._gzip = kind in ("gzip", "x-gzip")
        self._raw = False
        self._done = False
        # Input seen before the first output, replayed if "deflate" turns out to be raw deflate.
        self._replay: bytes | None = None if self._gzip else b""
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        if self._gzip:
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw else zlib.MAX_WBITS)

    def _step(self, data: bytes) -> bytes:
        try:
            out = self._obj.decompress(data, PIECE)
        except zlib.error as exc:
            if self._gzip or self._raw or self._replay is None:
                raise FetchError(f"corrupt compressed body: {exc}", transient=False) from None
            self._raw = True  # servers disagree on whether "deflate" has the zlib wrapper
            self._obj = self._new()
            data, self._replay = self._replay + data, None
            return self._step(data)
        if self._replay is not None:
            self._replay = None if out else self._replay + data
        return out

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of at most PIECE bytes each, produced lazily."""
        while not self._done:
            out = self._step(data)
            if out:
                yield out
            if self._obj.eof:
                data = self._obj.unused_data
                if not (self._gzip and data and b"\x1f\x8b".startswith(data[:2])):
                    self._done = True  # trailing garbage after the stream is ignored, as browsers do
                    return
                self._obj = self._new()  # next gzip member
                continue
            data = self._obj.unconsumed_tail
            if not data and len(out) < PIECE:
                return


def parse_encodings(header: str | None) -> list[str]:
    """Layers named by Content-Encoding in application order; identity dropped.

    Raises FetchError for encodings we never asked for and for more than MAX_LAYERS layers.
    """
    layers = [part.strip().lower() for part in (header or "").split(",")]
    layers = [layer for layer in layers if layer and layer != "identity"]
    for layer in layers:
        if layer not in _SUPPORTED:
            raise FetchError(f"unsupported content-encoding {layer[:40]!r}", transient=False)
    if len(layers) > MAX_LAYERS:
        raise FetchError(f"too many content-encoding layers ({len(layers)} > {MAX_LAYERS})", transient=False)
    return layers


class BodyDecoder:
    """Feeds raw body chunks through the layers (last applied, first removed) yielding decoded pieces."""

    def __init__(self, encodings: list[str]) -> None:
        self._layers = [_Inflater(kind) for kind in reversed(encodings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            if data:
                yield data
            return
        for piece in self._layers[index].feed(data):
            yield from self._through(index + 1, piece)
