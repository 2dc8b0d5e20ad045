"""AzureProvider: Azure's environment variables, the `api-key` header, `api-version`, deployment routing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.providers import infer_provider
from modelkit.providers.azure import AzureProvider, deployment_route

SECRET = 'azure-secret-key-0123456789'
ENDPOINT = 'https://my-resource.openai.azure.com'


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('AZURE_OPENAI_ENDPOINT', f'{ENDPOINT}/')
    monkeypatch.setenv('OPENAI_API_VERSION', '2024-10-21')
    monkeypatch.setenv('AZURE_OPENAI_API_KEY', SECRET)


async def post(provider: AzureProvider, path: str, model_name: str | None = 'gpt-4o') -> httpx.Request:
    with respx.mock() as router:
        route = router.route().mock(return_value=httpx.Response(200, json={}))
        await provider.send(
            provider.build_request('POST', path, b'{}', model_name=model_name), model_name='m'
        )
        return route.calls.last.request


@pytest.mark.anyio
async def test_chat_request_goes_to_the_deployment_with_key_header_and_version_query(
    azure_env: None, http_client: httpx.AsyncClient
) -> None:
    provider = AzureProvider(http_client=http_client)
    assert provider.name == 'azure'
    assert provider.base_url == f'{ENDPOINT}/openai'
    sent = await post(provider, '/chat/completions', 'gpt-4o')
    assert str(sent.url) == f'{ENDPOINT}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'
    assert sent.headers['api-key'] == SECRET
    assert 'authorization' not in sent.headers


@pytest.mark.anyio
async def test_resource_level_paths_are_not_routed(azure_env: None, http_client: httpx.AsyncClient) -> None:
    sent = await post(AzureProvider(http_client=http_client), '/models')
    assert str(sent.url) == f'{ENDPOINT}/openai/models?api-version=2024-10-21'


@pytest.mark.anyio
async def test_arguments_win_over_the_environment(azure_env: None, http_client: httpx.AsyncClient) -> None:
    provider = AzureProvider(
        azure_endpoint='https://other.openai.azure.com/',
        api_version='2025-01-01-preview',
        api_key='arg-key',
        http_client=http_client,
    )
    sent = await post(provider, '/chat/completions', 'o3-mini')
    assert str(sent.url) == (
        'https://other.openai.azure.com/openai/deployments/o3-mini/chat/completions?api-version=2025-01-01-preview'
    )
    assert sent.headers['api-key'] == 'arg-key'


@pytest.mark.anyio
async def test_an_endpoint_naming_a_deployment_is_used_as_given(http_client: httpx.AsyncClient) -> None:
    provider = AzureProvider(
        azure_endpoint=f'{ENDPOINT}/openai/deployments/mine',
        api_version='2024-10-21',
        api_key=SECRET,
        http_client=http_client,
    )
    sent = await post(provider, '/chat/completions', 'gpt-4o')
    assert str(sent.url) == f'{ENDPOINT}/openai/deployments/mine/chat/completions?api-version=2024-10-21'


@pytest.mark.parametrize(
    ('missing', 'variable'),
    [
        ('AZURE_OPENAI_ENDPOINT', 'AZURE_OPENAI_ENDPOINT'),
        ('OPENAI_API_VERSION', 'OPENAI_API_VERSION'),
        ('AZURE_OPENAI_API_KEY', 'AZURE_OPENAI_API_KEY'),
    ],
)
def test_missing_settings_name_the_variable(
    azure_env: None, monkeypatch: pytest.MonkeyPatch, missing: str, variable: str
) -> None:
    monkeypatch.delenv(missing)
    with pytest.raises(UserError, match=rf'Set the {variable} environment variable'):
        AzureProvider()


def test_registry_builds_azure_and_the_page_example_constructs(azure_env: None) -> None:
    assert isinstance(infer_provider('azure'), AzureProvider)
    # The models page constructs this verbatim; the endpoint is only checked when a request is sent.
    provider = AzureProvider(azure_endpoint='your-azure-endpoint', api_version='v', api_key='your-api-key')
    assert 'your-api-key' not in repr(provider)
    assert AzureProvider.openai_chat_profile.stream_include_usage is True


@pytest.mark.anyio
async def test_the_key_never_shows_in_errors(azure_env: None, http_client: httpx.AsyncClient) -> None:
    provider = AzureProvider(http_client=http_client)
    assert SECRET not in repr(provider)
    with respx.mock() as router:
        router.route().mock(
            return_value=httpx.Response(401, json={'error': {'code': '401', 'message': 'denied'}})
        )
        with pytest.raises(ModelHTTPError) as info:
            await provider.send(
                provider.build_request('POST', '/chat/completions', b'{}', model_name='x'), model_name='x'
            )
    assert info.value.vendor == 'azure'
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.headers)


def test_deployment_route() -> None:
    assert deployment_route('/chat/completions', 'gpt-4o') == '/deployments/gpt-4o/chat/completions'
    assert deployment_route('chat/completions', 'a b') == '/deployments/a%20b/chat/completions'
    assert deployment_route('/embeddings', 'text-embedding-3-small') == (
        '/deployments/text-embedding-3-small/embeddings'
    )
    assert deployment_route('/chat/completions', None) == '/chat/completions'
    assert deployment_route('/files', 'gpt-4o') == '/files'
