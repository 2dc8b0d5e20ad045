"""A SigV4 signer on the `Signer` seam verifies on the server: botocore signs what goes on the wire.

This is the shape the Bedrock provider builds on: the server recomputes the signature with botocore
from what it received (method, target, headers, body) and must get the same one, on the first
attempt and on a retry signed again with a fresh date.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from modelkit._signing import Signer, WireRequest
from modelkit.providers import Provider
from tests.transport.loopback import Exchange, serve

botocore_auth = pytest.importorskip('botocore.auth', reason='needs botocore (the bedrock extra)')
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

pytestmark = pytest.mark.anyio

CREDENTIALS = Credentials(
    'AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'session-token-example-123'
)
REGION = 'us-east-1'


class SigV4Signer(Signer):
    """botocore's SigV4 over the exact request; a real provider resolves credentials in `setup`."""

    async def sign(self, request: WireRequest) -> None:
        aws = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        botocore_auth.SigV4Auth(CREDENTIALS, 'bedrock', REGION).add_auth(aws)
        for name in ('Authorization', 'X-Amz-Date', 'X-Amz-Security-Token'):
            request.headers[name] = aws.headers[name]

    def secrets(self) -> tuple[str, ...]:
        return (CREDENTIALS.secret_key, CREDENTIALS.token)


def verifies(exchange: Exchange) -> bool:
    """Recompute the signature from what arrived, as the service does."""
    headers = exchange.headers
    signed = headers['authorization'].split('SignedHeaders=', 1)[1].split(',', 1)[0].split(';')
    aws = AWSRequest(
        method=exchange.request.method.decode(),
        url=f'http://{headers["host"]}{exchange.target}',
        data=exchange.body,
        headers={name: headers[name] for name in signed},
    )
    aws.context['timestamp'] = headers['x-amz-date']
    auth = botocore_auth.SigV4Auth(CREDENTIALS, 'bedrock', REGION)
    signature = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
    return headers['authorization'].endswith(f'Signature={signature}')


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_botocore_sigv4_verifies_on_the_server_on_every_attempt(client: httpx.AsyncClient) -> None:
    async def throttle_then_ok(exchange: Exchange) -> None:
        await exchange.respond(200 if len(server.exchanges) > 1 else 503, b'{}')

    async with serve(throttle_then_ok) as server:
        provider = Provider(name='bedrock', base_url=server.url, signer=SigV4Signer(), http_client=client)
        provider._transport.initial_backoff = provider._transport.max_backoff = 0.001
        request = provider.build_request(
            'POST',
            '/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream',
            b'{"messages":[]}',
        )
        await provider.send(request, model_name='m')
    assert len(server.exchanges) == 2
    assert all(verifies(exchange) for exchange in server.exchanges)
    assert server.exchanges[0].headers['x-amz-security-token'] == CREDENTIALS.token
