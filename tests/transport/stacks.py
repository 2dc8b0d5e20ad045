"""The HTTP stacks every transport, fault, timeout and cancellation test runs on.

httpx's own transport on asyncio and trio, and the `fast` extra's aiohttp transport on asyncio
(aiohttp does not run on trio). A conftest or test module opts in by importing the fixtures
`stack`, `anyio_backend` and `http_transport` (as tests/transport/conftest.py does): each test
then runs once per stack, the
shared client follows `MODELKIT_HTTP_TRANSPORT`, and clients the test makes itself are built
on the same transport.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelkit._loops import HTTP_TRANSPORT_ENV, fast_transport_installed
from tests.helpers.ci import skip_unless_ci

__all__ = (
    'HTTP_TRANSPORT_ENV',
    'STACKS',
    'anyio_backend',
    'http_transport',
    'make_client',
    'require_fast',
    'stack',
)

STACKS = [
    pytest.param(('asyncio', 'httpx'), id='asyncio-httpx'),
    pytest.param(('asyncio', 'aiohttp'), id='asyncio-aiohttp'),
    pytest.param(('trio', 'httpx'), id='trio-httpx'),
]
"""(event loop, transport) pairs."""


def require_fast() -> None:
    """Skip where the `fast` extra is absent; under CI it is installed, so there it fails instead."""
    if not fast_transport_installed():
        skip_unless_ci("the `fast` extra (httpx-aiohttp) is not installed: pip install -e '.[fast]'")


def make_client(transport: str, **kwargs: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient(**kwargs)` on httpx's own transport or on aiohttp's."""
    if transport == 'aiohttp':
        require_fast()
        from modelkit._aiohttp import AiohttpClient

        return AiohttpClient(**kwargs)
    return httpx.AsyncClient(**kwargs)


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(event loop, transport); the shared client of the test's loop uses that transport."""
    loop, transport = request.param
    if transport == 'aiohttp':
        require_fast()
    monkeypatch.setenv(HTTP_TRANSPORT_ENV, transport)
    return loop, transport


@pytest.fixture
def anyio_backend(stack: tuple[str, str]) -> str:
    """The stack's event loop (overrides the suite's asyncio / trio pair)."""
    return stack[0]


@pytest.fixture
def http_transport(stack: tuple[str, str]) -> str:
    """The stack's transport: `httpx` or `aiohttp`."""
    return stack[1]
