"""What the parser tests share: feed chunks and close, and the same body cut every way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class _Decoder(Protocol):
    truncated: bool

    def feed(self, data: bytes) -> list[Any]: ...

    def close(self) -> list[Any]: ...


def decode_with(decoder: _Decoder, chunks: Iterable[bytes]) -> list[Any]:
    """Feed every chunk, close, and return everything the decoder produced."""
    out: list[Any] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    out += decoder.close()
    return out


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def all_ways_with(new: Callable[[], _Decoder], body: bytes) -> list[Any]:
    """Decode `body` whole, byte at a time and cut at every position; all must agree, untruncated."""
    decoder = new()
    whole = decode_with(decoder, [body])
    assert not decoder.truncated
    assert decode_with(new(), bytewise(body)) == whole
    for cut in range(1, len(body)):
        assert decode_with(new(), [body[:cut], body[cut:]]) == whole, f'cut at {cut}'
    return whole
