"""Every anyio test under tests/transport runs on each HTTP stack (tests/transport/stacks.py)."""

from __future__ import annotations

from tests.transport.stacks import anyio_backend, http_transport, stack

__all__ = ('anyio_backend', 'http_transport', 'stack')
