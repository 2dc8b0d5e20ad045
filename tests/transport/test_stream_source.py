"""The stream loop reads the transport's own byte stream, not httpx's wrapper of it."""

from __future__ import annotations

import httpx
import pytest

from modelkit._transport import _transport_stream

pytestmark = pytest.mark.anyio


async def test_the_transports_stream_is_found_under_httpxs_wrapper() -> None:
    # httpx wraps every transport's response stream in an async generator that only hands chunks
    # on; a later httpx that wraps it differently must fail here, not quietly cost that generator.
    body = httpx.ByteStream(b'data: 1\n\n')
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=body))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.send(client.build_request('GET', 'http://127.0.0.1/x'), stream=True)
        try:
            assert response.stream is not body
            assert _transport_stream(response) is body
            assert [chunk async for chunk in body] == [b'data: 1\n\n']
        finally:
            await response.aclose()
    assert response.elapsed.total_seconds() >= 0  # closing still went through httpx's wrapper


def test_a_response_not_from_a_client_has_no_transport_stream() -> None:
    assert _transport_stream(httpx.Response(200, content=b'x')) is None
