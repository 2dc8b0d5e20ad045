"""The emulator's Google OAuth token endpoint, driven by google-auth's real service-account path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import anyio.to_thread
import httpx
import pytest
from google.auth import crypt, jwt
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account

from modelkit.emulator import Emulator
from modelkit.emulator.google_oauth import (
    GOOGLE_TOKEN_URI,
    JWT_BEARER_GRANT,
    bearer_is_valid,
    oauth_state,
    revoke_tokens,
    token_requests,
    token_uri,
)
from modelkit.providers._google_auth import CLOUD_PLATFORM_SCOPE, TransportRequest
from tests.helpers.emulator import TEST_TIMEOUT_S
from tests.helpers.google_service_account import private_key_pem, service_account_info

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as client:
        yield client


def credentials(info: dict[str, Any]) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM_SCOPE])


async def refresh(creds: service_account.Credentials, http: httpx.AsyncClient) -> None:
    await anyio.to_thread.run_sync(creds.refresh, TransportRequest(lambda: http))


async def test_google_auth_service_account_gets_a_token_the_emulator_accepts(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    creds = credentials(service_account_info(emulator, token_lifetime=600))
    await refresh(creds, http)

    assert creds.token.startswith('ya29.emulated-')
    assert bearer_is_valid(emulator.state, creds.token)
    assert bearer_is_valid(emulator, creds.token)
    # google-auth read `expires_in` (600 s) into its expiry.
    assert creds.expiry is not None
    assert 590 < creds.expiry.replace(tzinfo=UTC).timestamp() - time.time() <= 600
    assert token_requests(emulator) == 1
    (sent,) = [r for r in emulator.requests if r.path == '/token']
    assert sent.headers['content-type'] == 'application/x-www-form-urlencoded'
    assert f'grant_type={JWT_BEARER_GRANT}'.replace(':', '%3A') in sent.body.decode()


async def test_a_key_the_emulator_does_not_know_is_refused_as_google_does(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    info = service_account_info(emulator)
    forged = {**info, 'private_key': private_key_pem('another key')}
    with pytest.raises(RefreshError, match=r'invalid_grant: Invalid JWT Signature\.'):
        await refresh(credentials(forged), http)

    stranger = service_account_info(emulator, email='nobody@example.iam.gserviceaccount.com', register=False)
    with pytest.raises(RefreshError, match='invalid_grant: Invalid grant: account not found'):
        await refresh(credentials(stranger), http)
    assert token_requests(emulator) == 2
    assert oauth_state(emulator).tokens == {}


def assertion(info: dict[str, Any], **claims: Any) -> str:
    """An RS256 assertion signed with the test key, with `claims` over the ones google-auth sends."""
    now = int(time.time())
    payload = {
        'iss': info['client_email'],
        'aud': GOOGLE_TOKEN_URI,
        'scope': CLOUD_PLATFORM_SCOPE,
        'iat': now,
        'exp': now + 3600,
        **claims,
    }
    signer = crypt.RSASigner.from_string(info['private_key'], info['private_key_id'])
    return jwt.encode(signer, {k: v for k, v in payload.items() if v is not None}).decode()


@pytest.mark.parametrize(
    ('claims', 'error', 'description'),
    [
        ({'exp': int(time.time()) - 3600, 'iat': int(time.time()) - 7200}, 'invalid_grant', 'short-lived'),
        ({'exp': int(time.time()) + 7200}, 'invalid_grant', 'short-lived'),
        (
            {'iat': int(time.time()) + 3600, 'exp': int(time.time()) + 3700},
            'invalid_grant',
            'reasonable timeframe',
        ),
        ({'aud': 'https://example.com/token'}, 'invalid_grant', 'audience'),
        ({'scope': None}, 'invalid_scope', 'scope'),
    ],
    ids=['expired', 'lives-too-long', 'issued-in-the-future', 'wrong-audience', 'no-scope'],
)
async def test_assertions_google_would_refuse_are_refused(
    emulator: Emulator, http: httpx.AsyncClient, claims: dict[str, Any], error: str, description: str
) -> None:
    info = service_account_info(emulator)
    response = await http.post(
        token_uri(emulator), data={'grant_type': JWT_BEARER_GRANT, 'assertion': assertion(info, **claims)}
    )
    assert response.status_code == 400
    assert response.json()['error'] == error
    assert description in response.json()['error_description']


async def test_the_emulators_own_url_is_an_accepted_audience(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    info = service_account_info(emulator)
    response = await http.post(
        token_uri(emulator),
        data={'grant_type': JWT_BEARER_GRANT, 'assertion': assertion(info, aud=token_uri(emulator))},
    )
    assert response.status_code == 200
    body = response.json()
    assert body['token_type'] == 'Bearer'
    assert body['expires_in'] == 3600
    assert response.headers['cache-control'].startswith('no-cache')


@pytest.mark.parametrize(
    ('data', 'error'),
    [
        ({'grant_type': 'client_credentials'}, 'unsupported_grant_type'),
        ({'grant_type': JWT_BEARER_GRANT}, 'invalid_request'),
        ({'grant_type': JWT_BEARER_GRANT, 'assertion': 'not-a-jwt'}, 'invalid_grant'),
        ({'grant_type': JWT_BEARER_GRANT, 'assertion': 'a.b.c'}, 'invalid_grant'),
    ],
    ids=['other-grant', 'no-assertion', 'not-three-parts', 'not-base64-json'],
)
async def test_malformed_token_requests_get_oauth_errors(
    emulator: Emulator, http: httpx.AsyncClient, data: dict[str, str], error: str
) -> None:
    response = await http.post(token_uri(emulator), data=data)
    assert response.status_code == 400
    assert response.json()['error'] == error
    assert response.json()['error_description']


async def test_a_json_body_is_not_a_token_request(emulator: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.post(token_uri(emulator), json={'grant_type': JWT_BEARER_GRANT})
    assert response.status_code == 400
    assert response.json()['error'] == 'invalid_request'


async def test_tokens_stop_being_valid_when_they_expire_or_are_revoked(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    info = service_account_info(emulator, token_lifetime=60)
    first, second = credentials(info), credentials(info)
    await refresh(first, http)
    await refresh(second, http)
    assert first.token != second.token
    assert not bearer_is_valid(emulator.state, 'ya29.emulated-made-up')

    state = oauth_state(emulator)
    real_clock = state.clock
    state.clock = lambda: real_clock() + 61
    assert not bearer_is_valid(emulator.state, first.token)
    state.clock = real_clock
    assert bearer_is_valid(emulator.state, first.token)

    assert revoke_tokens(emulator) == 2
    assert not bearer_is_valid(emulator.state, first.token)
    assert not bearer_is_valid(emulator.state, second.token)


async def test_the_token_endpoint_is_mounted_but_is_no_model_prefix(emulator: Emulator) -> None:
    assert emulator.router.match('POST', '/token') is not None
    assert not any('oauth' in prefix or prefix == 'google' for prefix in emulator.prefixes)
    assert all('/token' not in line for line in emulator.startup_lines())
