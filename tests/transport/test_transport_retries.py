"""Retries, backoff, Retry-After and error mapping, driven through respx at the httpx layer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from modelkit._transport import (
    DEFAULT_MAX_RETRIES,
    MAX_RETRY_AFTER_SECONDS,
    HTTPRequest,
    Transport,
    _retry_after_seconds,
    aclose_shared_http_client,
    shared_http_client,
)
from modelkit.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    StreamInterrupted,
    UserError,
)
from tests.transport.loopback import LineParser
from tests.transport.stacks import HTTP_TRANSPORT_ENV, STACKS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[s for s in STACKS if s.values[0][1] == 'httpx'], ids=lambda s: '-'.join(s))
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """httpx's transport only: respx mocks it. test_retries_on_the_wire.py runs these rules over
    real sockets on every stack, aiohttp's included; test_errors_alike.py every aiohttp error."""
    monkeypatch.setenv(HTTP_TRANSPORT_ENV, 'httpx')
    return tuple(request.param)  # type: ignore[return-value]


URL = 'https://api.example.test/v1/chat/completions'
SECRET = 'sk-very-secret-key-123'


def fast_transport(max_retries: int = DEFAULT_MAX_RETRIES) -> Transport:
    """A transport whose computed backoff is a millisecond at most, so retry tests stay fast."""
    transport = Transport(httpx.AsyncClient(), max_retries=max_retries)
    transport.initial_backoff = 0.001
    transport.max_backoff = 0.001
    return transport


def request() -> HTTPRequest:
    return HTTPRequest('POST', URL, {'content-type': 'application/json'}, b'{"model":"m"}')


async def sign(req: HTTPRequest) -> None:
    req.headers['Authorization'] = f'Bearer {SECRET}'


@pytest.fixture
async def shared_client_closed() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


@respx.mock
@pytest.mark.parametrize('status', [408, 409, 429, 500, 502, 503, 504, 529])
async def test_retryable_status_is_retried_then_succeeds(status: int) -> None:
    route = respx.post(URL).mock(side_effect=[httpx.Response(status), httpx.Response(200, json={'ok': True})])
    response = await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert response.status_code == 200
    assert response.body == b'{"ok":true}'
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize('status', [400, 401, 403, 404, 413, 422])
async def test_other_4xx_is_not_retried(status: int) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(status, json={'error': 'no'}))
    with pytest.raises(ModelHTTPError) as info:
        await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert info.value.status_code == status
    assert route.call_count == 1


@respx.mock
@pytest.mark.parametrize(('max_retries', 'calls'), [(0, 1), (1, 2), (2, 3), (4, 5)])
async def test_retries_stop_after_max_retries(max_retries: int, calls: int) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(503, text='overloaded'))
    with pytest.raises(ModelHTTPError) as info:
        await fast_transport(max_retries).send(request(), signer=None, model_name='m', vendor='acme')
    assert info.value.status_code == 503
    assert info.value.body == 'overloaded'
    assert route.call_count == calls


async def test_default_max_retries_is_two() -> None:
    assert DEFAULT_MAX_RETRIES == 2
    assert Transport().max_retries == 2
    with pytest.raises(UserError, match='max_retries'):
        Transport(max_retries=-1)


@respx.mock
@pytest.mark.parametrize(
    ('headers', 'logged'),
    [
        ({'retry-after-ms': '1'}, '0.001'),
        ({'retry-after-ms': '12.5', 'retry-after': '30'}, '0.013'),  # the ms header wins
        ({'retry-after': '0'}, '0.000'),
        ({'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT'}, '0.000'),  # a date in the past: no wait
    ],
)
async def test_retry_after_headers_set_the_wait(
    headers: dict[str, str], logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    route = respx.post(URL).mock(side_effect=[httpx.Response(429, headers=headers), httpx.Response(200)])
    transport = fast_transport()
    transport.initial_backoff = transport.max_backoff = 5.0  # would be visible if Retry-After were ignored
    with caplog.at_level(logging.DEBUG, logger='modelkit.transport'):
        await transport.send(request(), signer=None, model_name='m', vendor='acme')
    assert route.call_count == 2
    assert f'in {logged} s after 429' in caplog.text


@respx.mock
async def test_retry_after_beyond_the_cap_raises_at_once_with_retry_after() -> None:
    wait = int(MAX_RETRY_AFTER_SECONDS) + 1
    route = respx.post(URL).mock(return_value=httpx.Response(429, headers={'retry-after': str(wait)}))
    with pytest.raises(ModelHTTPError) as info:
        await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert route.call_count == 1
    assert info.value.status_code == 429
    assert info.value.retry_after == wait


@respx.mock
async def test_retry_after_is_reported_on_the_final_error() -> None:
    respx.post(URL).mock(return_value=httpx.Response(503, headers={'retry-after-ms': '1'}))
    with pytest.raises(ModelHTTPError) as info:
        await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert info.value.retry_after == pytest.approx(0.001)


def test_retry_after_parsing() -> None:
    future = datetime.now(UTC) + timedelta(seconds=30)
    seconds = _retry_after_seconds(httpx.Headers({'retry-after': format_datetime(future, usegmt=True)}))
    assert seconds is not None
    assert 25 < seconds <= 30
    assert _retry_after_seconds(httpx.Headers({})) is None
    assert _retry_after_seconds(httpx.Headers({'retry-after': 'soon'})) is None
    assert _retry_after_seconds(httpx.Headers({'retry-after': 'nan'})) is None
    assert _retry_after_seconds(httpx.Headers({'retry-after': '-3'})) is None  # not delay-seconds
    assert _retry_after_seconds(httpx.Headers({'retry-after-ms': 'x', 'retry-after': '2'})) == 2.0


@respx.mock
async def test_backoff_without_retry_after_uses_jittered_exponential_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(500))
    transport = fast_transport()
    transport.initial_backoff = 0.001
    transport.max_backoff = 0.0015
    with caplog.at_level(logging.DEBUG, logger='modelkit.transport'), pytest.raises(ModelHTTPError):
        await transport.send(request(), signer=None, model_name='m', vendor='acme')
    assert route.call_count == 3
    waits = [
        float(r.getMessage().split(' in ')[1].split(' s ')[0])
        for r in caplog.records
        if 'retrying' in r.message
    ]
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.001  # first cap: initial_backoff
    assert 0 <= waits[1] <= 0.0015  # second cap: doubled, then clipped to max_backoff


@respx.mock
async def test_x_should_retry_false_stops_a_5xx_retry() -> None:
    no = respx.post(URL).mock(return_value=httpx.Response(500, headers={'x-should-retry': 'false'}))
    with pytest.raises(ModelHTTPError):
        await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert no.call_count == 1


@respx.mock
async def test_x_should_retry_true_retries_a_4xx() -> None:
    yes = respx.post(URL).mock(
        side_effect=[httpx.Response(400, headers={'x-should-retry': 'true'}), httpx.Response(200)]
    )
    await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert yes.call_count == 2


@respx.mock
async def test_connect_errors_are_retried() -> None:
    route = respx.post(URL).mock(side_effect=[httpx.ConnectError('refused'), httpx.Response(200)])
    response = await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert response.status_code == 200
    assert route.call_count == 2


@respx.mock
async def test_persistent_connect_error_maps_to_model_connection_error() -> None:
    route = respx.post(URL).mock(side_effect=httpx.ConnectError('connection refused'))
    with pytest.raises(ModelConnectionError) as info:
        await fast_transport().send(request(), signer=sign, model_name='m', vendor='acme')
    assert not isinstance(info.value, ModelTimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert route.call_count == 3
    message = str(info.value)
    assert 'acme' in message
    assert 'connection refused' in message
    assert '3 attempts' in message
    assert SECRET not in message


@respx.mock
@pytest.mark.parametrize('error', [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.PoolTimeout])
async def test_timeouts_before_a_response_are_retried_then_map_to_model_timeout_error(
    error: type[httpx.TimeoutException],
) -> None:
    route = respx.post(URL).mock(side_effect=error('timed out'))
    with pytest.raises(ModelTimeoutError) as info:
        await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert isinstance(info.value.__cause__, error)
    assert route.call_count == 3


@respx.mock
async def test_signer_runs_before_every_attempt_on_a_fresh_copy() -> None:
    seen: list[dict[str, str]] = []
    attempts = 0

    async def counting_signer(req: HTTPRequest) -> None:
        nonlocal attempts
        attempts += 1
        seen.append(dict(req.headers))
        req.headers[f'x-sig-{attempts}'] = 'yes'

    route = respx.post(URL).mock(side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200)])
    original = request()
    await fast_transport().send(original, signer=counting_signer, model_name='m', vendor='acme')
    assert attempts == 3
    assert all(not any(k.startswith('x-sig') for k in headers) for headers in seen)
    assert [c.request.headers.get(f'x-sig-{i + 1}') for i, c in enumerate(route.calls)] == ['yes'] * 3
    assert 'x-sig-1' not in original.headers  # the caller's request is untouched


@respx.mock
async def test_http_error_carries_parsed_json_body_redacted_headers_and_vendor() -> None:
    body = {'error': {'message': 'Invalid model', 'type': 'invalid_request_error'}}
    respx.post(URL).mock(
        return_value=httpx.Response(
            400, json=body, headers={'set-cookie': 'session=abc', 'x-request-id': 'req_1', 'api-key': 'leak'}
        )
    )
    with pytest.raises(ModelHTTPError) as info:
        await fast_transport().send(request(), signer=sign, model_name='gpt-x', vendor='acme')
    error = info.value
    assert error.body == body
    assert error.vendor == 'acme'
    assert error.model_name == 'gpt-x'
    assert error.headers['x-request-id'] == 'req_1'
    assert 'set-cookie' not in error.headers
    assert 'api-key' not in error.headers
    assert 'status_code: 400' in str(error)
    assert 'Invalid model' in str(error)
    assert 'acme' in str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


@respx.mock
@pytest.mark.parametrize(
    ('content', 'content_type', 'expected'),
    [
        (b'<html>bad gateway</html>', 'text/html', '<html>bad gateway</html>'),
        (b'[1, 2]', 'text/plain', [1, 2]),
        (b'{not json', 'application/json', '{not json'),
        (b'', 'application/json', None),
    ],
)
async def test_error_body_is_json_when_json_else_text(
    content: bytes, content_type: str, expected: object
) -> None:
    respx.post(URL).mock(
        return_value=httpx.Response(404, content=content, headers={'content-type': content_type})
    )
    with pytest.raises(ModelHTTPError) as info:
        await fast_transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert info.value.body == expected


@respx.mock
async def test_streamed_error_status_raises_on_entry_with_the_body() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(401, json={'error': 'bad key'}))
    with pytest.raises(ModelHTTPError) as info:
        async with fast_transport().stream(request(), signer=sign, model_name='m', vendor='acme'):
            pytest.fail('the block must not run for an error status')
    assert info.value.body == {'error': 'bad key'}
    assert route.call_count == 1


@respx.mock
async def test_stream_retries_while_opening() -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.ConnectError('refused'),
            httpx.Response(529),
            httpx.Response(200, content=b'a\nb\n'),
        ]
    )
    async with fast_transport().stream(request(), signer=None, model_name='m', vendor='acme') as stream:
        events = [e async for batch in stream.iter_parsed(LineParser()) for e in batch]
    assert events == [b'a', b'b']
    assert route.call_count == 3


async def read_into(transport: Transport, received: list[bytes]) -> None:
    async with transport.stream(request(), signer=None, model_name='m', vendor='acme') as stream:
        async for batch in stream.iter_parsed(LineParser()):
            received.extend(batch)


class _BreaksAfterFirstChunk(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'first\n'
        raise httpx.ReadError('connection reset by peer')


@respx.mock
async def test_no_retry_once_stream_bytes_reached_the_caller() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, stream=_BreaksAfterFirstChunk()))
    received: list[bytes] = []
    with pytest.raises(StreamInterrupted) as info:
        await read_into(fast_transport(), received)
    assert received == [b'first']
    assert route.call_count == 1
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert 'acme' in str(info.value)


@respx.mock
async def test_per_request_timeout_applies_to_every_phase() -> None:
    seen: list[dict[str, float | None]] = []

    def record(req: httpx.Request) -> httpx.Response:
        seen.append(req.extensions['timeout'])
        return httpx.Response(200)

    respx.post(URL).mock(side_effect=record)
    transport = fast_transport()
    await transport.send(request(), signer=None, model_name='m', vendor='acme', timeout=1.5)
    await transport.send(request(), signer=None, model_name='m', vendor='acme')
    assert seen[0] == {'connect': 1.5, 'read': 1.5, 'write': 1.5, 'pool': 1.5}
    assert seen[1] == {'connect': 5.0, 'read': 5.0, 'write': 5.0, 'pool': 5.0}  # httpx.AsyncClient() default


@respx.mock
async def test_shared_client_defaults(shared_client_closed: None) -> None:
    from modelkit import __version__

    route = respx.post(URL).mock(return_value=httpx.Response(200))
    await Transport().send(request(), signer=None, model_name='m', vendor='acme')
    assert route.calls.last.request.headers['user-agent'] == f'modelkit/{__version__}'
    assert route.calls.last.request.extensions['timeout'] == {
        'connect': 5.0,
        'read': 600.0,
        'write': 600.0,
        'pool': 600.0,
    }
    assert shared_http_client().timeout.connect == 5.0


async def test_invalid_base_url_is_a_user_error() -> None:
    bad = HTTPRequest('POST', 'your-azure-endpoint/openai/chat/completions')
    with pytest.raises(UserError, match='invalid request URL'):
        await fast_transport().send(bad, signer=None, model_name='m', vendor='azure')


@respx.mock
async def test_debug_log_has_method_url_status_attempt_but_no_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx.post(URL).mock(side_effect=[httpx.Response(500, text='body-text'), httpx.Response(200, text='ok')])
    req = HTTPRequest('POST', URL, {}, b'{"prompt":"private"}', {'key': 'query-secret'})
    with caplog.at_level(logging.DEBUG, logger='modelkit.transport'):
        await fast_transport().send(req, signer=sign, model_name='m', vendor='acme')
    text = caplog.text
    assert f'POST {URL} -> 500 (attempt 1 of 3)' in text
    assert f'POST {URL} -> 200 (attempt 2 of 3)' in text
    for secret in (SECRET, 'query-secret', 'private', 'body-text'):
        assert secret not in text
