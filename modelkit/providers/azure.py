"""Azure OpenAI: OpenAI's API under `{endpoint}/openai`, one deployment per model.

Requests carry the key in an `api-key` header and the API version as an `api-version` query
parameter, and a request for model `m` goes to `/deployments/m/...`, which is what `AsyncAzureOpenAI`
does when it is given no `azure_deployment` (the deployment name is the model name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote, urlsplit

from .._transport import DEFAULT_MAX_RETRIES
from ..exceptions import UserError
from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from . import Provider
from ._auth import env, header_signer

if TYPE_CHECKING:
    import httpx

__all__ = ('AzureProvider', 'deployment_route')

# The endpoints Azure serves per deployment (the rest, like /models or /files, are per resource).
_DEPLOYMENT_PATHS = frozenset(
    {
        '/chat/completions',
        '/completions',
        '/embeddings',
        '/audio/speech',
        '/audio/transcriptions',
        '/audio/translations',
        '/images/generations',
        '/images/edits',
    }
)


def deployment_route(path: str, model_name: str | None) -> str:
    """`/chat/completions` for model `m` -> `/deployments/m/chat/completions`; other paths unchanged."""
    normalised = '/' + path.lstrip('/')
    if model_name and normalised in _DEPLOYMENT_PATHS:
        return f'/deployments/{quote(model_name, safe="")}{normalised}'
    return path


class AzureProvider(Provider):
    """Azure OpenAI, configured like the Azure SDKs.

    `azure_endpoint` (or `AZURE_OPENAI_ENDPOINT`) is the resource URL, e.g.
    `https://my-resource.openai.azure.com`; `api_version` (or `OPENAI_API_VERSION`) the API version;
    `api_key` (or `AZURE_OPENAI_API_KEY`) the key. The model name is the deployment name.
    """

    name = 'azure'
    api_key_env: ClassVar[str | None] = 'AZURE_OPENAI_API_KEY'
    base_url_env: ClassVar[str | None] = 'AZURE_OPENAI_ENDPOINT'
    # Azure's chat completions accept `stream_options.include_usage` (API versions from 2024-09-01);
    # `max_tokens`, since API versions before 2024-09-01 reject `max_completion_tokens`.
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE

    def __init__(
        self,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        endpoint = azure_endpoint or env(self.base_url_env)
        if not endpoint:
            raise UserError('Set the AZURE_OPENAI_ENDPOINT environment variable or pass azure_endpoint=...')
        version = api_version or env('OPENAI_API_VERSION')
        if not version:
            raise UserError('Set the OPENAI_API_VERSION environment variable or pass api_version=...')
        key = api_key or env(self.api_key_env)
        if not key:
            raise UserError('Set the AZURE_OPENAI_API_KEY environment variable or pass api_key=...')
        base_url = endpoint.rstrip('/')
        # A bare resource URL gets Azure's `/openai` prefix; a URL with a path is taken as given.
        if not urlsplit(base_url).path:
            base_url = f'{base_url}/openai'
        super().__init__(
            name=self.name,
            base_url=base_url,
            signer=header_signer('api-key', key),
            http_client=http_client,
            default_query={'api-version': version},
            max_retries=max_retries,
        )
        self._deployment_routing = urlsplit(self.base_url).path.endswith('/openai')

    def route(self, path: str, model_name: str | None) -> str:
        """The deployment (the model name) goes in the path, unless the endpoint already names one."""
        return deployment_route(path, model_name) if self._deployment_routing else path
