"""The one room for HTTP: every byte modelkit sends or receives passes through here.

Only this module (and signers that must touch a request) imports httpx, so moving to another
httpx-compatible client is a change to one file. Everything above it speaks `HTTPRequest`,
`HTTPResponse` and `ResponseStream`.

What lives here: the shared pooled `httpx.AsyncClient` (one per event loop), timeouts, retries
with backoff, translating httpx errors into `modelkit.exceptions`, and the loop that reads a
streamed body and feeds a sans-I/O parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import httpx

    from .parsers import Parser

__all__ = (
    'DEFAULT_MAX_RETRIES',
    'HTTPRequest',
    'HTTPResponse',
    'ResponseStream',
    'Signer',
    'Transport',
    'aclose_shared_http_client',
    'shared_http_client',
)

E = TypeVar('E')

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt, for connect errors and 408/409/429/5xx (as the vendor SDKs do)."""


@dataclass(slots=True)
class HTTPRequest:
    """A request as the interface built it: signers may add headers or query parameters."""

    method: str
    url: str
    """Full URL without query string."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b''
    params: dict[str, str] = field(default_factory=dict)
    """Query parameters (Azure's `api-version`, Gemini's `alt=sse`, ...)."""


Signer = Callable[[HTTPRequest], Awaitable[None]]
"""Adds credentials to a request in place; called again before every retry (SigV4 signs the time)."""


@dataclass(slots=True)
class HTTPResponse:
    """A complete non-streamed 2xx response."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes


class ResponseStream:
    """An open 2xx streamed response; iterate `iter_parsed` for events."""

    status_code: int
    headers: Mapping[str, str]
    headers_at: float
    """perf_counter() when the status line and headers arrived."""
    last_arrival: float
    """perf_counter() when the most recent body chunk arrived."""

    def iter_parsed(self, parser: Parser[E]) -> AsyncIterator[list[E]]:
        """Feed every body chunk to `parser`, yielding the (non-empty) event list of each chunk.

        Raises `StreamInterrupted` if the connection drops or a read times out mid-body,
        `StreamProtocolError` from the parser for broken framing.
        """
        raise NotImplementedError


class Transport:
    """Sends requests through an httpx client: the caller's, or the shared one for this event loop."""

    def __init__(
        self, http_client: httpx.AsyncClient | None = None, *, max_retries: int = DEFAULT_MAX_RETRIES
    ):
        raise NotImplementedError

    @property
    def client(self) -> httpx.AsyncClient:
        """The caller's client, or the shared client of the running event loop."""
        raise NotImplementedError

    async def send(
        self,
        request: HTTPRequest,
        *,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None = None,
    ) -> HTTPResponse:
        """Send a request and read the whole body; non-2xx raises `ModelHTTPError`."""
        raise NotImplementedError

    def stream(
        self,
        request: HTTPRequest,
        *,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None = None,
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """Open a streamed request; non-2xx raises `ModelHTTPError` (body read and trimmed) on entry."""
        raise NotImplementedError


def shared_http_client() -> httpx.AsyncClient:
    """The pooled client shared by every provider in the running event loop (created on first use)."""
    raise NotImplementedError


async def aclose_shared_http_client() -> None:
    """Close the running event loop's shared client (run_sync calls this before its loop ends)."""
    raise NotImplementedError
