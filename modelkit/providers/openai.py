"""OpenAI, and every service that speaks OpenAI's API: a base URL, an API key, and nothing else.

When is an API key required? Only when requests go to the service's own hosted API (for
`OpenAIProvider`, a base URL on `api.openai.com`). Pointed anywhere else (Ollama, vLLM, LM Studio,
a gateway) the key is optional and, without one, no `Authorization` header is sent; that is how
`OpenAIProvider(base_url='http://localhost:11434/v1')` works with no key at all.

Named compatible services (DeepSeek, OpenRouter, ...) are `OpenAICompatibleProvider` subclasses that
only state data: their name, default base URL, and environment variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._transport import DEFAULT_MAX_RETRIES, Signer
from ..exceptions import UserError
from ..profiles import OPENAI_API_PROFILE, OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from ._api_key import KeyedProvider, host
from ._auth import bearer_signer, callable_signer, env, header_signer
from .azure import deployment_route

if TYPE_CHECKING:
    import httpx

__all__ = ('OPENAI_BASE_URL', 'OpenAICompatibleProvider', 'OpenAIProvider')

OPENAI_BASE_URL = 'https://api.openai.com/v1'

# Headers an SDK client adds for its own requests; ours set their own or must not carry them.
_SDK_HEADERS = frozenset({'authorization', 'api-key', 'user-agent', 'accept', 'content-type'})

# What openai-python stores as `api_key` when an Azure client authenticates with a token instead.
_SDK_MISSING_KEY = '<missing API key>'


class OpenAIProvider(KeyedProvider):
    """OpenAI's API, or any OpenAI-compatible server given its `base_url`.

    The key comes from `api_key` or `OPENAI_API_KEY`, the base URL from `base_url`, `OPENAI_BASE_URL`
    or `https://api.openai.com/v1`. A key is required only for OpenAI's own API (see the module
    docstring). `openai_client` takes the base URL, credentials, default headers and query of an
    `AsyncOpenAI` / `AsyncAzureOpenAI` client, without importing or calling the SDK.
    """

    name = 'openai'
    display_name = 'the OpenAI API'
    default_base_url = OPENAI_BASE_URL
    openai_chat_profile: OpenAIChatProfile = OPENAI_API_PROFILE
    """OpenAI's own dialect; an instance pointed at another host speaks the generic compatible one."""

    _deployment_routing: bool = False

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        openai_client: Any = None,
        http_client: httpx.AsyncClient | None = None,
        *,
        max_retries: int | None = None,
    ) -> None:
        if openai_client is not None:
            if base_url is not None or api_key is not None:
                raise UserError(
                    f'{type(self).__name__} takes either `openai_client` or `base_url`/`api_key`, not both: '
                    'the client already says where to send requests and how to authenticate'
                )
            self._init_from_client(openai_client, http_client, max_retries)
            return
        if not (base_url or env(self.base_url_env) or self.default_base_url):
            raise UserError(f'{type(self).__name__} needs a base_url')
        self._init_keyed(base_url, api_key, http_client, max_retries, self._env_headers())
        self._choose_profile()

    def route(self, path: str, model_name: str | None) -> str:
        """Azure-style clients put the deployment (the model name) in the path; others keep `path`."""
        if self._deployment_routing:
            return deployment_route(path, model_name)
        return path

    def _choose_profile(self) -> None:
        # The provider owns its base URL, so this is where "is this OpenAI's own API?" is answered:
        # plain `OpenAIProvider(base_url=...)` at another host is some compatible server.
        declared = type(self).openai_chat_profile
        if declared is OPENAI_API_PROFILE and host(self.base_url) != host(OPENAI_BASE_URL):
            self.openai_chat_profile = OPENAI_COMPATIBLE_PROFILE

    def _env_headers(self) -> dict[str, str]:
        """Headers configured through the environment (OpenAI's organization and project)."""
        headers: dict[str, str] = {}
        if organization := env('OPENAI_ORG_ID'):
            headers['OpenAI-Organization'] = organization
        if project := env('OPENAI_PROJECT_ID'):
            headers['OpenAI-Project'] = project
        return headers

    def _init_from_client(
        self, client: Any, http_client: httpx.AsyncClient | None, max_retries: int | None
    ) -> None:
        """Read an openai-python client's settings (never its http client: the SDKs use their own)."""
        base_url = str(getattr(client, 'base_url', '') or '')
        if not base_url:
            raise UserError(f'openai_client {type(client).__name__} has no base_url')
        azure = _looks_like_azure(client)
        headers = _client_headers(client)
        if not azure:
            for attribute, header in (('organization', 'OpenAI-Organization'), ('project', 'OpenAI-Project')):
                value = getattr(client, attribute, None)
                if isinstance(value, str) and value:
                    headers.setdefault(header, value)
        if max_retries is None:
            max_retries = getattr(client, 'max_retries', DEFAULT_MAX_RETRIES)
        super().__init__(
            name='azure' if azure else self.name,
            base_url=base_url,
            signer=_client_signer(client, azure),
            http_client=http_client,
            default_headers=headers,
            default_query=_client_query(client),
            max_retries=max_retries
            if isinstance(max_retries, int) and max_retries >= 0
            else DEFAULT_MAX_RETRIES,
        )
        self._choose_profile()
        # Like AsyncAzureOpenAI without `azure_deployment`: the model name picks the deployment.
        self._deployment_routing = azure and '/deployments/' not in urlsplit(self.base_url).path + '/'


class OpenAICompatibleProvider(OpenAIProvider):
    """A service that speaks OpenAI's API, described by data: subclass and set the class attributes.

    ```python
    class AcmeProvider(OpenAICompatibleProvider):
        name = 'acme'
        display_name = 'Acme'
        default_base_url = 'https://api.acme.example/v1'
    ```

    `api_key_env` and `base_url_env` then default to `ACME_API_KEY` and `ACME_BASE_URL` (see
    `KeyedProvider.env_prefix`).
    """

    name = 'openai-compatible'
    display_name = 'this OpenAI-compatible service'
    default_base_url = ''
    api_key_env = None
    base_url_env = None
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE

    def _env_headers(self) -> dict[str, str]:
        return {}  # OPENAI_ORG_ID / OPENAI_PROJECT_ID belong to OpenAI, not to other services


def _looks_like_azure(client: Any) -> bool:
    return hasattr(client, '_api_version') or 'azure' in type(client).__name__.lower()


def _client_headers(client: Any) -> dict[str, str]:
    """The client's own default headers: `_custom_headers` (what the user passed), else the public
    `default_headers` minus what the SDK adds for itself (auth, User-Agent, X-Stainless-*)."""
    custom = getattr(client, '_custom_headers', None)
    source = custom if isinstance(custom, dict) else getattr(client, 'default_headers', None)
    if not isinstance(source, dict):
        return {}
    return {
        str(k): v
        for k, v in source.items()
        if isinstance(v, str)
        and str(k).lower() not in _SDK_HEADERS
        and not str(k).lower().startswith('x-stainless')
    }


def _client_query(client: Any) -> dict[str, str]:
    custom = getattr(client, '_custom_query', None)
    source = custom if isinstance(custom, dict) else getattr(client, 'default_query', None)
    if not isinstance(source, dict):
        return {}
    return {str(k): str(v) for k, v in source.items() if isinstance(v, str | int | float)}


def _client_signer(client: Any, azure: bool) -> Signer | None:
    """Authenticate as the SDK client would: Azure tokens first, then the API key."""
    if azure:
        token_provider = getattr(client, '_azure_ad_token_provider', None)
        if callable(token_provider):
            return callable_signer(token_provider)
        token = getattr(client, '_azure_ad_token', None)
        if isinstance(token, str) and token:
            return bearer_signer(token)
    key_provider = getattr(client, '_api_key_provider', None)
    key: object = key_provider if callable(key_provider) else getattr(client, 'api_key', None)
    if callable(key):
        return callable_signer(key, header='api-key', prefix='') if azure else callable_signer(key)
    if not isinstance(key, str) or not key or key == _SDK_MISSING_KEY:
        return None
    return header_signer('api-key', key) if azure else bearer_signer(key)
