"""Anthropic, Gemini (GLA) and Cohere: one API key in one header, read from the environment.

Each test runs a request through the provider into respx and asserts what went on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.providers import Provider, infer_provider
from modelkit.providers._api_key import APIKeyProvider
from modelkit.providers.anthropic import AnthropicProvider
from modelkit.providers.cohere import CohereProvider
from modelkit.providers.google_gla import GoogleGLAProvider

SECRET = 'secret-key-value-0123456789'


@dataclass(frozen=True)
class Vendor:
    cls: type[APIKeyProvider]
    name: str
    base_url: str
    key_env: str
    base_env: str
    path: str
    """A request path of the vendor's API, as its interface will send it."""
    auth_header: str
    auth_value: str
    """What `auth_header` carries for SECRET."""
    fixed: dict[str, str]
    """Headers every request carries besides the key."""


VENDORS = [
    Vendor(
        AnthropicProvider,
        'anthropic',
        'https://api.anthropic.com',
        'ANTHROPIC_API_KEY',
        'ANTHROPIC_BASE_URL',
        '/v1/messages',
        'x-api-key',
        SECRET,
        {'anthropic-version': '2023-06-01'},
    ),
    Vendor(
        GoogleGLAProvider,
        'google-gla',
        'https://generativelanguage.googleapis.com',
        'GEMINI_API_KEY',
        'GEMINI_BASE_URL',
        '/v1beta/models/gemini-2.0-flash:generateContent',
        'x-goog-api-key',
        SECRET,
        {},
    ),
    Vendor(
        CohereProvider,
        'cohere',
        'https://api.cohere.com',
        'CO_API_KEY',
        'CO_API_URL',
        '/v2/chat',
        'authorization',
        f'Bearer {SECRET}',
        {},
    ),
]
IDS = [v.name for v in VENDORS]
KEY_HEADERS = {'x-api-key', 'x-goog-api-key', 'authorization'}


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def post(provider: Provider, path: str) -> httpx.Request:
    """Send one request through the provider into respx and return what went on the wire."""
    with respx.mock(assert_all_called=False) as router:
        route = router.route().mock(return_value=httpx.Response(200, json={}))
        request = provider.build_request('POST', path, b'{}', {'content-type': 'application/json'})
        await provider.send(request, model_name='some-model')
        return route.calls.last.request


@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
def test_defaults_and_the_names_the_cli_reads(vendor: Vendor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vendor.key_env, SECRET)
    provider = vendor.cls()  # outside any event loop: nothing is created yet
    assert provider.name == vendor.name
    assert provider.base_url == vendor.base_url
    assert provider.url(vendor.path) == vendor.base_url + vendor.path
    assert (vendor.cls.api_key_env, vendor.cls.base_url_env) == (vendor.key_env, vendor.base_env)


@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
def test_without_a_key_the_error_names_the_variable(vendor: Vendor) -> None:
    with pytest.raises(
        UserError, match=rf'Set the {vendor.key_env} environment variable or pass api_key=\.\.\.'
    ):
        vendor.cls()


@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
def test_base_url_from_the_environment_and_the_argument(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vendor.key_env, SECRET)
    monkeypatch.setenv(vendor.base_env, 'https://gateway.example/prefix/')
    assert vendor.cls().base_url == 'https://gateway.example/prefix'
    assert vendor.cls(base_url='http://127.0.0.1:9/x').base_url == 'http://127.0.0.1:9/x'


@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
def test_the_vendors_own_host_from_the_environment_still_needs_a_key(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vendor.base_env, f'{vendor.base_url}/other')
    with pytest.raises(UserError, match=vendor.key_env):
        vendor.cls()


@pytest.mark.anyio
@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
async def test_the_exact_headers_sent(
    vendor: Vendor, http_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vendor.key_env, 'key-from-env')
    sent = await post(vendor.cls(SECRET, http_client), vendor.path)
    assert str(sent.url) == vendor.base_url + vendor.path
    assert SECRET not in str(sent.url)  # Gemini's key in a header, never in ?key=
    assert sent.headers[vendor.auth_header] == vendor.auth_value  # the argument wins over the environment
    for name, value in vendor.fixed.items():
        assert sent.headers[name] == value
    assert not (KEY_HEADERS - {vendor.auth_header}) & set(sent.headers), 'a second credential header'


@pytest.mark.anyio
@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
async def test_the_key_from_the_environment_is_sent(
    vendor: Vendor, http_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vendor.key_env, SECRET)
    sent = await post(vendor.cls(http_client=http_client), vendor.path)
    assert sent.headers[vendor.auth_header] == vendor.auth_value


@pytest.mark.anyio
@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
async def test_elsewhere_no_key_is_needed_and_none_is_sent(
    vendor: Vendor, http_client: httpx.AsyncClient
) -> None:
    provider = vendor.cls(http_client=http_client, base_url='http://127.0.0.1:8080')
    sent = await post(provider, vendor.path)
    assert str(sent.url) == 'http://127.0.0.1:8080' + vendor.path
    assert not KEY_HEADERS & set(sent.headers)
    for name, value in vendor.fixed.items():
        assert sent.headers[name] == value


@pytest.mark.anyio
@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
async def test_the_key_never_shows_in_repr_or_errors(vendor: Vendor, http_client: httpx.AsyncClient) -> None:
    provider = vendor.cls(api_key=SECRET, http_client=http_client)
    assert SECRET not in repr(provider)
    assert all(SECRET not in repr(value) for value in vars(provider).values())
    with respx.mock() as router:
        router.post(url__regex='.*').mock(
            return_value=httpx.Response(401, json={'error': {'message': f'invalid key {SECRET[:4]}...'}})
        )
        with pytest.raises(ModelHTTPError) as info:
            await provider.send(provider.build_request('POST', vendor.path, b'{}'), model_name='some-model')
    error = info.value
    assert error.status_code == 401
    assert error.vendor == vendor.name
    for text in (str(error), repr(error), repr(error.headers), repr(error.body), repr(error.__cause__)):
        assert SECRET not in text


@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
def test_the_registry_builds_each_from_its_environment(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vendor.key_env, SECRET)
    assert type(infer_provider(vendor.name)) is vendor.cls
    assert type(infer_provider(vendor.name, api_key='other')) is vendor.cls
    with pytest.raises(UserError, match=rf"'{vendor.name}' provider .*openai_client"):
        infer_provider(vendor.name, openai_client=object())


@pytest.mark.parametrize('vendor', VENDORS, ids=IDS)
def test_max_retries_and_the_shared_client(vendor: Vendor) -> None:
    from modelkit._transport import DEFAULT_MAX_RETRIES

    assert vendor.cls(api_key=SECRET, max_retries=0)._transport.max_retries == 0
    assert vendor.cls(api_key=SECRET)._transport.max_retries == DEFAULT_MAX_RETRIES


@pytest.mark.anyio
async def test_the_models_page_constructors() -> None:
    # As the page writes them: AnthropicProvider(api_key=...), with http_client=AsyncClient(timeout=30).
    custom_http_client = httpx.AsyncClient(timeout=30)
    try:
        for cls in (AnthropicProvider, GoogleGLAProvider):
            assert cls(api_key='your-api-key').base_url.startswith('https://')
            provider = cls(api_key='your-api-key', http_client=custom_http_client)
            assert provider.client is custom_http_client
    finally:
        await custom_http_client.aclose()
