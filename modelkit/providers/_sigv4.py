"""AWS Signature Version 4 on the signing seam: botocore's signer over the request exactly as sent.

botocore (the `bedrock` extra) is imported here only inside functions, so importing this module
costs nothing; it is loaded at the first request, by the provider's first-use hook.

Credentials are held in an `ExpiringCache` of frozen (read-only) credentials. Static keys never
expire; botocore's refreshable credentials (SSO, assumed roles, container and instance metadata)
are frozen again in a worker thread when they come within the cache's refresh margin of their
expiry, because a refresh is blocking I/O (an STS or metadata call) that must not run on the loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from .._signing import Signer, WireRequest
from ._auth import TOKEN_REFRESH_MARGIN_SECONDS, Expiring, ExpiringCache

__all__ = ('UNKNOWN_EXPIRY_RECHECK_SECONDS', 'AWSCredentials', 'SigV4Signer', 'credential_cache')

UNKNOWN_EXPIRY_RECHECK_SECONDS = 300.0
"""How long refreshable credentials that do not say when they expire are used before botocore is
asked again (in a thread): it then refreshes them if they need it, and the answer is cheap if not."""

_SIGNED_HEADERS = ('Authorization', 'X-Amz-Date', 'X-Amz-Security-Token')
"""What botocore's SigV4 adds to a request; nothing else of it is copied back."""


class AWSCredentials(NamedTuple):
    """An access key pair and, for temporary credentials, the session token (botocore's frozen shape)."""

    access_key: str
    secret_key: str
    token: str | None = None


def credential_cache(credentials: Any) -> ExpiringCache[AWSCredentials]:
    """An `ExpiringCache` over botocore credentials (static or refreshable), frozen off the event loop."""

    async def fetch() -> Expiring[AWSCredentials]:
        import anyio

        frozen = await anyio.to_thread.run_sync(credentials.get_frozen_credentials)
        value = AWSCredentials(frozen.access_key, frozen.secret_key, frozen.token or None)
        return Expiring(value, _expiry_of(credentials))

    return ExpiringCache(fetch)


def _expiry_of(credentials: Any) -> float | None:
    """When botocore credentials expire (time.time() seconds); None for static ones."""
    if not hasattr(credentials, 'refresh_needed'):
        return None  # plain `Credentials`: keys that do not expire
    # RefreshableCredentials keeps its expiry in a private attribute; botocore has no public getter.
    expiry = getattr(credentials, '_expiry_time', None)
    if isinstance(expiry, datetime):
        return expiry.timestamp()
    # The cache treats credentials as stale a margin before expiry: add it back, so the recheck
    # comes after the whole interval.
    return time.time() + UNKNOWN_EXPIRY_RECHECK_SECONDS + TOKEN_REFRESH_MARGIN_SECONDS


class SigV4Signer(Signer):
    """Signs each attempt with botocore's `SigV4Auth` for `service` in `region`, over the exact
    method, URL, headers and body bytes the transport sends; a fresh `X-Amz-Date` every time."""

    __slots__ = ('_credentials', '_region', '_service')

    def __init__(self, credentials: ExpiringCache[AWSCredentials], region: str, service: str = 'bedrock'):
        self._credentials = credentials
        self._region = region
        self._service = service

    async def sign(self, request: WireRequest) -> None:
        """Add `Authorization`, `X-Amz-Date` and, with session credentials, `X-Amz-Security-Token`."""
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        creds = await self._credentials.get()
        aws = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        # botocore reads `access_key`, `secret_key` and `token`: the named tuple has exactly those.
        SigV4Auth(creds, self._service, self._region).add_auth(aws)
        headers = request.headers
        for name in _SIGNED_HEADERS:
            value = aws.headers.get(name)
            if value is not None:
                headers[name] = value

    def secrets(self) -> Iterable[str]:
        """The secret key and session token held now (the access key id is not secret)."""
        current = self._credentials.current
        if current is None:
            return ()
        return tuple(secret for secret in (current.secret_key, current.token) if secret)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(service={self._service!r}, region={self._region!r})'
