"""The signing seam between providers and the transport.

A signer sees a `WireRequest`: the request exactly as it goes on the wire, built by the transport
after every header httpx adds of itself (Host, Content-Length, Accept, Accept-Encoding, User-Agent)
and after the query string is encoded. Nothing is added or changed after the signer returns: the
transport sends that very request, with no client auth and no redirects, so a SigV4 signature covers
the bytes that are sent. The transport builds a fresh request and signs it again for every attempt,
so each retry carries a fresh date.

This module imports no httpx at runtime (the layer rule: only `_transport.py` does); `WireRequest`
wraps the `httpx.Request` the transport hands it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING

from ._redact import credential_header, register_secrets, secrets_in_header_value

if TYPE_CHECKING:
    import httpx

__all__ = ('Signer', 'SignerFunction', 'WireRequest', 'as_signer', 'sign_and_register')


class WireRequest:
    """The request as it will be sent: sign it by setting headers; the rest is final.

    `headers` is case-insensitive and already holds everything that goes on the wire except the
    credentials; `url` is the full URL with the query string encoded as sent; `body` the exact bytes.
    """

    __slots__ = ('_request',)

    def __init__(self, request: httpx.Request) -> None:
        self._request = request

    @property
    def method(self) -> str:
        """The method, upper case (`POST`)."""
        return self._request.method

    @property
    def url(self) -> str:
        """The full URL as sent: scheme, host, encoded path and encoded query string."""
        return str(self._request.url)

    @property
    def host(self) -> str:
        """The `Host` header's value: host, and port when it is not the scheme's default."""
        return self._request.headers.get('host') or self._request.url.netloc.decode('ascii')

    @property
    def path(self) -> str:
        """The encoded path, e.g. `/model/us.anthropic.claude%3A0/converse`."""
        return self._request.url.raw_path.split(b'?', 1)[0].decode('ascii')

    @property
    def query(self) -> str:
        """The encoded query string as sent, without `?` (empty when there is none)."""
        return self._request.url.query.decode('ascii')

    @property
    def headers(self) -> MutableMapping[str, str]:
        """Case-insensitive headers; what a signer sets here is sent as it is."""
        return self._request.headers

    @property
    def body(self) -> bytes:
        """The body bytes as sent (`b''` for none)."""
        return self._request.content

    def __repr__(self) -> str:
        # Never the headers: after signing they hold the credentials.
        return f'WireRequest({self.method} {self._request.url.copy_with(query=None)})'


SignerFunction = Callable[[WireRequest], Awaitable[None]]
"""A plain async function that signs a request in place; `as_signer` wraps it into a `Signer`."""


class Signer:
    """Adds credentials to a `WireRequest`; subclass and implement `sign`.

    The transport calls `sign` before every attempt, registers `secrets()` (and the values of the
    credential headers `sign` set) for masking in errors and logs, and on a 401 calls `unauthorized`:
    when it returns True the request is signed again and retried once.
    """

    async def sign(self, request: WireRequest) -> None:
        """Set the credential headers of `request` (called before every attempt)."""
        raise NotImplementedError

    def secrets(self) -> Iterable[str]:
        """The secrets this signer holds (keys, tokens, AWS secret key and session token), for masking."""
        return ()

    async def unauthorized(self, request: WireRequest) -> bool:
        """`request` got a 401: refresh what it needs and return True to have it signed and retried once."""
        return False

    async def __call__(self, request: WireRequest) -> None:
        await self.sign(request)


class _FunctionSigner(Signer):
    __slots__ = ('_function',)

    def __init__(self, function: SignerFunction) -> None:
        self._function = function

    async def sign(self, request: WireRequest) -> None:
        result = self._function(request)
        if inspect.isawaitable(result):
            await result


def as_signer(signer: Signer | SignerFunction | None) -> Signer | None:
    """A `Signer` for a signer object or a plain async signing function (None stays None)."""
    if signer is None or isinstance(signer, Signer):
        return signer
    return _FunctionSigner(signer)


async def sign_and_register(signer: Signer, wire: WireRequest) -> None:
    """Run the signer, then register what it holds and what it set for masking in errors and logs."""
    headers = wire.headers
    before = {name.lower(): value for name, value in headers.items()}
    register_secrets(signer.secrets())  # before too: a signing library may log while it signs
    await signer.sign(wire)
    secrets = list(signer.secrets())
    for name, value in headers.items():
        if before.get(name.lower()) != value and credential_header(name):
            secrets.extend(secrets_in_header_value(value))
    register_secrets(secrets)
