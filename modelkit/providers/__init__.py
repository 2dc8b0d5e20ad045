"""Providers: where requests go and how they are authenticated; nothing about message formats.

A provider is a name, a base URL, a signer (adds the API-key header, a Google bearer token, a
SigV4 signature, ...) and an http client. OpenAI-compatible services are a base URL and an
environment variable, not new logic.

Work that needs I/O (Google's application default credentials, the AWS credential chain) never
runs at construction: a provider overrides `setup`, its async first-use hook, which `send` and
`stream` run once before the first request (see `Provider.setup`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib import import_module
from inspect import signature
from typing import TYPE_CHECKING, Any, ClassVar

from .._signing import as_signer
from .._transport import (
    DEFAULT_MAX_RETRIES,
    HTTPRequest,
    HTTPResponse,
    ResponseStream,
    Signer,
    SignerFunction,
    Transport,
    aclose_shared_http_client,
)
from ..exceptions import UserError
from ._auth import SingleFlight

if TYPE_CHECKING:
    import httpx

    from ..profiles import OpenAIChatProfile

__all__ = ('Provider', 'aclose_shared_http_client', 'infer_provider', 'known_providers')


class _CompatibleProfile:
    """`Provider.openai_chat_profile`'s default, `OPENAI_COMPATIBLE_PROFILE`, imported at the first read.

    Only `OpenAIModel` reads a provider's profile, so providers of other wire formats (Anthropic,
    Gemini, Cohere, Bedrock) do not build the profiles at import. Read on the class or an instance
    alike; a subclass's own `openai_chat_profile`, or one set on an instance, takes its place.
    """

    __slots__ = ()

    def __get__(self, instance: object, owner: type | None = None) -> OpenAIChatProfile:
        from ..profiles import OPENAI_COMPATIBLE_PROFILE

        return OPENAI_COMPATIBLE_PROFILE


class Provider:
    """A base URL, a signer and an http client.

    Interfaces build an `HTTPRequest` for `url(path)` and hand it to `send` / `stream`, which sign it
    and pass it to the transport. Credentials are resolved lazily by the signer, at the first request.
    """

    name: str
    """Short name used in model strings and error messages, e.g. `openai`."""
    api_key_env: ClassVar[str | None] = None
    """The environment variable the API key is read from; None where there is no single key."""
    base_url_env: ClassVar[str | None] = None
    """The environment variable that overrides the base URL; None where there is none."""
    key_required: ClassVar[bool] = True
    """Whether the service needs an API key (False for local servers such as Ollama)."""
    openai_chat_profile: OpenAIChatProfile = _CompatibleProfile()  # type: ignore[assignment]
    """The OpenAI chat-completions dialect this service speaks (read by `OpenAIModel`); data only."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        signer: Signer | SignerFunction | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: dict[str, str] | None = None,
        default_query: dict[str, str] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip('/')
        self._signer: Signer | None = as_signer(signer)
        self._default_headers = dict(default_headers or {})
        self._default_query = dict(default_query or {})
        self._transport = Transport(http_client, max_retries=max_retries)
        self._no_setup = type(self).setup is Provider.setup
        self._ready = self._no_setup
        self._first_use: SingleFlight[None] = SingleFlight()

    async def setup(self) -> None:
        """The first-use hook: override for work that must not happen at construction.

        Runs once, before the first request, under single flight: concurrent first requests wait
        for the one run; if it raises, every waiting request gets that error and the next request
        runs it again. It may replace the signer (`self.set_signer`) and `self._base_url`: requests
        built before it ran are routed again afterwards. Blocking calls go to a thread, never the
        event loop:

        ```python
        async def setup(self) -> None:
            import google.auth  # the vertex extra, imported only now

            credentials, project = await anyio.to_thread.run_sync(lambda: google.auth.default(scopes=SCOPES))
            self._base_url = f'https://{region}-aiplatform.googleapis.com/v1/projects/{project}/...'
            self.set_signer(TokenSigner(fetch_token_from(credentials)))
        ```
        """

    async def ensure_ready(self) -> None:
        """Run `setup` if it has not yet succeeded (`send` and `stream` call this first)."""
        if not self._ready:
            await self._first_use.run(self._run_setup)

    async def _run_setup(self) -> None:
        if not self._ready:  # a run that finished just before this one started
            await self.setup()
            self._ready = True

    def set_signer(self, signer: Signer | SignerFunction | None) -> None:
        """Replace the signer (for `setup`, once the credentials are known)."""
        self._signer = as_signer(signer)

    @property
    def base_url(self) -> str:
        """The URL every request path is joined to."""
        return self._base_url

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client in use: the one passed in, or the shared one for this event loop."""
        return self._transport.client

    def url(self, path: str) -> str:
        """Join a request path (e.g. `/chat/completions`) to the base URL."""
        return f'{self._base_url}/{path.lstrip("/")}'

    def build_request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        model_name: str | None = None,
    ) -> HTTPRequest:
        """An `HTTPRequest` for `path` carrying this provider's default headers and query.

        `model_name` lets a provider route by model (Azure puts the deployment in the path).
        """
        merged = {**self._default_headers, **(headers or {})}
        return HTTPRequest(
            method,
            self.url(self.route(path, model_name)),
            merged,
            body,
            dict(self._default_query),
            path=path,
            model_name=model_name,
        )

    def route(self, path: str, model_name: str | None) -> str:
        """The path a request for `model_name` goes to; most providers keep `path` as it is."""
        return path

    async def send(
        self, request: HTTPRequest, *, model_name: str, timeout: float | None = None
    ) -> HTTPResponse:
        """Sign and send a request, reading the whole 2xx body."""
        request = await self._prepared(request)
        return await self._transport.send(
            request, signer=self._signer, model_name=model_name, vendor=self.name, timeout=timeout
        )

    @asynccontextmanager
    async def stream(
        self,
        request: HTTPRequest,
        *,
        model_name: str,
        timeout: float | None = None,
        after_attempts: int = 0,
    ) -> AsyncIterator[ResponseStream]:
        """Sign and open a streamed request; the response is closed when the block exits.

        `after_attempts`: attempts already made at this request, taken from the retry budget (see
        `ResponseStream.wait_to_retry`).
        """
        request = await self._prepared(request)
        async with self._transport.stream(
            request,
            signer=self._signer,
            model_name=model_name,
            vendor=self.name,
            timeout=timeout,
            after_attempts=after_attempts,
        ) as stream:
            yield stream

    async def _prepared(self, request: HTTPRequest) -> HTTPRequest:
        """`request` after the first-use hook, routed again if the hook moved the base URL."""
        if self._no_setup:
            return request
        await self.ensure_ready()
        # Also for requests built before a concurrent request finished the hook: route them all.
        if request.path is None:
            return request
        url = self.url(self.route(request.path, request.model_name))
        return request if url == request.url else replace(request, url=url)

    def __repr__(self) -> str:
        # Never show the signer or headers: they hold credentials.
        return f'{type(self).__name__}(name={self.name!r}, base_url={self._base_url!r})'


# name -> (module under modelkit.providers, class). Loaded only when asked for.
_PROVIDERS: dict[str, tuple[str, str]] = {
    'openai': ('openai', 'OpenAIProvider'),
    'azure': ('azure', 'AzureProvider'),
    'deepseek': ('deepseek', 'DeepSeekProvider'),
    'openrouter': ('openrouter', 'OpenRouterProvider'),
    'grok': ('grok', 'GrokProvider'),
    'ollama': ('ollama', 'OllamaProvider'),
    'perplexity': ('perplexity', 'PerplexityProvider'),
    'fireworks': ('fireworks', 'FireworksProvider'),
    'together': ('together', 'TogetherProvider'),
    'anthropic': ('anthropic', 'AnthropicProvider'),
    'google-gla': ('google_gla', 'GoogleGLAProvider'),
    'google-vertex': ('google_vertex', 'GoogleVertexProvider'),
    'groq': ('groq', 'GroqProvider'),
    'mistral': ('mistral', 'MistralProvider'),
    'cohere': ('cohere', 'CohereProvider'),
    'bedrock': ('bedrock', 'BedrockProvider'),
}


def known_providers() -> list[str]:
    """Every provider name `infer_provider` accepts."""
    return list(_PROVIDERS)


def infer_provider(name: str, **kwargs: Any) -> Provider:
    """Build the provider called `name` (e.g. `openai`) from its environment variables."""
    entry = _PROVIDERS.get(name)
    if entry is None:
        raise UserError(f'Unknown provider {name!r}: expected one of {", ".join(map(repr, _PROVIDERS))}')
    module_name, class_name = entry
    try:
        module = import_module(f'{__name__}.{module_name}')
    except ModuleNotFoundError as exc:
        if exc.name != f'{__name__}.{module_name}':
            raise
        raise UserError(f'The {name!r} provider is not in this version of modelkit yet') from None
    cls = getattr(module, class_name)
    try:
        signature(cls).bind_partial(**kwargs)
    except TypeError as exc:
        # e.g. `OpenAIModel('gpt-4o', provider='azure', base_url=...)`: say so, not a bare TypeError.
        raise UserError(f'The {name!r} provider ({class_name}) cannot take those arguments: {exc}') from None
    provider: Provider = cls(**kwargs)
    return provider
