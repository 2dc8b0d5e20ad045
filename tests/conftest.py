"""Shared test set-up: both async backends, a guard against real network calls, fixture paths."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cassettes import require_wire_fixtures

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=['asyncio', 'trio'])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every `@pytest.mark.anyio` test on asyncio and on trio."""
    return str(request.param)


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in {'localhost', 'localhost.localdomain', ''}:
        return True
    try:
        return ipaddress.ip_address(host.split('%', 1)[0]).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host other than loopback."""


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that resolves or connects to a non-loopback address."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise NetworkBlocked(f'test tried to resolve {host!r}: only loopback is allowed')
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise NetworkBlocked(f'test tried to connect to {address!r}: only loopback is allowed')

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check(address)
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, 'getaddrinfo', guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, 'connect', guarded_connect)
    monkeypatch.setattr(socket.socket, 'connect_ex', guarded_connect_ex)


@pytest.fixture(autouse=True)
def _httpx_transport_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared client on httpx's own transport, which respx mocks; tests/transport/stacks.py
    runs the transport tests on the `fast` extra's aiohttp transport as well."""
    monkeypatch.setenv('MODELKIT_HTTP_TRANSPORT', 'httpx')


@pytest.fixture(autouse=True)
def _no_vendor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real API keys or endpoints."""
    for name in list(os.environ):
        if name.endswith(('_API_KEY', '_BASE_URL')) or name.startswith(('AZURE_OPENAI_', 'AWS_', 'OPENAI_')):
            monkeypatch.delenv(name, raising=False)
    for name in ('CO_API_KEY', 'CO_API_URL'):  # Cohere's SDK names
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def wire_fixtures() -> Path:
    """The recorded vendor traffic directory; skips where absent, but fails under CI=true."""
    return require_wire_fixtures()
