"""Every OpenAI-family provider takes `max_retries`, so callers (the bench) can turn retries off."""

from __future__ import annotations

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError
from modelkit.providers.azure import AzureProvider
from modelkit.providers.openai import OpenAIProvider
from modelkit.providers.together import TogetherProvider


@pytest.mark.anyio
@pytest.mark.parametrize('retries', [0, 1])
async def test_max_retries_bounds_the_attempts(retries: int) -> None:
    provider = OpenAIProvider(base_url='https://api.example.test/v1', api_key='k', max_retries=retries)
    with respx.mock(assert_all_called=False) as router:
        route = router.post('https://api.example.test/v1/chat/completions').mock(
            return_value=httpx.Response(503, headers={'retry-after-ms': '1'})
        )
        request = provider.build_request('POST', '/chat/completions', b'{}')
        with pytest.raises(ModelHTTPError):
            await provider.send(request, model_name='m')
    assert route.call_count == retries + 1


def test_compatible_and_azure_providers_accept_max_retries() -> None:
    assert TogetherProvider(api_key='k', max_retries=0).name == 'together'
    azure = AzureProvider(
        azure_endpoint='https://r.openai.azure.com', api_version='2024-10-21', api_key='k', max_retries=0
    )
    assert azure.name == 'azure'
