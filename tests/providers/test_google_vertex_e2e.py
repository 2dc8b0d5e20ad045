"""Gemini on Vertex AI end to end over loopback: GeminiModel, GoogleVertexProvider, google-auth, emulator.

Nothing is mocked: google-auth signs a real RS256 assertion with a key the test generated, the
emulator's OAuth endpoint verifies it and issues a token, and the emulator's Vertex AI paths
accept only that token (or the emulator's key) on generateContent and streamGenerateContent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from modelkit import Agent
from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.emulator.google_oauth import bearer_is_valid, revoke_tokens, token_requests
from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.models.gemini import GeminiModel
from modelkit.providers.google_vertex import GoogleVertexProvider
from tests.helpers.google_service_account import TEST_PROJECT, service_account_info

pytestmark = pytest.mark.anyio

VERTEX_PATH = f'/v1/projects/{TEST_PROJECT}/locations/us-central1/publishers/google/models/gemini-2.0-flash'


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(tokens=6)) as emu:
        yield emu


def vertex_model(emulator: Emulator, **info: object) -> GeminiModel:
    provider = GoogleVertexProvider(
        service_account_info=service_account_info(emulator, **info),  # type: ignore[arg-type]
        base_url=emulator.base_url('google-vertex'),
    )
    return GeminiModel('gemini-2.0-flash', provider=provider)


def model_requests(emulator: Emulator) -> list[str]:
    return [r.path for r in emulator.requests if r.path != '/token']


async def test_generate_content_with_a_service_account_token(emulator: Emulator) -> None:
    result = await Agent(vertex_model(emulator)).run('Tell me about rivers')
    assert isinstance(result.data, str)
    assert result.data
    assert token_requests(emulator) == 1
    (sent,) = [r for r in emulator.requests if r.path.startswith('/v1/')]
    assert sent.path == f'{VERTEX_PATH}:generateContent'
    token = sent.headers['authorization'].removeprefix('Bearer ')
    assert token != emulator.api_key
    assert bearer_is_valid(emulator.state, token)
    assert orjson.loads(sent.body)['contents'][0]['parts'][0]['text'] == 'Tell me about rivers'
    # The token came over modelkit's own pooled client.
    (token_request,) = [r for r in emulator.requests if r.path == '/token']
    assert token_request.headers['user-agent'].startswith('modelkit/')


async def test_stream_generate_content_reuses_the_token(emulator: Emulator) -> None:
    agent = Agent(vertex_model(emulator))
    await agent.run('first')
    async with agent.run_stream('Tell me about rivers') as result:
        text = ''.join([piece async for piece in result.stream_text(delta=True)])
    assert text
    assert token_requests(emulator) == 1
    streamed = [p for p in model_requests(emulator) if ':streamGenerateContent' in p]
    assert streamed == [f'{VERTEX_PATH}:streamGenerateContent']


async def test_a_revoked_token_is_replaced_once(emulator: Emulator) -> None:
    agent = Agent(vertex_model(emulator))
    await agent.run('first')
    revoke_tokens(emulator)
    result = await agent.run('second')
    assert result.data
    assert token_requests(emulator) == 2
    # The refused attempt and its retry: the same path twice, with different tokens.
    vertex = [r for r in emulator.requests if r.path.startswith('/v1/')]
    assert len(vertex) == 3
    assert vertex[1].headers['authorization'] != vertex[2].headers['authorization']


async def test_a_refused_token_that_cannot_be_refreshed_says_so(emulator: Emulator) -> None:
    from google.oauth2.credentials import Credentials

    held = 'ya29.never-issued-by-the-emulator'
    provider = GoogleVertexProvider(
        credentials=Credentials(token=held),
        project_id=TEST_PROJECT,
        base_url=emulator.base_url('google-vertex'),
    )
    # The 401 makes the signer refresh; a bare token has nothing to refresh with.
    with pytest.raises(UserError, match='Google refused the credentials') as caught:
        await Agent(GeminiModel('gemini-2.0-flash', provider=provider)).run('hello')
    assert held not in str(caught.value)
    (refused,) = [r for r in emulator.requests if r.path.startswith('/v1/')]
    assert refused.headers['authorization'] == f'Bearer {held}'


async def test_the_emulators_401_is_googles(emulator: Emulator) -> None:
    provider = GoogleVertexProvider(
        service_account_info=service_account_info(emulator), base_url=emulator.url
    )
    await provider.ensure_ready()
    provider.set_signer(None)  # no token at all
    with pytest.raises(ModelHTTPError) as caught:
        await Agent(GeminiModel('gemini-2.0-flash', provider=provider)).run('hello')
    assert caught.value.status_code == 401
    assert 'authentication credential' in str(caught.value)
