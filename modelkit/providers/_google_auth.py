# google-auth ships py.typed but leaves many functions unannotated; calling them is the point here.
# mypy: disable-error-code="no-untyped-call"
"""google-auth on modelkit's transport: its HTTP request interface, credential loading, token fetching.

Imported only by `GoogleVertexProvider.setup`, at the first Vertex request: importing it imports
google-auth (the `vertex` extra), which nothing else in modelkit does.

google-auth does its token exchanges (the service-account JWT grant, a user's refresh token, the
metadata server) through a `google.auth.transport.Request`, a blocking callable. Its stock one
needs `requests`; `TransportRequest` here implements the interface on our pooled httpx client
instead, so no second HTTP stack is installed and token requests share the event loop's
connections. google-auth is blocking, so it runs in a worker thread (`anyio.to_thread`), and each
request it makes is handed back to the event loop that started the thread with
`anyio.from_thread.run`, where the client lives (an httpx client's connections belong to one loop).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread
import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport
from google.oauth2 import service_account

from .._signing import WireRequest
from ..exceptions import ModelConnectionError, UserError
from ._auth import Token, TokenSigner

if TYPE_CHECKING:
    import httpx

__all__ = (
    'CLOUD_PLATFORM_SCOPE',
    'MAX_TOKEN_RESPONSE_BYTES',
    'METADATA_PROBE_TIMEOUT_SECONDS',
    'TOKEN_REQUEST_TIMEOUT_SECONDS',
    'GoogleTokenSigner',
    'MetadataServerCredentials',
    'TransportRequest',
    'credentials_project',
    'load_credentials',
    'token_fetcher',
)

CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
"""The OAuth scope Vertex AI's generateContent needs (its API reference lists only this one)."""

TOKEN_REQUEST_TIMEOUT_SECONDS = 30.0
"""Timeout of a token exchange when google-auth gives none: Google's token endpoint answers in well
under a second, and a token fetch holds up every request waiting for it."""

MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024
"""The largest token-endpoint or metadata-server answer read: an access token response is a few
hundred bytes; a misdirected endpoint streaming without end cannot take the process's memory."""


class _Response(google.auth.transport.Response):
    """One answer, read whole, as google-auth's transport interface describes it."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status = status
        self._headers = headers
        self._data = data

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""
        return self._headers

    @property
    def data(self) -> bytes:
        """The response body."""
        return self._data

    def __repr__(self) -> str:
        # Never the body: a token response carries the access token.
        return f'_Response(status={self._status})'


class TransportRequest(google.auth.transport.Request):
    """google-auth's blocking request interface, served by our httpx client on the event loop.

    Call it only from a worker thread started by `anyio.to_thread.run_sync` (google-auth's
    `refresh` and `google.auth.default` run there): each call runs the exchange on the event loop
    that started the thread, through `client()`, the provider's httpx client for that loop. Any
    failure, including a call from elsewhere, is google-auth's `TransportError`, as its interface
    asks.
    """

    def __init__(self, client: Callable[[], httpx.AsyncClient]) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = 'GET',
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        """Send one request and read its whole answer, whatever its status."""
        try:
            return anyio.from_thread.run(self._exchange, url, method, body, headers, timeout)
        except Exception as exc:
            # Only the path: a query string can carry a credential.
            where = f'{method} {url.split("?", 1)[0]}'
            reason = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
            raise google.auth.exceptions.TransportError(f'{where} failed ({reason})') from exc

    async def _exchange(
        self,
        url: str,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> _Response:
        client = self._client()
        seconds = TOKEN_REQUEST_TIMEOUT_SECONDS if timeout is None else float(timeout)
        request = client.build_request(
            method, url, content=body or None, headers=dict(headers or {}), timeout=seconds
        )
        # The whole exchange gets one deadline: a server trickling bytes cannot hold the token up.
        with anyio.fail_after(seconds):
            response = await client.send(request, stream=True, auth=None, follow_redirects=False)
            try:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_TOKEN_RESPONSE_BYTES:
                        raise ValueError(
                            f'answer larger than {MAX_TOKEN_RESPONSE_BYTES} bytes (MAX_TOKEN_RESPONSE_BYTES)'
                        )
            finally:
                await response.aclose()
        return _Response(response.status_code, response.headers, bytes(data))

    def __repr__(self) -> str:
        return 'TransportRequest()'


# -- loading credentials (blocking: run in a worker thread) ----------------------------------------


def load_credentials(
    *,
    credentials: google.auth.credentials.Credentials | None,
    service_account_file: str | os.PathLike[str] | None,
    service_account_info: Mapping[str, Any] | None,
    request: TransportRequest,
) -> tuple[google.auth.credentials.Credentials, str | None]:
    """The credentials to use, scoped for Vertex AI, and the project they name (None when none).

    Application default credentials (`google.auth.default`) when nothing is given: the environment
    variable `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's credentials file, then the metadata server.
    """
    scopes = [CLOUD_PLATFORM_SCOPE]
    if credentials is not None:
        scoped = google.auth.credentials.with_scopes_if_required(credentials, scopes)
        return scoped, credentials_project(scoped)
    if service_account_file is not None:
        try:
            loaded = service_account.Credentials.from_service_account_file(
                os.fspath(service_account_file), scopes=scopes
            )
        except FileNotFoundError:
            raise UserError(
                f'google-vertex: service_account_file {os.fspath(service_account_file)!r} does not exist'
            ) from None
        except (ValueError, OSError) as exc:
            raise UserError(
                f'google-vertex: service_account_file {os.fspath(service_account_file)!r} is not a '
                f'service account key file: {exc}'
            ) from None
        return loaded, credentials_project(loaded)
    if service_account_info is not None:
        try:
            loaded = service_account.Credentials.from_service_account_info(
                dict(service_account_info), scopes=scopes
            )
        except ValueError as exc:
            # google-auth names the missing fields ("missing fields token_uri, client_email").
            raise UserError(
                f'google-vertex: service_account_info is not a service account key: {exc}'
            ) from None
        return loaded, credentials_project(loaded)
    try:
        found, project = google.auth.default(scopes=scopes, request=request)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        on_gce = _metadata_server(request)
        if on_gce is not None:
            return on_gce
        raise UserError(
            'google-vertex: no Google credentials found (application default credentials): '
            f'{exc} Pass service_account_file=, service_account_info= or credentials= to '
            'GoogleVertexProvider, or run `gcloud auth application-default login`.'
        ) from None
    return found, project


# -- the metadata server, where google-auth's own client for it cannot load -----------------------

METADATA_FLAVOR = {'Metadata-Flavor': 'Google'}
"""The header every metadata-server request must carry, and its answers carry back."""


def _metadata_root() -> tuple[str, str]:
    """The metadata server's probe URL and API root, honouring google-auth's environment variables."""
    ip = os.environ.get('GCE_METADATA_IP') or '169.254.169.254'
    host = (
        os.environ.get('GCE_METADATA_HOST')
        or os.environ.get('GCE_METADATA_ROOT')
        or 'metadata.google.internal'
    )
    return f'http://{ip}', f'http://{host}/computeMetadata/v1'


def _metadata_server(
    request: TransportRequest,
) -> tuple[google.auth.credentials.Credentials, str | None] | None:
    """Credentials from the metadata server (Compute Engine, Cloud Run, GKE), or None when there is none.

    google-auth's `compute_engine` module needs `requests`, so without it `google.auth.default`
    never looks for the metadata server: this does, once, with google-auth's probe timeout, and
    only when that module cannot load (with it, `google.auth.default` has already probed).
    """
    try:
        # The same import `google.auth.default` tried (already done, so free when it worked).
        import google.auth.compute_engine
    except ImportError:
        pass  # google-auth could not look: look here
    else:
        return None
    probe, root = _metadata_root()
    timeout = float(os.environ.get('GCE_METADATA_TIMEOUT') or METADATA_PROBE_TIMEOUT_SECONDS)
    try:
        answer = request(probe, headers=METADATA_FLAVOR, timeout=timeout)
    except google.auth.exceptions.TransportError:
        return None
    if answer.status != 200 or answer.headers.get('metadata-flavor') != 'Google':
        return None
    project = request(f'{root}/project/project-id', headers=METADATA_FLAVOR, timeout=timeout)
    named = project.data.decode().strip() if project.status == 200 else None
    return MetadataServerCredentials(root), named or None


METADATA_PROBE_TIMEOUT_SECONDS = 3.0
"""How long the metadata server gets to answer the probe: google-auth's own value (one attempt
here, where google-auth makes three), since a machine without one usually refuses at once."""


class MetadataServerCredentials(google.auth.credentials.Credentials):
    """The attached service account's token from the metadata server, with the cloud-platform scope."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self._root = root

    def refresh(self, request: google.auth.transport.Request) -> None:
        """Fetch a fresh token (the metadata server caches it and renews it before expiry)."""
        url = f'{self._root}/instance/service-accounts/default/token?scopes={CLOUD_PLATFORM_SCOPE}'
        answer = request(url, headers=METADATA_FLAVOR)
        if answer.status != 200:
            raise google.auth.exceptions.RefreshError(
                f'the metadata server answered {answer.status} to the token request'
            )
        try:
            payload = json.loads(answer.data)
            self.token = payload['access_token']
            lifetime = float(payload['expires_in'])
        except (ValueError, KeyError, TypeError) as exc:
            raise google.auth.exceptions.RefreshError(
                f'the metadata server sent no access_token and expires_in ({type(exc).__name__})'
            ) from None
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=lifetime)

    def __repr__(self) -> str:
        return f'MetadataServerCredentials({self._root!r})'


def credentials_project(credentials: google.auth.credentials.Credentials) -> str | None:
    """The project a credentials object names, if any (service-account keys carry `project_id`)."""
    project = getattr(credentials, 'project_id', None)
    return project if isinstance(project, str) and project else None


# -- fetching tokens -------------------------------------------------------------------------------


def token_fetcher(
    credentials: google.auth.credentials.Credentials, request: TransportRequest
) -> Callable[[], Awaitable[Token]]:
    """The fetch function of a `TokenSigner`: the credentials' token, refreshed off the event loop.

    The first fetch uses a token the credentials already hold if google-auth thinks it valid (a
    token the caller obtained); any later fetch means the signer dropped the token it was given
    (about to expire, or refused with a 401), so it always refreshes.
    """
    handed_out: list[str] = []

    async def fetch() -> Token:
        if not credentials.valid or (handed_out and credentials.token == handed_out[-1]):
            await anyio.to_thread.run_sync(_refresh, credentials, request)
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise UserError(f'google-vertex: {type(credentials).__name__}.refresh() gave no access token')
        handed_out[:] = [token]
        return Token(token, _expiry_seconds(credentials.expiry))

    return fetch


class GoogleTokenSigner(TokenSigner):
    """The kit's `TokenSigner` on google-auth credentials, plus the quota project they name.

    User credentials (gcloud's `application-default login`) bill API usage to a quota project,
    which Google reads from `x-goog-user-project` (google-auth's own `apply` sets it the same way);
    Vertex AI refuses such credentials without one.
    """

    __slots__ = ('_quota_project',)

    def __init__(self, credentials: google.auth.credentials.Credentials, request: TransportRequest) -> None:
        super().__init__(token_fetcher(credentials, request))
        quota = getattr(credentials, 'quota_project_id', None)
        self._quota_project = quota if isinstance(quota, str) and quota else None

    async def sign(self, request: WireRequest) -> None:
        """Set the bearer token, and the quota project when the credentials name one."""
        await super().sign(request)
        if self._quota_project is not None:
            request.headers['x-goog-user-project'] = self._quota_project


def _refresh(credentials: google.auth.credentials.Credentials, request: TransportRequest) -> None:
    """`credentials.refresh`, with google-auth's errors turned into ours (they never quote a token)."""
    try:
        credentials.refresh(request)
    except google.auth.exceptions.TransportError as exc:
        raise ModelConnectionError(
            '', f'google-vertex: could not reach Google to get an access token: {exc}'
        ) from exc
    except google.auth.exceptions.RefreshError as exc:
        raise UserError(
            f'google-vertex: Google refused the credentials ({type(credentials).__name__}): {exc}'
        ) from exc


def _expiry_seconds(expiry: datetime | None) -> float | None:
    """google-auth's expiry (a naive UTC datetime) as `time.time()` seconds."""
    if expiry is None:
        return None
    return (expiry if expiry.tzinfo is not None else expiry.replace(tzinfo=UTC)).timestamp()
