"""GoogleVertexProvider's tokens, against the emulator's OAuth endpoint over loopback.

google-auth signs a real RS256 assertion with a key the test generated; the emulator verifies it
and issues the token. The model endpoint is a loopback server that accepts only tokens the
emulator issued and still holds, as Vertex AI accepts only live tokens.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import anyio
import httpx
import pytest
from google.oauth2 import credentials as oauth2_credentials

from modelkit.emulator import Emulator
from modelkit.emulator.google_oauth import bearer_is_valid, revoke_tokens, token_requests
from modelkit.exceptions import ModelConnectionError, ModelHTTPError, UserError
from modelkit.providers.google_vertex import GoogleVertexProvider
from tests.helpers.google_service_account import TEST_PROJECT, service_account_info
from tests.transport.loopback import Exchange, Server, serve

pytestmark = pytest.mark.anyio

MODEL = 'gemini-2.0-flash'
TARGET = f'/v1/projects/{TEST_PROJECT}/locations/us-central1/publishers/google/models/{MODEL}:generateContent'


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emu:
        yield emu


def vertex_like(emulator: Emulator, *, echo: bool = False):  # type: ignore[no-untyped-def]
    """A handler that answers 200 for a live emulator-issued bearer token and 401 otherwise."""

    async def handler(exchange: Exchange) -> None:
        token = exchange.headers.get('authorization', '').removeprefix('Bearer ')
        if echo:  # a gateway that quotes the request back in its error
            await exchange.respond(400, json.dumps({'error': {'message': f'saw {token}'}}).encode())
        elif bearer_is_valid(emulator.state, token):
            await exchange.respond(200, b'{"candidates": []}', [('content-type', 'application/json')])
        else:
            await exchange.respond(401, b'{"error": {"code": 401, "status": "UNAUTHENTICATED"}}')

    return handler


async def generate(provider: GoogleVertexProvider) -> int:
    request = provider.build_request('POST', f'/models/{MODEL}:generateContent', b'{}', model_name=MODEL)
    response = await provider.send(request, model_name=MODEL)
    return response.status_code


def tokens_seen(server: Server) -> list[str]:
    return [e.headers['authorization'].removeprefix('Bearer ') for e in server.exchanges]


async def test_100_concurrent_first_requests_make_one_token_request(emulator: Emulator) -> None:
    info = service_account_info(emulator)
    async with serve(vertex_like(emulator)) as server:
        provider = GoogleVertexProvider(service_account_info=info, base_url=server.url)
        assert token_requests(emulator) == 0  # nothing at construction
        statuses: list[int] = []

        async def one() -> None:
            statuses.append(await generate(provider))

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(one)
    assert statuses == [200] * 100
    assert token_requests(emulator) == 1
    assert {e.target for e in server.exchanges} == {TARGET}
    (token,) = set(tokens_seen(server))
    assert token.startswith('ya29.emulated-')
    # The token exchange went over modelkit's shared httpx client (its User-Agent), not `requests`.
    (token_request,) = [r for r in emulator.requests if r.path == '/token']
    assert token_request.headers['user-agent'].startswith('modelkit/')


async def test_a_401_refreshes_the_token_once_and_retries_once(emulator: Emulator) -> None:
    info = service_account_info(emulator)
    accepting = vertex_like(emulator)
    refuse_all = False

    async def handler(exchange: Exchange) -> None:
        if refuse_all:
            await exchange.respond(401, b'{"error": {"code": 401, "status": "UNAUTHENTICATED"}}')
        else:
            await accepting(exchange)

    async with serve(handler) as server:
        provider = GoogleVertexProvider(service_account_info=info, base_url=server.url, max_retries=0)
        assert await generate(provider) == 200
        assert revoke_tokens(emulator) == 1  # Google revoked it: the next request is refused
        assert await generate(provider) == 200
        first, refused, retried = tokens_seen(server)
        assert refused == first != retried
        assert bearer_is_valid(emulator.state, retried)
        assert token_requests(emulator) == 2

        # A server that refuses every token: one refresh, one retry, then the 401 (no loop).
        refuse_all = True
        with pytest.raises(ModelHTTPError) as caught:
            await generate(provider)
    assert caught.value.status_code == 401
    assert token_requests(emulator) == 3
    assert len(server.exchanges) == 5


async def test_the_token_is_reused_until_close_to_expiry(emulator: Emulator) -> None:
    async with serve(vertex_like(emulator)) as server:
        lasting = GoogleVertexProvider(
            service_account_info=service_account_info(emulator), base_url=server.url
        )
        for _ in range(3):
            await generate(lasting)
        assert token_requests(emulator) == 1
        # A token that lives less than the signer's refresh margin (300 s) is replaced every time.
        short = service_account_info(emulator, email='short@p.iam.gserviceaccount.com', token_lifetime=120)
        brief = GoogleVertexProvider(service_account_info=short, base_url=server.url)
        for _ in range(3):
            await generate(brief)
    assert token_requests(emulator) == 4
    assert len(set(tokens_seen(server))) == 4


async def test_the_token_never_appears_in_errors_or_logs(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(vertex_like(emulator, echo=True)) as server:
        provider = GoogleVertexProvider(
            service_account_info=service_account_info(emulator), base_url=server.url
        )
        with pytest.raises(ModelHTTPError) as caught:
            await generate(provider)
    (token,) = set(tokens_seen(server))
    assert token.startswith('ya29.emulated-')
    error = caught.value
    assert caught.value.status_code == 400
    for text in (str(error), repr(error), json.dumps(error.body), repr(provider), caplog.text):
        assert token not in text
    assert '***' in str(error)


async def test_a_key_file_and_application_default_credentials_use_the_same_path(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / 'key.json'
    path.write_text(json.dumps(service_account_info(emulator)))
    async with serve(vertex_like(emulator)) as server:
        assert await generate(GoogleVertexProvider(service_account_file=path, base_url=server.url)) == 200
        monkeypatch.setenv('GOOGLE_APPLICATION_CREDENTIALS', str(path))
        adc = GoogleVertexProvider(base_url=server.url, region='global')
        assert adc.project_id is None  # not looked up yet
        assert await generate(adc) == 200
        assert adc.project_id == TEST_PROJECT
        # ADC naming another project than project_id: refused at the first request.
        with pytest.raises(UserError, match="project_id 'other' differs from the project of the application"):
            await generate(GoogleVertexProvider(project_id='other', base_url=server.url))
    assert token_requests(emulator) == 2
    assert server.exchanges[1].target == TARGET.replace('us-central1', 'global')


async def test_a_key_file_naming_no_project_needs_project_id(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / 'key.json'
    path.write_text(json.dumps(service_account_info(emulator, project_id=None)))
    with pytest.raises(UserError, match='name none; pass project_id'):
        await GoogleVertexProvider(service_account_file=path).ensure_ready()
    provider = GoogleVertexProvider(service_account_file=path, project_id='given')
    await provider.ensure_ready()
    assert provider.project_id == 'given'


async def test_a_token_the_caller_holds_is_used_as_it_is(emulator: Emulator) -> None:
    held = 'ya29.a-token-the-caller-already-holds'
    async with serve(lambda exchange: exchange.respond(200, b'{}')) as server:
        provider = GoogleVertexProvider(
            credentials=oauth2_credentials.Credentials(token=held), project_id='p', base_url=server.url
        )
        await generate(provider)
        await generate(provider)
    assert tokens_seen(server) == [held, held]


async def test_refused_credentials_and_an_unreachable_token_endpoint_are_typed_errors(
    emulator: Emulator,
) -> None:
    stranger = service_account_info(emulator, email='nobody@p.iam.gserviceaccount.com', register=False)
    with pytest.raises(UserError, match=r'Google refused the credentials.*account not found'):
        await generate(GoogleVertexProvider(service_account_info=stranger, base_url='http://127.0.0.1:9'))

    async with Emulator() as gone:
        unreachable = service_account_info(gone)
    with pytest.raises(ModelConnectionError, match='could not reach Google to get an access token'):
        await generate(GoogleVertexProvider(service_account_info=unreachable, base_url='http://127.0.0.1:9'))


async def _metadata_server(exchange: Exchange) -> None:
    """Google's metadata server as Compute Engine runs it: the probe, the project, the token."""
    flavor = [('metadata-flavor', 'Google')]
    if exchange.headers.get('metadata-flavor') != 'Google':
        await exchange.respond(403, b'missing Metadata-Flavor', flavor)
    elif exchange.target == '/':
        await exchange.respond(200, b'computeMetadata/', flavor)
    elif exchange.target == '/computeMetadata/v1/project/project-id':
        await exchange.respond(200, b'gce-project', [*flavor, ('content-type', 'application/text')])
    elif exchange.target == '/computeMetadata/v1/instance/service-accounts/default/?recursive=true':
        # What google-auth's own client asks first: the attached account.
        account = {'aliases': ['default'], 'email': 'vm@gce-project.iam.gserviceaccount.com', 'scopes': []}
        await exchange.respond(
            200, json.dumps(account).encode(), [*flavor, ('content-type', 'application/json')]
        )
    elif exchange.target.startswith('/computeMetadata/v1/instance/service-accounts/default/token?'):
        token = json.dumps({'access_token': 'ya29.from-the-metadata-server', 'expires_in': 3599}).encode()
        await exchange.respond(200, token, [*flavor, ('content-type', 'application/json')])
    else:
        await exchange.respond(404, b'', flavor)


_VERTEX_ON_GCE = """
import asyncio, importlib.abc, json, sys


class NoRequests(importlib.abc.MetaPathFinder):
    # Before every other finder: `requests` cannot be imported, as on an install without it.
    def find_spec(self, name, path=None, target=None):
        if name == 'requests' or name.startswith('requests.'):
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
        return None


if sys.argv[2] == 'hide':
    sys.meta_path.insert(0, NoRequests())
try:
    import requests
except ModuleNotFoundError:
    hidden = True
else:
    hidden = False

from modelkit.providers.google_vertex import GoogleVertexProvider


async def main():
    provider = GoogleVertexProvider(base_url=sys.argv[1])
    statuses = []
    for _ in range(2):
        request = provider.build_request('POST', '/models/m:generateContent', b'{}', model_name='m')
        statuses.append((await provider.send(request, model_name='m')).status_code)
    print(json.dumps({'hidden': hidden, 'project_id': provider.project_id, 'statuses': statuses}))


asyncio.run(main())
"""


def _adc_environment(tmp_path: Path, metadata: Server) -> dict[str, str]:
    """This process's environment with no credentials configured, and the metadata server at `metadata`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ('GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT')
    }
    env['CLOUDSDK_CONFIG'] = str(tmp_path)  # no gcloud credentials file either
    env['GCE_METADATA_IP'] = env['GCE_METADATA_HOST'] = f'127.0.0.1:{metadata.port}'
    return env


@pytest.mark.parametrize('requests_module', ['hide', 'keep'])
async def test_adc_on_google_cloud_uses_the_metadata_server(tmp_path: Path, requests_module: str) -> None:
    # google-auth's own metadata-server client needs `requests`. Where it is missing ('hide': a child
    # process that cannot import it, whatever this one has) our fallback must find the server;
    # where it is installed ('keep', as in CI) google-auth finds it over the `request` we hand it.
    # A fresh interpreter each time: google-auth reads the GCE_METADATA_* variables at import.
    async with serve(_metadata_server) as gce, serve(lambda exchange: exchange.respond(200, b'{}')) as vertex:
        child = await anyio.run_process(
            [sys.executable, '-c', _VERTEX_ON_GCE, vertex.url, requests_module],
            env=_adc_environment(tmp_path, gce),
            check=False,
        )
    assert child.returncode == 0, child.stderr.decode(errors='replace')[-3000:]
    hidden = requests_module == 'hide'
    assert json.loads(child.stdout) == {'hidden': hidden, 'project_id': 'gce-project', 'statuses': [200, 200]}
    assert tokens_seen(vertex) == ['ya29.from-the-metadata-server'] * 2
    (token_request,) = [e.target for e in gce.exchanges if '/token?' in e.target]
    assert unquote(token_request).endswith('?scopes=https://www.googleapis.com/auth/cloud-platform')
    # Only google-auth's client asks for the account first: which path ran is not in doubt.
    asked_for_account = any('recursive=true' in e.target for e in gce.exchanges)
    assert asked_for_account is not hidden
    assert vertex.exchanges[0].target.startswith('/v1/projects/gce-project/locations/us-central1/')


async def test_token_exchanges_use_the_callers_http_client(emulator: Emulator) -> None:
    async with (
        httpx.AsyncClient(headers={'x-client': 'the-callers'}, timeout=10) as http,
        serve(vertex_like(emulator)) as server,
    ):
        info = service_account_info(emulator)
        provider = GoogleVertexProvider(service_account_info=info, base_url=server.url, http_client=http)
        assert await generate(provider) == 200
    (token_request,) = [r for r in emulator.requests if r.path == '/token']
    assert token_request.headers['x-client'] == 'the-callers'
    assert server.exchanges[0].headers['x-client'] == 'the-callers'


async def test_the_quota_project_of_user_credentials_is_sent() -> None:
    held = oauth2_credentials.Credentials(
        token='ya29.user-credentials-token', quota_project_id='billing-project'
    )
    async with serve(lambda exchange: exchange.respond(200, b'{}')) as server:
        await generate(GoogleVertexProvider(credentials=held, project_id='p', base_url=server.url))
        await generate(
            GoogleVertexProvider(
                credentials=oauth2_credentials.Credentials(token='ya29.x' * 3),
                project_id='p',
                base_url=server.url,
            )
        )
    with_quota, without = (e.headers for e in server.exchanges)
    assert with_quota['x-goog-user-project'] == 'billing-project'
    assert 'x-goog-user-project' not in without
