"""BedrockProvider: nothing at construction, everything at the first request, signed as sent.

The signature of every request is recomputed with botocore from what respx received (method, URL,
the signed headers, the body), as the service does; `sigv4_verifies` is that check, also used by
the interface's wire tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.providers import infer_provider
from modelkit.providers.bedrock import BedrockProvider, bedrock_runtime_url

botocore_auth = pytest.importorskip('botocore.auth', reason='needs botocore (the bedrock extra)')
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials, RefreshableCredentials  # noqa: E402

pytestmark = pytest.mark.anyio

KEY_ID = 'AKIDEXAMPLE'
SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
TOKEN = 'session-token-example-123'
AWS_VARIABLES = (
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'AWS_PROFILE',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_BEDROCK_RUNTIME',
)


def sigv4_verifies(request: httpx.Request, secret: str = SECRET, region: str = 'us-east-1') -> bool:
    """Recompute the SigV4 signature of `request` with botocore, from what was sent."""
    headers = request.headers
    authorization = headers['authorization']
    credential = authorization.split('Credential=', 1)[1].split(',', 1)[0]
    key_id, _date, scope_region, service, _ = credential.split('/')
    assert (scope_region, service) == (region, 'bedrock'), credential
    signed = authorization.split('SignedHeaders=', 1)[1].split(',', 1)[0].split(';')
    aws = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={name: headers[name] for name in signed},
    )
    aws.context['timestamp'] = headers['x-amz-date']
    auth = botocore_auth.SigV4Auth(
        Credentials(key_id, secret, headers.get('x-amz-security-token')), service, region
    )
    signature = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
    return authorization.endswith(f'Signature={signature}')


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS variables and empty shared files: each test sets what it means to use."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / 'config').write_text('')
    (tmp_path / 'credentials').write_text('')
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'credentials'))
    # Never ask a real instance-metadata service (the network guard would refuse it anyway).
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def converse_route(router: respx.MockRouter, responses: list[httpx.Response] | None = None) -> respx.Route:
    route = router.post(url__regex=r'.*/converse$')
    if responses is None:
        route.respond(200, json={'ok': True})
    else:
        route.side_effect = responses
    return route


async def post(provider: BedrockProvider, model: str = 'anthropic.claude-3-sonnet-20240229-v1:0') -> None:
    from urllib.parse import quote

    request = provider.build_request('POST', f'/model/{quote(model, safe="")}/converse', b'{"messages":[]}')
    await provider.send(request, model_name=model)


def test_nothing_resolved_and_no_botocore_at_construction() -> None:
    code = (
        'import sys\n'
        'from modelkit.models.bedrock import BedrockConverseModel\n'
        'from modelkit.providers.bedrock import BedrockProvider\n'
        "p = BedrockProvider(region_name='us-east-1', aws_access_key_id='a', aws_secret_access_key='b')\n"
        "BedrockConverseModel('m', provider=p); BedrockConverseModel('m')\n"
        "print('botocore' in sys.modules, 'boto3' in sys.modules)\n"
    )
    env = {**os.environ, 'AWS_REGION': 'us-east-1'}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ['False', 'False']


async def test_botocore_loaded_and_keys_used_at_the_first_request(router: respx.MockRouter) -> None:
    route = converse_route(router)
    provider = BedrockProvider(
        region_name='us-east-1', aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    assert provider.base_url == 'https://bedrock-runtime.us-east-1.amazonaws.com'
    await post(provider)
    sent = route.calls.last.request
    assert sent.headers['authorization'].startswith(f'AWS4-HMAC-SHA256 Credential={KEY_ID}/')
    assert 'x-amz-security-token' not in sent.headers
    assert sigv4_verifies(sent)
    assert 'botocore.auth' in sys.modules


@pytest.mark.parametrize(
    ('model', 'path'),
    [
        (
            'anthropic.claude-3-sonnet-20240229-v1:0',
            '/model/anthropic.claude-3-sonnet-20240229-v1%3A0/converse',
        ),
        (
            'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
            '/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse',
        ),
        (
            'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0',
            '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F'
            'us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse',
        ),
        ('moonshot.kimi-k2-thinking', '/model/moonshot.kimi-k2-thinking/converse'),
    ],
)
async def test_model_ids_are_one_encoded_path_segment_and_signed_as_sent(
    router: respx.MockRouter, model: str, path: str
) -> None:
    route = converse_route(router)
    provider = BedrockProvider(
        region_name='us-east-1', aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    await post(provider, model)
    sent = route.calls.last.request
    assert sent.url.raw_path.decode() == path
    assert sigv4_verifies(sent)


async def test_session_token_is_sent_and_signed(router: respx.MockRouter) -> None:
    route = converse_route(router)
    provider = BedrockProvider(
        region_name='eu-west-1',
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
    )
    await post(provider)
    sent = route.calls.last.request
    assert sent.headers['x-amz-security-token'] == TOKEN
    assert 'x-amz-security-token' in sent.headers['authorization'].split('SignedHeaders=')[1].split(',')[0]
    assert sigv4_verifies(sent, region='eu-west-1')


async def test_every_retry_is_signed_again_with_a_fresh_date(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore reads the clock once per signature: step it a minute per call.
    times = iter(
        datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None) + timedelta(minutes=i) for i in range(10)
    )
    monkeypatch.setattr(botocore_auth, 'get_current_datetime', lambda: next(times))
    throttled = httpx.Response(
        429, json={'message': 'slow down'}, headers={'x-amzn-ErrorType': 'ThrottlingException'}
    )
    route = converse_route(router, [throttled, httpx.Response(503, json={}), httpx.Response(200, json={})])
    provider = BedrockProvider(
        region_name='us-east-1', aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    provider._transport.initial_backoff = provider._transport.max_backoff = 0.001
    await post(provider)
    sent = [call.request for call in route.calls]
    assert [r.headers['x-amz-date'] for r in sent] == [
        '20260101T000000Z',
        '20260101T000100Z',
        '20260101T000200Z',
    ]
    assert len({r.headers['authorization'] for r in sent}) == 3
    assert all(sigv4_verifies(r) for r in sent)


async def test_environment_credentials_and_region(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', KEY_ID)
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', SECRET)
    monkeypatch.setenv('AWS_SESSION_TOKEN', TOKEN)
    monkeypatch.setenv('AWS_REGION', 'ap-southeast-2')
    route = converse_route(router)
    provider = infer_provider('bedrock')
    assert provider.base_url == bedrock_runtime_url('ap-southeast-2')
    await post(provider)  # type: ignore[arg-type]
    sent = route.calls.last.request
    assert sent.url.host == 'bedrock-runtime.ap-southeast-2.amazonaws.com'
    assert sent.headers['x-amz-security-token'] == TOKEN
    assert sigv4_verifies(sent, region='ap-southeast-2')


async def test_profile_from_the_shared_files(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / 'config').write_text('[profile team]\nregion = us-west-2\n')
    (tmp_path / 'credentials').write_text(
        f'[team]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n'
    )
    route = converse_route(router)
    provider = BedrockProvider(profile_name='team')
    assert provider.region is None  # the profile's region is read at the first request, not now
    await post(provider)
    assert provider.region == 'us-west-2'
    assert provider.base_url == 'https://bedrock-runtime.us-west-2.amazonaws.com'
    assert sigv4_verifies(route.calls.last.request, region='us-west-2')


async def test_no_region_anywhere_is_a_user_error_naming_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = BedrockProvider(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    with pytest.raises(UserError, match='AWS_REGION'):
        await post(provider)


async def test_no_credentials_anywhere_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = BedrockProvider(region_name='us-east-1')
    with pytest.raises(UserError, match='AWS_ACCESS_KEY_ID'):
        await post(provider)


class FakeClientMeta:
    def __init__(self, region_name: str, endpoint_url: str) -> None:
        self.region_name = region_name
        self.endpoint_url = endpoint_url


class FakeBedrockClient:
    """Just what a boto3 `bedrock-runtime` client offers that the provider reads."""

    def __init__(self, region_name: str, endpoint_url: str, credentials: Any) -> None:
        self.meta = FakeClientMeta(region_name, endpoint_url)
        self._credentials = credentials

    def _get_credentials(self) -> Any:
        return self._credentials

    def converse(self, **kwargs: Any) -> Any:
        raise AssertionError('the client must be read, never used')


async def test_a_bedrock_client_is_read_not_used(router: respx.MockRouter) -> None:
    route = converse_route(router)
    client = FakeBedrockClient(
        'eu-central-1', bedrock_runtime_url('eu-central-1'), Credentials(KEY_ID, SECRET, TOKEN)
    )
    provider = BedrockProvider(bedrock_client=client)
    await post(provider)
    sent = route.calls.last.request
    assert sent.url.host == 'bedrock-runtime.eu-central-1.amazonaws.com'
    assert sent.headers['x-amz-security-token'] == TOKEN
    assert sigv4_verifies(sent, region='eu-central-1')


async def test_a_boto3_client_with_its_own_endpoint(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3 = pytest.importorskip(
        'boto3', reason='boto3 is a dev-only dependency (tests/requirements-fidelity.txt)'
    )
    route = router.post(url__regex=r'http://gateway\.test/model/.*').respond(200, json={})
    client = boto3.client(
        'bedrock-runtime',
        region_name='us-east-2',
        endpoint_url='http://gateway.test',
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    provider = BedrockProvider(bedrock_client=client)
    await post(provider)
    assert sigv4_verifies(route.calls.last.request, region='us-east-2')


async def test_refreshable_credentials_are_refreshed_in_a_thread_before_they_expire(
    router: respx.MockRouter,
) -> None:
    loop_thread = threading.get_ident()
    refreshes: list[int] = []

    def refresh() -> dict[str, str]:
        refreshes.append(threading.get_ident())
        # Each refresh hands out credentials that are already inside the refresh margin.
        expiry = datetime.now(UTC) + timedelta(seconds=60)
        return {
            'access_key': KEY_ID,
            'secret_key': SECRET,
            'token': f'token-{len(refreshes)}',
            'expiry_time': expiry.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, 'test')
    refreshes.clear()
    client = FakeBedrockClient('us-east-1', bedrock_runtime_url('us-east-1'), credentials)
    route = converse_route(router)
    provider = BedrockProvider(bedrock_client=client)
    await post(provider)
    await post(provider)
    tokens = [call.request.headers['x-amz-security-token'] for call in route.calls]
    assert tokens == ['token-1', 'token-2']  # botocore refreshed each time, as the expiry was near
    assert refreshes
    assert all(thread != loop_thread for thread in refreshes)
    assert all(sigv4_verifies(call.request) for call in route.calls)


async def test_secrets_never_in_reprs_or_errors(router: respx.MockRouter) -> None:
    converse_route(router, [httpx.Response(400, json={'message': f'echo {SECRET} {TOKEN}'})])
    provider = BedrockProvider(
        region_name='us-east-1',
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
    )
    with pytest.raises(ModelHTTPError) as caught:
        await post(provider)
    for text in (repr(provider), str(caught.value), repr(caught.value.body), repr(provider._signer)):
        assert SECRET not in text
        assert TOKEN not in text


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'aws_access_key_id': KEY_ID}, 'together'),
        ({'aws_session_token': TOKEN}, 'without the key pair'),
        ({'bedrock_client': object()}, 'bedrock-runtime client'),
        (
            {'bedrock_client': FakeBedrockClient('us-east-1', '', None), 'profile_name': 'x'},
            'either a bedrock_client or credentials',
        ),
    ],
)
def test_misuse_is_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        BedrockProvider(**kwargs)


def test_endpoint_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        BedrockProvider(region_name='us-east-1', base_url='http://127.0.0.1:9/').base_url
        == 'http://127.0.0.1:9'
    )
    monkeypatch.setenv('AWS_ENDPOINT_URL_BEDROCK_RUNTIME', 'http://127.0.0.1:8')
    assert BedrockProvider(region_name='us-east-1').base_url == 'http://127.0.0.1:8'
    assert bedrock_runtime_url('cn-north-1') == 'https://bedrock-runtime.cn-north-1.amazonaws.com.cn'
