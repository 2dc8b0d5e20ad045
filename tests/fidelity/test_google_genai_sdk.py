"""Fidelity: the official `google-genai` SDK, pointed at the emulator, must see a real Gemini API.

If the SDK parses our answers and streams (text, thoughts with signatures, whole function calls,
usage), raises its own error classes for our errors with Google's statuses, and goes round a
function call with our emulator, the emulator's Gemini wire is close enough for every test built
on it. Test-only dependency (`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import SDK_TIMEOUT_S, emulator_thread

genai = pytest.importorskip(
    'google.genai',
    reason='the official google-genai SDK is not installed: pip install -r tests/requirements-fidelity.txt',
)
from google.genai import errors, types  # noqa: E402  (after the importorskip above)

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below

MODEL = 'gemini-2.0-flash'
CAPITAL = types.FunctionDeclaration(
    name='get_capital',
    description='The capital of a country',
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={'country': types.Schema(type=types.Type.STRING)},
        required=['country'],
    ),
)


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    """A google-genai client for the emulator's Generative Language API, without retries."""
    options = types.HttpOptions(
        base_url=emulator_thread.base_url('google-gla'),
        timeout=int(SDK_TIMEOUT_S * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    with genai.Client(api_key=emulator_thread.api_key, http_options=options) as sdk:
        yield sdk


def test_plain_answer(client: Any) -> None:
    response = client.models.generate_content(model=MODEL, contents='Hello there')
    assert len(response.text.split()) == 6
    (candidate,) = response.candidates
    assert candidate.finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.candidates_token_count == 6
    assert usage.total_token_count == usage.prompt_token_count + 6
    assert response.model_version == MODEL
    assert response.response_id


def test_streamed_text_matches_the_plain_answer(client: Any) -> None:
    plain = client.models.generate_content(model=MODEL, contents='Tell me a story')
    chunks = list(client.models.generate_content_stream(model=MODEL, contents='Tell me a story'))
    assert ''.join(chunk.text or '' for chunk in chunks) == plain.text
    assert [c.usage_metadata.candidates_token_count for c in chunks] == [1, 2, 3, 4, 5, 6, 6]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_thoughts_and_their_signature(client: Any) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=4)
    )
    parts = [
        part
        for chunk in client.models.generate_content_stream(model=MODEL, contents='Think first', config=config)
        for part in (chunk.candidates[0].content.parts or [])
    ]
    thoughts = [part for part in parts if part.thought]
    answers = [part for part in parts if not part.thought and part.text]
    assert len(thoughts) == 4
    assert answers[0].thought_signature  # bytes, decoded by the SDK from our base64
    assert isinstance(answers[0].thought_signature, bytes)


@pytest.mark.parametrize('streamed', [False, True])
def test_a_function_call_round_trip(client: Any, streamed: bool) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[CAPITAL])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    prompt = types.Content(role='user', parts=[types.Part(text='Use get_capital for France')])
    if streamed:
        chunks = list(client.models.generate_content_stream(model=MODEL, contents=[prompt], config=config))
        calls = [call for chunk in chunks for call in (chunk.function_calls or [])]
        model_turn = types.Content(
            role='model',
            parts=[p for c in chunks for p in (c.candidates[0].content.parts or []) if p.function_call],
        )
    else:
        response = client.models.generate_content(model=MODEL, contents=[prompt], config=config)
        calls = response.function_calls
        model_turn = response.candidates[0].content
    (call,) = calls
    assert call.name == 'get_capital'
    assert isinstance(call.args['country'], str)

    result = types.Part.from_function_response(name='get_capital', response={'capital': 'Paris'})
    follow_up = client.models.generate_content(
        model=MODEL, contents=[prompt, model_turn, types.Content(role='user', parts=[result])], config=config
    )
    assert 'get_capital' in follow_up.text
    assert 'Paris' in follow_up.text


def test_errors_are_the_sdks_with_googles_status(client: Any, emulator_thread: Emulator) -> None:
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=f'{MODEL}+fault=429', contents='Hi')
    assert info.value.code == 429
    assert info.value.status == 'RESOURCE_EXHAUSTED'

    with pytest.raises(errors.ServerError) as server:
        client.models.generate_content(model=f'{MODEL}+fault=503', contents='Hi')
    assert server.value.status == 'UNAVAILABLE'

    bad = genai.Client(
        api_key='wrong', http_options=types.HttpOptions(base_url=emulator_thread.base_url('google-gla'))
    )
    with pytest.raises(errors.ClientError) as refused:
        bad.models.generate_content(model=MODEL, contents='Hi')
    assert (refused.value.code, refused.value.status) == (400, 'INVALID_ARGUMENT')
    assert 'API key not valid' in str(refused.value)
