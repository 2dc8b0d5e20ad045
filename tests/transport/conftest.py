"""Every anyio test under tests/transport runs on each HTTP stack (tests/transport/stacks.py)."""

from __future__ import annotations

import pytest

from tests.transport.stacks import HTTP_TRANSPORT_ENV, STACKS, require_fast


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
