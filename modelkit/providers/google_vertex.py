"""Gemini on Vertex AI (https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest):
a regional base URL, a project path, and a Google OAuth token.

Nothing here touches google-auth or the disk at construction: the credentials (application
default credentials, a service-account key file or its contents, or any google-auth credentials
object) are loaded in the first-use hook, at the first request, in a worker thread, and their
token is fetched, cached and refreshed by the kit's `TokenSigner` over our own httpx transport
(see `_google_auth`). So a provider with nothing configured is built without error and fails at
the first request, with a `UserError` saying what to configure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._transport import DEFAULT_MAX_RETRIES
from ..exceptions import UserError
from . import Provider
from ._auth import env

if TYPE_CHECKING:
    import httpx
    from google.auth.credentials import Credentials

__all__ = ('GoogleVertexProvider', 'vertex_base_url')

_REGION = re.compile(r'[a-z][a-z0-9-]*[a-z0-9]')
"""What a Vertex AI location looks like (`us-central1`, `europe-west4`, `global`); it becomes part
of a host name, so anything else is refused rather than sent somewhere unexpected."""


def vertex_base_url(region: str) -> str:
    """The API root for `region`: `https://{region}-aiplatform.googleapis.com`, or the global endpoint."""
    if region == 'global':
        return 'https://aiplatform.googleapis.com'
    return f'https://{region}-aiplatform.googleapis.com'


class GoogleVertexProvider(Provider):
    """Vertex AI's Gemini endpoints, authenticated with google-auth (the `vertex` extra).

    Credentials, in order: `credentials` (any google-auth credentials object: workload identity, a
    token you already hold), `service_account_file` or `service_account_info` (a service-account
    key), else application default credentials. The project is `project_id`, or the one the
    credentials name; when both are given they must agree. The API root is `base_url`, the
    `GOOGLE_VERTEX_BASE_URL` variable (a gateway, the emulator) or the region's endpoint, and the
    interface's `/models/{m}:generateContent` goes to
    `/v1/projects/{project}/locations/{region}/publishers/{model_publisher}/models/{m}:generateContent`.
    """

    name = 'google-vertex'
    # No `api_key_env`: Vertex authenticates with Google credentials (ADC), not one key variable.
    base_url_env = 'GOOGLE_VERTEX_BASE_URL'
    key_required = False

    def __init__(
        self,
        service_account_file: str | os.PathLike[str] | None = None,
        service_account_info: Mapping[str, Any] | None = None,
        project_id: str | None = None,
        region: str = 'us-central1',
        model_publisher: str = 'google',
        http_client: httpx.AsyncClient | None = None,
        *,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        max_retries: int | None = None,
    ) -> None:
        given = [
            name
            for name, value in (
                ('service_account_file', service_account_file),
                ('service_account_info', service_account_info),
                ('credentials', credentials),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise UserError(
                f'GoogleVertexProvider takes one source of credentials, got {" and ".join(given)}'
            )
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise UserError(
                f'GoogleVertexProvider: region {region!r} is not a Vertex AI location (e.g. us-central1)'
            )
        if not model_publisher or '/' in model_publisher:
            raise UserError(
                f'GoogleVertexProvider: model_publisher {model_publisher!r} is not a publisher name'
            )
        if project_id is not None and not project_id:
            raise UserError('GoogleVertexProvider: project_id is empty')
        super().__init__(
            name=self.name,
            base_url=base_url or env(self.base_url_env) or vertex_base_url(region),
            http_client=http_client,
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
        )
        self.region = region
        self.model_publisher = model_publisher
        self._project_id = project_id
        self._credentials = credentials
        self._service_account_file = service_account_file
        self._service_account_info = service_account_info
        # What is known without I/O is checked now: a key's contents and a credentials object name
        # their project (a key file is read, and ADC looked up, only at the first request).
        if service_account_info is not None or credentials is not None:
            if service_account_info is not None:
                named = service_account_info.get('project_id')
            else:
                named = getattr(credentials, 'project_id', None)
            named = named if isinstance(named, str) and named else None
            self._project_id = self._check_project(named, given[0])

    @property
    def project_id(self) -> str | None:
        """The project requests go to: known at construction if passed, else after the first request."""
        return self._project_id

    def route(self, path: str, model_name: str | None) -> str:
        """`/models/{m}:...` goes under `/v1/projects/{p}/locations/{region}/publishers/{publisher}`."""
        normalised = '/' + path.lstrip('/')
        if not normalised.startswith('/models/'):
            return path
        # Before the first-use hook the project may be unknown; `_prepared` routes again after it.
        project = quote(self._project_id or '-', safe='')
        return (
            f'/v1/projects/{project}/locations/{self.region}/publishers/'
            f'{quote(self.model_publisher, safe="")}{normalised}'
        )

    async def setup(self) -> None:
        """Load the credentials in a worker thread, settle the project, and sign with their token."""
        import anyio.to_thread

        try:
            from . import _google_auth
        except ImportError as exc:
            raise UserError(
                f'GoogleVertexProvider needs google-auth: pip install "modelkit-wire[vertex]" ({exc})'
            ) from exc
        request = _google_auth.TransportRequest(lambda: self.client)
        credentials, named = await anyio.to_thread.run_sync(
            lambda: _google_auth.load_credentials(
                credentials=self._credentials,
                service_account_file=self._service_account_file,
                service_account_info=self._service_account_info,
                request=request,
            )
        )
        self._project_id = self._check_project(named, self._credentials_source())
        self.set_signer(_google_auth.GoogleTokenSigner(credentials, request))

    def _credentials_source(self) -> str:
        if self._credentials is not None:
            return 'credentials'
        if self._service_account_file is not None:
            return 'service_account_file'
        if self._service_account_info is not None:
            return 'service_account_info'
        return 'application default credentials'

    def _check_project(self, named: str | None, source: str) -> str:
        """The project to use: `project_id` or the credentials', which must not disagree."""
        explicit = self._project_id
        if explicit is not None and named is not None and explicit != named:
            raise UserError(
                f'GoogleVertexProvider: project_id {explicit!r} differs from the project of the '
                f'{source} ({named!r}); pass the matching project_id, or none to use {named!r}'
            )
        project = explicit or named
        if project is None:
            raise UserError(
                f'GoogleVertexProvider: no Google Cloud project: the {source} name none; pass project_id=...'
            )
        return project

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, '
            f'project_id={self._project_id!r}, region={self.region!r})'
        )
