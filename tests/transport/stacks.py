"""The HTTP stacks every transport, fault, timeout and cancellation test runs on.

httpx's own transport on asyncio and trio, and the `fast` extra's aiohttp transport on asyncio
(aiohttp does not run on trio). A test module opts in by defining `anyio_backend` and using
`stack_client` (see tests/transport/conftest.py): each test then runs once per stack, the
shared client follows `MODELKIT_HTTP_TRANSPORT`, and clients the test makes itself are built
on the same transport.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelkit._loops import HTTP_TRANSPORT_ENV, fast_transport_installed
from tests.helpers.ci import skip_unless_ci

__all__ = ('HTTP_TRANSPORT_ENV', 'STACKS', 'make_client', 'require_fast')

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
