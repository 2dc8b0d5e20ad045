"""OpenAI and the OpenAI-compatible providers: environment, keys, base URLs, what goes on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.providers import Provider, infer_provider, known_providers
from modelkit.providers.deepseek import DeepSeekProvider
from modelkit.providers.fireworks import FireworksProvider
from modelkit.providers.grok import GrokProvider
from modelkit.providers.ollama import OllamaProvider
from modelkit.providers.openai import OPENAI_BASE_URL, OpenAICompatibleProvider, OpenAIProvider
from modelkit.providers.openrouter import OpenRouterProvider
from modelkit.providers.perplexity import PerplexityProvider
from modelkit.providers.together import TogetherProvider

SECRET = 'sk-secret-value-0123456789'

# class, registry name, default base URL, key variable, base URL variable, include_usage
SERVICES = [
    (DeepSeekProvider, 'deepseek', 'https://api.deepseek.com', 'DEEPSEEK_API_KEY', 'DEEPSEEK_BASE_URL', True),
    (
        OpenRouterProvider,
        'openrouter',
        'https://openrouter.ai/api/v1',
        'OPENROUTER_API_KEY',
        'OPENROUTER_BASE_URL',
        True,
    ),
    (GrokProvider, 'grok', 'https://api.x.ai/v1', 'XAI_API_KEY', 'XAI_BASE_URL', True),
    (
        PerplexityProvider,
        'perplexity',
        'https://api.perplexity.ai',
        'PERPLEXITY_API_KEY',
        'PERPLEXITY_BASE_URL',
        False,
    ),
    (
        FireworksProvider,
        'fireworks',
        'https://api.fireworks.ai/inference/v1',
        'FIREWORKS_API_KEY',
        'FIREWORKS_BASE_URL',
        False,
    ),
    (
        TogetherProvider,
        'together',
        'https://api.together.xyz/v1',
        'TOGETHER_API_KEY',
        'TOGETHER_BASE_URL',
        True,
    ),
]
SERVICE_IDS = [s[1] for s in SERVICES]


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def post_chat(provider: Provider, model_name: str = 'gpt-4o') -> httpx.Request:
    """Send one chat request through the provider into respx and return what went on the wire."""
    with respx.mock(assert_all_called=False) as router:
        route = router.route().mock(return_value=httpx.Response(200, json={}))
        request = provider.build_request('POST', '/chat/completions', b'{}', model_name=model_name)
        await provider.send(request, model_name=model_name)
        return route.calls.last.request


# -- OpenAI ----------------------------------------------------------------------------------------


def test_openai_reads_the_key_from_the_environment_and_defaults_the_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv('OPENAI_API_KEY', SECRET)
    provider = OpenAIProvider()  # outside any event loop: nothing is created yet
    assert provider.name == 'openai'
    assert provider.base_url == OPENAI_BASE_URL == 'https://api.openai.com/v1'
    assert provider.url('/chat/completions') == 'https://api.openai.com/v1/chat/completions'


def test_openai_without_a_key_names_the_variable() -> None:
    with pytest.raises(
        UserError, match=r'Set the OPENAI_API_KEY environment variable or pass api_key=\.\.\.'
    ):
        OpenAIProvider()


def test_openai_base_url_env_and_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OPENAI_BASE_URL', 'https://gateway.example/v1/')
    monkeypatch.setenv('OPENAI_API_KEY', SECRET)
    assert OpenAIProvider().base_url == 'https://gateway.example/v1'
    assert OpenAIProvider(base_url='https://other.example/v1').base_url == 'https://other.example/v1'


def test_openai_env_base_url_on_openai_still_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OPENAI_BASE_URL', 'https://api.openai.com/v2')
    with pytest.raises(UserError, match='OPENAI_API_KEY'):
        OpenAIProvider()


@pytest.mark.anyio
async def test_openai_sends_a_bearer_key(
    http_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-from-env')
    sent = await post_chat(OpenAIProvider(api_key=SECRET, http_client=http_client))
    assert sent.headers['authorization'] == f'Bearer {SECRET}'  # the argument wins over the environment
    assert str(sent.url) == 'https://api.openai.com/v1/chat/completions'


@pytest.mark.anyio
@pytest.mark.parametrize('base_url', ['http://localhost:11434/v1', 'http://192.168.1.74:11434/v1'])
async def test_openai_compatible_server_needs_no_key_and_gets_no_authorization(
    base_url: str, http_client: httpx.AsyncClient
) -> None:
    provider = OpenAIProvider(base_url=base_url, http_client=http_client)
    sent = await post_chat(provider, 'llama3.2')
    assert str(sent.url) == f'{base_url}/chat/completions'
    assert 'authorization' not in sent.headers


@pytest.mark.anyio
async def test_openai_organization_and_project_from_the_environment(
    http_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('OPENAI_ORG_ID', 'org-123')
    monkeypatch.setenv('OPENAI_PROJECT_ID', 'proj-456')
    sent = await post_chat(OpenAIProvider(api_key=SECRET, http_client=http_client))
    assert sent.headers['openai-organization'] == 'org-123'
    assert sent.headers['openai-project'] == 'proj-456'


@pytest.mark.anyio
async def test_the_key_never_shows_in_repr_or_errors(http_client: httpx.AsyncClient) -> None:
    provider = OpenAIProvider(api_key=SECRET, http_client=http_client)
    assert SECRET not in repr(provider)
    assert all(SECRET not in repr(value) for value in vars(provider).values())
    with respx.mock() as router:
        router.post(url__regex='.*').mock(
            return_value=httpx.Response(401, json={'error': {'message': 'Incorrect API key provided'}})
        )
        with pytest.raises(ModelHTTPError) as info:
            await provider.send(
                provider.build_request('POST', '/chat/completions', b'{}'), model_name='gpt-4o'
            )
    error = info.value
    assert error.status_code == 401
    assert error.vendor == 'openai'
    for text in (str(error), repr(error), repr(error.headers), repr(error.body), repr(error.__cause__)):
        assert SECRET not in text


def test_stream_include_usage_defaults_to_true() -> None:
    assert OpenAIProvider.openai_chat_profile.stream_include_usage is True
    local = OpenAIProvider(base_url='http://localhost:8000/v1')
    assert local.openai_chat_profile.stream_include_usage is True


@pytest.mark.anyio
async def test_the_shared_client_is_used_unless_one_is_given(http_client: httpx.AsyncClient) -> None:
    from modelkit._transport import aclose_shared_http_client, shared_http_client

    assert OpenAIProvider(api_key=SECRET, http_client=http_client).client is http_client
    assert OpenAIProvider(api_key=SECRET).client is shared_http_client()
    await aclose_shared_http_client()


# -- openai_client duck typing ---------------------------------------------------------------------


class FakeAsyncOpenAI:
    """What OpenAIProvider reads from an `openai.AsyncOpenAI` (the real one is never imported)."""

    def __init__(self, **overrides: Any) -> None:
        self.base_url = httpx.URL('https://proxy.example/v1/')
        self.api_key = 'sk-from-client'
        self.organization = 'org-client'
        self.project = None
        self.max_retries = 5
        self._custom_headers = {'X-Custom': 'yes'}
        self._custom_query = {'tenant': 'acme'}
        self._client = object()  # the SDK's own http client: must never be used
        self.__dict__.update(overrides)

    @property
    def default_headers(self) -> dict[str, str]:
        return {
            'Accept': 'application/json',
            'Authorization': f'Bearer {self.api_key}',
            'User-Agent': 'AsyncOpenAI/Python 1.0',
            'X-Stainless-Lang': 'python',
            **self._custom_headers,
        }


class FakeAsyncAzureOpenAI(FakeAsyncOpenAI):
    def __init__(self, **overrides: Any) -> None:
        super().__init__()
        self.base_url = httpx.URL('https://res.openai.azure.com/openai/')
        self.api_key = 'azure-key'
        self.organization = None
        self._api_version = '2024-10-21'
        self._azure_ad_token = None
        self._azure_ad_token_provider = None
        self._custom_headers = {}
        self._custom_query = {'api-version': '2024-10-21'}
        self.__dict__.update(overrides)


@pytest.mark.anyio
async def test_openai_client_settings_are_taken_over(http_client: httpx.AsyncClient) -> None:
    provider = OpenAIProvider(openai_client=FakeAsyncOpenAI(), http_client=http_client)
    assert provider.name == 'openai'
    assert provider.base_url == 'https://proxy.example/v1'
    assert provider.client is http_client
    assert provider._transport.max_retries == 5
    sent = await post_chat(provider)
    assert str(sent.url) == 'https://proxy.example/v1/chat/completions?tenant=acme'
    assert sent.headers['authorization'] == 'Bearer sk-from-client'
    assert sent.headers['x-custom'] == 'yes'
    assert sent.headers['openai-organization'] == 'org-client'
    assert 'x-stainless-lang' not in sent.headers
    assert sent.headers['user-agent'] != 'AsyncOpenAI/Python 1.0'


class _PlainClient:
    """A minimal SDK look-alike with public attributes only."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


@pytest.mark.anyio
async def test_openai_client_without_private_attributes_falls_back_to_public_defaults(
    http_client: httpx.AsyncClient,
) -> None:
    client = _PlainClient(
        base_url='https://proxy.example/v1/',
        api_key='sk-from-client',
        default_headers={'Authorization': 'Bearer other', 'X-Stainless-OS': 'Linux', 'X-Custom': 'yes'},
        default_query={'tenant': 'public'},
    )
    sent = await post_chat(OpenAIProvider(openai_client=client, http_client=http_client))
    assert str(sent.url) == 'https://proxy.example/v1/chat/completions?tenant=public'
    assert sent.headers['x-custom'] == 'yes'
    assert sent.headers['authorization'] == 'Bearer sk-from-client'
    assert 'x-stainless-os' not in sent.headers


@pytest.mark.anyio
async def test_azure_like_openai_client_routes_by_deployment_with_api_key_header(
    http_client: httpx.AsyncClient,
) -> None:
    provider = OpenAIProvider(openai_client=FakeAsyncAzureOpenAI(), http_client=http_client)
    assert provider.name == 'azure'
    sent = await post_chat(provider, 'gpt-4o')
    assert str(sent.url) == (
        'https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'
    )
    assert sent.headers['api-key'] == 'azure-key'
    assert 'authorization' not in sent.headers


@pytest.mark.anyio
async def test_azure_like_client_with_a_deployment_in_its_base_url_is_not_rerouted(
    http_client: httpx.AsyncClient,
) -> None:
    client = FakeAsyncAzureOpenAI(base_url=httpx.URL('https://res.openai.azure.com/openai/deployments/mine/'))
    sent = await post_chat(OpenAIProvider(openai_client=client, http_client=http_client), 'gpt-4o')
    assert str(sent.url).startswith('https://res.openai.azure.com/openai/deployments/mine/chat/completions?')


@pytest.mark.anyio
async def test_azure_like_client_token_provider_is_asked_before_every_request(
    http_client: httpx.AsyncClient,
) -> None:
    tokens = iter(['token-1', 'token-2'])

    async def token_provider() -> str:
        return next(tokens)

    client = FakeAsyncAzureOpenAI(api_key='<missing API key>', _azure_ad_token_provider=token_provider)
    provider = OpenAIProvider(openai_client=client, http_client=http_client)
    first = await post_chat(provider)
    second = await post_chat(provider)
    assert first.headers['authorization'] == 'Bearer token-1'
    assert second.headers['authorization'] == 'Bearer token-2'
    assert 'api-key' not in first.headers


def test_openai_client_excludes_base_url_and_api_key() -> None:
    with pytest.raises(UserError, match='openai_client'):
        OpenAIProvider(api_key=SECRET, openai_client=FakeAsyncOpenAI())


# -- the named OpenAI-compatible services ------------------------------------------------------------


@pytest.mark.parametrize(('cls', 'name', 'base', 'key_env', 'base_env', 'usage'), SERVICES, ids=SERVICE_IDS)
def test_service_defaults_and_flags(
    cls: type[OpenAICompatibleProvider],
    name: str,
    base: str,
    key_env: str,
    base_env: str,
    usage: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(key_env, SECRET)
    provider = infer_provider(name)
    assert type(provider) is cls
    assert isinstance(provider, OpenAIProvider)
    assert provider.name == name
    assert provider.base_url == base
    assert cls.openai_chat_profile.stream_include_usage is usage
    assert SECRET not in repr(provider)
    monkeypatch.setenv(base_env, 'https://gateway.example/v1')
    assert cls().base_url == 'https://gateway.example/v1'
    assert cls(base_url='https://arg.example/v1').base_url == 'https://arg.example/v1'


@pytest.mark.parametrize(('cls', 'name', 'base', 'key_env', 'base_env', 'usage'), SERVICES, ids=SERVICE_IDS)
def test_service_without_a_key_names_its_variable(
    cls: type[OpenAICompatibleProvider], name: str, base: str, key_env: str, base_env: str, usage: bool
) -> None:
    with pytest.raises(UserError, match=rf'Set the {key_env} environment variable or pass api_key=\.\.\.'):
        cls()


@pytest.mark.anyio
@pytest.mark.parametrize(('cls', 'name', 'base', 'key_env', 'base_env', 'usage'), SERVICES, ids=SERVICE_IDS)
async def test_service_sends_its_key_to_its_base_url(
    cls: type[OpenAICompatibleProvider],
    name: str,
    base: str,
    key_env: str,
    base_env: str,
    usage: bool,
    http_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(key_env, SECRET)
    sent = await post_chat(cls(http_client=http_client), 'some-model')
    assert str(sent.url) == f'{base}/chat/completions'
    assert sent.headers['authorization'] == f'Bearer {SECRET}'
    assert 'openai-organization' not in sent.headers


def test_service_pointed_at_another_host_needs_no_key() -> None:
    assert DeepSeekProvider(base_url='http://localhost:8000/v1').base_url == 'http://localhost:8000/v1'


@pytest.mark.anyio
async def test_ollama_needs_no_key(http_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = OllamaProvider(http_client=http_client)
    assert provider.base_url == 'http://localhost:11434/v1'
    assert OllamaProvider.openai_chat_profile.stream_include_usage is True
    sent = await post_chat(provider, 'llama3.2')
    assert str(sent.url) == 'http://localhost:11434/v1/chat/completions'
    assert 'authorization' not in sent.headers

    monkeypatch.setenv('OLLAMA_BASE_URL', 'http://gpu-box:11434/v1')
    monkeypatch.setenv('OLLAMA_API_KEY', SECRET)
    sent = await post_chat(infer_provider('ollama', http_client=http_client), 'llama3.2')
    assert str(sent.url) == 'http://gpu-box:11434/v1/chat/completions'
    assert sent.headers['authorization'] == f'Bearer {SECRET}'


def test_a_compatible_service_is_just_data() -> None:
    class AcmeProvider(OpenAICompatibleProvider):
        name = 'acme'
        default_base_url = 'https://api.acme.example/v1'
        api_key_env = 'ACME_API_KEY'
        base_url_env = 'ACME_BASE_URL'

    with pytest.raises(UserError, match='ACME_API_KEY'):
        AcmeProvider()
    provider = AcmeProvider(api_key=SECRET)
    assert (provider.name, provider.base_url) == ('acme', 'https://api.acme.example/v1')

    class Nameless(OpenAICompatibleProvider):
        name = 'nameless'

    with pytest.raises(UserError, match='needs a base_url'):
        Nameless()


def test_registry_knows_every_openai_family_provider() -> None:
    names = set(known_providers())
    assert {'openai', 'azure', 'ollama', *SERVICE_IDS} <= names
    with pytest.raises(UserError, match='Unknown provider'):
        infer_provider('nope')


def test_registry_rejects_arguments_a_provider_does_not_take() -> None:
    with pytest.raises(UserError, match=r"'azure' provider .*base_url"):
        infer_provider('azure', base_url='https://x.example', api_key='k')
