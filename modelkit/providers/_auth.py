"""Signers and environment look-ups shared by providers.

A signer is a small async function that adds credentials to an `HTTPRequest` in place. Each one
closes over its secret, so the secret lives in no attribute, repr or default header of a provider.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable

from .._transport import HTTPRequest, Signer

__all__ = ('bearer_signer', 'callable_signer', 'env', 'header_signer')

TokenSource = Callable[[], 'str | Awaitable[str]']
"""Returns a fresh credential: a plain function or a coroutine function (e.g. an Entra ID token provider)."""


def env(name: str | None) -> str | None:
    """The environment variable `name`, with unset and empty treated alike."""
    if name is None:
        return None
    return os.environ.get(name) or None


def header_signer(header: str, value: str) -> Signer:
    """A signer that sets `header` to a fixed secret value (e.g. Azure's `api-key`)."""

    async def sign(request: HTTPRequest) -> None:
        request.headers[header] = value

    return sign


def bearer_signer(api_key: str) -> Signer:
    """A signer that sends `Authorization: Bearer <api_key>`."""
    return header_signer('Authorization', f'Bearer {api_key}')


def callable_signer(source: TokenSource, *, header: str = 'Authorization', prefix: str = 'Bearer ') -> Signer:
    """A signer that asks `source` for a credential before every attempt (tokens expire)."""

    async def sign(request: HTTPRequest) -> None:
        token = source()
        if inspect.isawaitable(token):
            token = await token
        request.headers[header] = f'{prefix}{token}'

    return sign
