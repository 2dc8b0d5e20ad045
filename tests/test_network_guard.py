"""The suite must never reach the internet: the guard in conftest refuses it."""

from __future__ import annotations

import socket

import pytest


def test_resolving_a_public_host_is_refused() -> None:
    with pytest.raises(RuntimeError, match='only loopback'):
        socket.getaddrinfo('api.openai.com', 443)


def test_connecting_to_a_public_address_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(RuntimeError, match='only loopback'):
        sock.connect(('1.1.1.1', 443))


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
            conn, _ = server.accept()
            conn.close()
