"""The emulator as an HTTP/1.1 server: keep-alive, concurrency, shutdown, protocol errors, entry points."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from typing import Any

import anyio
import h11
import httpx
import orjson
import pytest

from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.emulator._server import EmulatorState, Request, Response

from .conftest import TEST_TIMEOUT_S, chat_body, parse_sse, read_stream, streamed_text

pytestmark = pytest.mark.anyio


async def _raw_exchange(emulator: Emulator, requests: list[h11.Event]) -> tuple[list[Any], bool]:
    """Send events over ONE raw connection: the responses' (status, body), and whether it stayed open."""
    conn = h11.Connection(h11.CLIENT)
    results: list[Any] = []
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with await anyio.connect_tcp('127.0.0.1', emulator.port) as sock:
            pending = list(requests)
            while pending:
                while pending:
                    event = pending.pop(0)
                    await sock.send(conn.send(event) or b'')
                    if isinstance(event, h11.EndOfMessage):
                        break
                status, body = None, bytearray()
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        try:
                            conn.receive_data(await sock.receive())
                        except anyio.EndOfStream:
                            conn.receive_data(b'')
                        continue
                    if isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                        break
                results.append((status, bytes(body)))
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
            return results, conn.our_state is h11.IDLE


def _post(
    emulator: Emulator, body: dict[str, Any], extra: list[tuple[str, str]] | None = None
) -> list[h11.Event]:
    payload = orjson.dumps(body)
    headers = [
        ('host', f'127.0.0.1:{emulator.port}'),
        ('authorization', f'Bearer {emulator.api_key}'),
        ('content-type', 'application/json'),
        ('content-length', str(len(payload))),
        *(extra or []),
    ]
    return [
        h11.Request(method='POST', target='/v1/chat/completions', headers=headers),
        h11.Data(data=payload),
        h11.EndOfMessage(),
    ]


async def test_two_requests_on_one_connection(emulator: Emulator) -> None:
    plain = _post(emulator, chat_body('first'))
    streamed = _post(emulator, chat_body('second', stream=True))
    results, still_open = await _raw_exchange(emulator, plain + streamed)
    assert [status for status, _ in results] == [200, 200]
    assert orjson.loads(results[0][1])['object'] == 'chat.completion'
    events, done = parse_sse(results[1][1])
    assert done
    assert streamed_text(events)
    assert still_open


async def test_connection_close_is_honoured(emulator: Emulator) -> None:
    results, still_open = await _raw_exchange(
        emulator, _post(emulator, chat_body(), [('connection', 'close')])
    )
    assert results[0][0] == 200
    assert not still_open


async def test_malformed_http_gets_400(emulator: Emulator) -> None:
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with await anyio.connect_tcp('127.0.0.1', emulator.port) as sock:
            await sock.send(b'THIS IS NOT HTTP\r\n\r\n')
            received = bytearray()
            try:
                while True:
                    received += await sock.receive()
            except anyio.EndOfStream:
                pass
    assert received.startswith(b'HTTP/1.1 400 ')


async def test_expect_100_continue(emulator: Emulator) -> None:
    payload = orjson.dumps(chat_body())
    headers = [
        ('host', 'localhost'),
        ('authorization', f'Bearer {emulator.api_key}'),
        ('content-length', str(len(payload))),
        ('expect', '100-continue'),
    ]
    conn = h11.Connection(h11.CLIENT)
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with await anyio.connect_tcp('127.0.0.1', emulator.port) as sock:
            await sock.send(
                conn.send(h11.Request(method='POST', target='/v1/chat/completions', headers=headers))
            )
            conn.receive_data(await sock.receive())
            interim = conn.next_event()
            assert isinstance(interim, h11.InformationalResponse)
            assert interim.status_code == 100
            await sock.send(conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
            while (event := conn.next_event()) is h11.NEED_DATA:
                conn.receive_data(await sock.receive())
            assert isinstance(event, h11.Response)
            assert event.status_code == 200


async def test_concurrent_streams_are_interleaved_and_complete(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    results: dict[int, str] = {}

    async def one(i: int) -> None:
        events, done = await read_stream(client, chat_body(f'prompt {i}', model='gpt-4o+tps=400+tokens=12'))
        assert done
        results[i] = streamed_text(events)

    with anyio.fail_after(TEST_TIMEOUT_S):
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(one, i)
    assert len(results) == 8
    assert all(len(text.split()) == 12 for text in results.values())
    assert len(set(results.values())) == 8  # each prompt got its own words


async def test_shutdown_closes_an_open_stream() -> None:
    config = EmulatorConfig(tokens=100_000, tokens_per_second=50)
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        with anyio.fail_after(TEST_TIMEOUT_S):
            async with Emulator(config) as emulator:
                request = http.build_request(
                    'POST',
                    f'{emulator.base_url("openai")}/chat/completions',
                    json=chat_body(stream=True),
                    headers={'authorization': f'Bearer {emulator.api_key}'},
                )
                response = await http.send(request, stream=True)
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith('data: ')
                url = emulator.url
            # The emulator has stopped with the stream still open: the client sees it cut, not a hang.
            with pytest.raises(httpx.RemoteProtocolError):
                async for _ in lines:
                    pass
            await response.aclose()
        with pytest.raises(httpx.ConnectError):
            await http.get(f'{url}/v1/models')


async def test_emulator_reports_where_it_listens() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError, match='not running'):
        _ = emulator.url
    async with emulator:
        assert emulator.url == f'http://127.0.0.1:{emulator.port}'
        assert emulator.base_url('openai') == emulator.url + '/v1'
        assert emulator.api_key == 'emulator-key'
        assert repr(emulator) == f'Emulator({emulator.url})'
        with pytest.raises(RuntimeError, match='already running'):
            await emulator.__aenter__()
    assert repr(emulator) == 'Emulator(not running)'


async def test_base_url_per_vendor_and_only_for_vendors_present() -> None:
    async with Emulator() as emulator:
        # Vendors land one by one: the first three are always there, in PREFIX_ORDER with the rest.
        assert emulator.prefixes[:3] == ['openai', 'azure', 'anthropic']
        assert emulator.base_url('anthropic') == emulator.url  # the SDK appends /v1/messages
        assert emulator.base_url('azure') == emulator.url
        with pytest.raises(ValueError, match=r"does not speak 'acme'.*openai, azure, anthropic"):
            emulator.base_url('acme')


async def test_startup_lines_name_each_vendor_and_its_environment() -> None:
    async with Emulator() as emulator:
        lines = emulator.startup_lines()
        assert lines[0] == (
            f'modelkit emulator listening on {emulator.url} (OpenAI base URL {emulator.url}/v1, '
            'API key emulator-key); Ctrl-C stops it'
        )
        served = len(emulator.prefixes)
        listed = [line.split() for line in lines[1 : 1 + served]]
        assert listed == [[prefix, emulator.base_url(prefix)] for prefix in emulator.prefixes]
        assert lines[1 + served].startswith('#')
        exports = lines[2 + served :]
        assert exports[0] == f'export OPENAI_BASE_URL={emulator.url}/v1 OPENAI_API_KEY=emulator-key'
        assert exports[2] == f'export ANTHROPIC_BASE_URL={emulator.url} ANTHROPIC_API_KEY=emulator-key'
    async with Emulator(EmulatorConfig(api_key=None)) as any_key:
        assert 'any API key' in any_key.startup_lines()[0]


def test_environment_names_match_what_the_providers_read() -> None:
    # Where the provider module exists, the emulator's lines must set the variables it reads.
    import importlib

    from modelkit.emulator.anthropic import ANTHROPIC
    from modelkit.emulator.bedrock import BEDROCK
    from modelkit.emulator.gemini import GLA
    from modelkit.emulator.openai import OPENAI

    for vendor, module, cls in [
        (OPENAI, 'openai', 'OpenAIProvider'),
        (ANTHROPIC, 'anthropic', 'AnthropicProvider'),
        (BEDROCK, 'bedrock', 'BedrockProvider'),
        (GLA, 'google_gla', 'GoogleGLAProvider'),
    ]:
        try:
            provider = getattr(importlib.import_module(f'modelkit.providers.{module}'), cls)
        except ModuleNotFoundError:
            continue
        declared = {getattr(provider, 'api_key_env', None), getattr(provider, 'base_url_env', None)} - {None}
        assert declared <= set(vendor.env), (vendor.prefix, declared)


async def test_caller_exceptions_propagate_unwrapped() -> None:
    # On trio a task group would wrap the body's exception in an ExceptionGroup; the emulator must not.
    with pytest.raises(KeyError):
        async with Emulator():
            raise KeyError('mine')


async def test_recent_requests_are_kept_without_leaking_keys(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    await client.post('/chat/completions', json=chat_body('remember me'))
    [request] = list(emulator.requests)
    assert request.path == '/v1/chat/completions'
    assert orjson.loads(request.body)['messages'][0]['content'] == 'remember me'
    assert emulator.api_key not in repr(request)


async def test_custom_routes_and_handler_errors(emulator: Emulator, client: httpx.AsyncClient) -> None:
    async def hello(request: Request, state: EmulatorState) -> Response:
        return Response.json(200, {'hello': request.path_params['name']})

    async def broken(request: Request, state: EmulatorState) -> Response:
        raise ValueError('handler bug')

    emulator.router.add('GET', r'/hello/(?P<name>\w+)', hello)
    emulator.router.add('GET', r'/broken', broken)
    assert (await client.get(f'{emulator.url}/hello/world')).json() == {'hello': 'world'}
    response = await client.get(f'{emulator.url}/broken')
    assert response.status_code == 500
    assert 'ValueError: handler bug' in response.json()['error']['message']
    assert (await client.post('/chat/completions', json=chat_body())).status_code == 200


def test_sync_context_manager_runs_in_a_thread() -> None:
    with Emulator(EmulatorConfig(tokens=4)) as emulator, httpx.Client(timeout=TEST_TIMEOUT_S) as http:
        response = http.post(
            f'{emulator.base_url("openai")}/chat/completions',
            json=chat_body(),
            headers={'authorization': f'Bearer {emulator.api_key}'},
        )
        assert response.json()['usage']['completion_tokens'] == 4
        url = emulator.url
    with httpx.Client(timeout=TEST_TIMEOUT_S) as http, pytest.raises(httpx.ConnectError):
        http.get(url)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match='tokens'):
        EmulatorConfig(tokens=-1)
    with pytest.raises(ValueError, match='api_key'):
        EmulatorConfig(api_key='')


def test_any_key_mode_still_needs_a_key() -> None:
    with Emulator(EmulatorConfig(api_key=None)) as emulator, httpx.Client(timeout=TEST_TIMEOUT_S) as http:
        url = f'{emulator.base_url("openai")}/chat/completions'
        assert (
            http.post(url, json=chat_body(), headers={'authorization': 'Bearer whatever'}).status_code == 200
        )
        assert http.post(url, json=chat_body()).status_code == 401


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, 'the emulator printed nothing in time'
    return proc.stdout.readline()


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX signals')
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_python_m_emulator_serves_until_signalled(signum: int) -> None:
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    proc = subprocess.Popen(
        [sys.executable, '-m', 'modelkit.emulator', '--port', '0', '--tokens', '3'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = _read_line(proc, 20)
        assert 'listening on http://127.0.0.1:' in line
        url = line.split('listening on ', 1)[1].split()[0]
        with httpx.Client(timeout=TEST_TIMEOUT_S) as http:
            response = http.post(
                f'{url}/v1/chat/completions',
                json=chat_body(),
                headers={'authorization': 'Bearer emulator-key'},
            )
        assert response.json()['usage']['completion_tokens'] == 3
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 0, stderr
        assert 'Traceback' not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_importing_the_package_loads_no_server_code() -> None:
    code = (
        'import sys, modelkit.emulator as e; '
        'loaded = [m for m in ("h11", "anyio", "modelkit.emulator._server") if m in sys.modules]; '
        'assert not loaded, loaded; '
        'assert e.EmulatorConfig().tokens == 20; '
        'assert "h11" not in sys.modules'
    )
    result = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


async def _first_read_with_whole_head(
    emulator: Emulator, extra: list[tuple[str, str]]
) -> tuple[bytes, bytes]:
    """The bytes read up to and including the one read that completes the response head, and the rest."""
    conn = h11.Connection(h11.CLIENT)
    received = bytearray()
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with await anyio.connect_tcp('127.0.0.1', emulator.port) as sock:
            for event in _post(emulator, chat_body(stream=True), extra):
                await sock.send(conn.send(event) or b'')
            while b'\r\n\r\n' not in received:
                received += await sock.receive()
            first = bytes(received)
            rest = bytearray()
            while True:
                try:
                    rest += await sock.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return first, bytes(rest)
                if rest.endswith(b'0\r\n\r\n'):
                    return first, bytes(rest)


async def test_no_time_to_first_token_sends_the_head_with_the_first_chunk(emulator: Emulator) -> None:
    # One write, so a client is woken once for both (a saturating bench's TTFT spread).
    first, _ = await _first_read_with_whole_head(emulator, [('x-emulator-ttft-ms', '0')])
    head, _, body = first.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200')
    assert b'data: ' in body
    # With a time to first token, the head leaves at once, before the first chunk is due.
    first, rest = await _first_read_with_whole_head(emulator, [('x-emulator-ttft-ms', '200')])
    assert first.endswith(b'\r\n\r\n')
    assert b'data: ' in rest


async def test_a_drop_before_the_first_chunk_still_sends_the_head(emulator: Emulator) -> None:
    extra = [('x-emulator-ttft-ms', '0'), ('x-emulator-fault', 'drop'), ('x-emulator-fault-after', '0')]
    first, rest = await _first_read_with_whole_head(emulator, extra)
    assert first.startswith(b'HTTP/1.1 200')
    assert b'data: ' not in first + rest
