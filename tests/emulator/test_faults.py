"""Every fault the emulator injects, seen from a raw httpx client over loopback, on each HTTP stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import TEST_TIMEOUT_S
from tests.transport.stacks import anyio_backend, http_transport, make_client, stack

from .conftest import TOOL_GET_CAPITAL, chat_body, parse_sse, read_stream, streamed_text

# Fixtures: every test runs on each stack (httpx on asyncio and trio, aiohttp on asyncio).
__all__ = ('anyio_backend', 'http_transport', 'stack')

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(emulator: Emulator, http_transport: str) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's authenticated OpenAI client, on the stack's transport."""
    async with make_client(
        http_transport,
        base_url=emulator.base_url('openai'),
        headers={'authorization': f'Bearer {emulator.api_key}'},
        timeout=TEST_TIMEOUT_S,
    ) as http:
        yield http


async def test_429_then_success_with_fault_times(client: httpx.AsyncClient) -> None:
    body = chat_body(model='gpt-4o+fault=429+fault-times=1+retry-after-ms=20')
    first = await client.post('/chat/completions', json=body)
    assert first.status_code == 429
    assert first.headers['retry-after-ms'] == '20'
    assert first.headers['retry-after'] == '1'  # whole seconds, rounded up
    error = first.json()['error']
    assert (error['type'], error['code'], error['param']) == ('requests', 'rate_limit_exceeded', None)
    second = await client.post('/chat/completions', json=body)
    assert second.status_code == 200
    assert second.json()['choices'][0]['message']['content']


async def test_fault_times_by_header_counts_per_session(client: httpx.AsyncClient) -> None:
    headers = {'x-emulator-fault': '503', 'x-emulator-fault-times': '2', 'x-emulator-session': 'a'}
    statuses = [
        (await client.post('/chat/completions', json=chat_body(), headers=headers)).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    # Another session starts its own count.
    other = await client.post(
        '/chat/completions', json=chat_body(), headers={**headers, 'x-emulator-session': 'b'}
    )
    assert other.status_code == 503


async def test_fault_times_counts_per_fault_spec(client: httpx.AsyncClient, emulator: Emulator) -> None:
    once = chat_body(model='gpt-4o+fault=500+fault-times=1')
    twice = chat_body(model='gpt-4o+fault=500+fault-times=2')
    assert (await client.post('/chat/completions', json=once)).status_code == 500
    assert (await client.post('/chat/completions', json=twice)).status_code == 500
    assert (await client.post('/chat/completions', json=once)).status_code == 200
    assert (await client.post('/chat/completions', json=twice)).status_code == 500
    emulator.reset_faults()
    assert (await client.post('/chat/completions', json=once)).status_code == 500


async def test_fault_without_times_strikes_every_attempt(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        response = await client.post('/chat/completions', json=chat_body(model='gpt-4o+fault=500'))
        assert response.status_code == 500
        assert response.json()['error']['type'] == 'server_error'


@pytest.mark.parametrize('status', [500, 503])
async def test_server_errors_in_openai_shape(client: httpx.AsyncClient, status: int) -> None:
    response = await client.post(
        '/chat/completions', json=chat_body(), headers={'x-emulator-fault': str(status)}
    )
    assert response.status_code == status
    error = response.json()['error']
    assert set(error) == {'message', 'type', 'param', 'code'}
    assert error['type'] == 'server_error'


async def test_slow_first_byte_delays_the_headers(client: httpx.AsyncClient) -> None:
    slow = chat_body(model='gpt-4o+fault=slow-first-byte+slow-first-byte-ms=5000')
    # Behaviour, not timing: a client that will not wait that long for the headers gives up.
    with pytest.raises(httpx.ReadTimeout):
        await client.post('/chat/completions', json=slow, timeout=httpx.Timeout(5.0, read=0.2))
    quick = chat_body(model='gpt-4o+fault=slow-first-byte+slow-first-byte-ms=1')
    assert (await client.post('/chat/completions', json=quick)).status_code == 200


def _content_deltas(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events for c in e.get('choices', []) if c['delta'].get('content'))


async def test_stream_error_sends_an_error_object_after_some_tokens(client: httpx.AsyncClient) -> None:
    events, done = await read_stream(client, chat_body(model='gpt-4o+fault=stream-error+fault-after=2'))
    assert not done
    *chunks, error_event = events
    assert set(error_event) == {'error'}
    assert error_event['error']['type'] == 'server_error'
    assert error_event['error']['message']
    assert _content_deltas(chunks) == 2
    assert all(c['finish_reason'] is None for e in chunks for c in e['choices'])


async def test_truncate_ends_cleanly_without_finish_or_done(client: httpx.AsyncClient) -> None:
    events, done = await read_stream(client, chat_body(), headers={'x-emulator-fault': 'truncate'})
    assert not done
    assert _content_deltas(events) == 3  # the default fault_after_tokens
    assert all(c['finish_reason'] is None for e in events for c in e['choices'])


async def test_mid_stream_fault_strikes_before_the_finish_when_the_answer_is_short(
    client: httpx.AsyncClient,
) -> None:
    events, done = await read_stream(client, chat_body(model='gpt-4o+tokens=2+fault=truncate+fault-after=50'))
    assert not done
    assert _content_deltas(events) == 2
    assert all(c['finish_reason'] is None for e in events for c in e['choices'])


async def _stream_until_dropped(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[bytes, Exception]:
    """Stream `body`, returning the bytes that arrived and the error that ended the stream."""
    received = bytearray()
    try:
        async with client.stream('POST', '/chat/completions', json={**body, 'stream': True}) as response:
            assert response.status_code == 200
            async for part in response.aiter_bytes():
                received += part
    except httpx.RemoteProtocolError as exc:
        return bytes(received), exc
    raise AssertionError('the stream ended without the connection dropping')


async def test_drop_closes_the_connection_mid_stream(client: httpx.AsyncClient) -> None:
    received, error = await _stream_until_dropped(client, chat_body(model='gpt-4o+fault=drop+fault-after=4'))
    assert 'incomplete chunked read' in str(error)
    events, done = parse_sse(received)
    assert not done
    assert _content_deltas(events) == 4


async def test_drop_in_a_tool_call_stream(client: httpx.AsyncClient) -> None:
    body = chat_body('Use get_capital', tools=[TOOL_GET_CAPITAL], model='gpt-4o+fault=drop+fault-after=2')
    received, _ = await _stream_until_dropped(client, body)
    events, _ = parse_sse(received)
    arguments = [
        call['function']['arguments']
        for event in events
        for call in event['choices'][0]['delta'].get('tool_calls', [])
        if call['function'].get('arguments')
    ]
    assert len(arguments) == 2


async def test_fault_times_applies_to_stream_faults_too(client: httpx.AsyncClient) -> None:
    body = chat_body(model='gpt-4o+fault=truncate+fault-times=1')
    _, first_done = await read_stream(client, body)
    events, second_done = await read_stream(client, body)
    assert (first_done, second_done) == (False, True)
    assert streamed_text(events)


async def test_non_streamed_drop_cuts_the_body(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post('/chat/completions', json=chat_body(model='gpt-4o+fault=drop'))


async def test_non_streamed_truncate_sends_cut_json(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body(model='gpt-4o+fault=truncate'))
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


async def test_non_streamed_stream_error_is_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body(model='gpt-4o+fault=stream-error'))
    assert response.status_code == 500
    assert response.json()['error']['type'] == 'server_error'


async def test_connection_survives_a_drop_for_the_next_request(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post('/chat/completions', json=chat_body(model='gpt-4o+fault=drop', stream=True))
    assert (await client.post('/chat/completions', json=chat_body())).status_code == 200
