"""Google's OAuth 2.0 token endpoint, emulated: service-account JWTs in, short-lived access tokens out.

Not a model vendor (it has no model-string prefix): the emulator mounts its route beside the
vendors' (`_server.SERVICE_MODULES`). It serves the grant google-auth's service-account
credentials make (RFC 7523, "JWT bearer"):

    POST /token   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>

A test registers a service account's public key (`register_service_account`) and points the
service-account info's `token_uri` at `token_uri(emulator)`; google-auth then signs its real
RS256 assertion with the private key and this endpoint verifies it as Google does: the signature
against the registered key, the issuer, the audience, a lifetime of at most an hour, the clock
window and a scope. It answers with an access token that `bearer_is_valid` accepts until it
expires (`token_lifetime` seconds) or is revoked (`revoke_tokens`); `token_requests` counts the
calls, so tests can prove how many token fetches a client made.

Errors have Google's OAuth shape, `{"error": "invalid_grant", "error_description": "..."}` with
status 400 (RFC 6749 section 5.2). Verifying RS256 needs `cryptography`, which google-auth (the
`vertex` extra) brings; it is imported at the first token request, never at start-up.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import parse_qs

import orjson

from ._server import EmulatorState
from ._server import Request
from ._server import Response

if TYPE_CHECKING:
    from ._server import Emulator
    from ._server import Handler
    from ._server import Router

__all__ = (
    'DEFAULT_TOKEN_LIFETIME_SECONDS',
    'GOOGLE_TOKEN_URI',
    'JWT_BEARER_GRANT',
    'TOKEN_PATH',
    'OAuthState',
    'bearer_is_valid',
    'oauth_state',
    'register',
    'register_service_account',
    'revoke_tokens',
    'routes',
    'token_requests',
    'token_uri',
)

TOKEN_PATH = '/token'
"""Where the emulator serves the token endpoint (Google's is https://oauth2.googleapis.com/token)."""
GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token'
"""The audience google-auth puts in every service-account assertion, whatever `token_uri` says."""
JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
"""The grant type of a service-account token request (RFC 7523 section 2.1)."""
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
"""Google's access tokens live an hour (`expires_in: 3599` or so)."""
MAX_ASSERTION_LIFETIME_SECONDS = 3600
"""Google refuses an assertion whose `exp` is more than an hour after its `iat`."""
CLOCK_SKEW_SECONDS = 300
"""How far an assertion's `iat` may be in the future, or its `exp` in the past: the allowance for
the client's clock Google's token endpoint is documented to make (a few minutes)."""
ACCESS_TOKEN_PREFIX = 'ya29.emulated-'
"""Issued tokens start like Google's (`ya29.`), so masking and logging treat them alike."""


@dataclass(slots=True)
class _Account:
    public_key: Any
    """A `cryptography` RSA public key."""
    token_lifetime: int


@dataclass(slots=True)
class OAuthState:
    """What the token endpoint remembers for one emulator: accounts, tokens issued, requests counted."""

    accounts: dict[str, _Account] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    """access token -> (service account email, expiry in `clock()` seconds)."""
    token_requests: int = 0
    clock: Callable[[], float] = time.time
    """Tests may replace it to expire tokens without waiting."""


_STATES: weakref.WeakKeyDictionary[EmulatorState, OAuthState] = weakref.WeakKeyDictionary()


def oauth_state(target: Emulator | EmulatorState) -> OAuthState:
    """The token endpoint's state for an emulator (or its `EmulatorState`), made at first use."""
    state = target if isinstance(target, EmulatorState) else target.state
    found = _STATES.get(state)
    if found is None:
        found = _STATES[state] = OAuthState()
    return found


def register_service_account(
    target: Emulator | EmulatorState,
    client_email: str,
    public_key_pem: bytes | str,
    *,
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
) -> None:
    """Accept assertions signed by the private half of `public_key_pem` (PEM, SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if token_lifetime < 1:
        raise ValueError(f'token_lifetime must be at least 1 second, got {token_lifetime}')
    pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
    oauth_state(target).accounts[client_email] = _Account(load_pem_public_key(pem), token_lifetime)


def token_uri(emulator: Emulator) -> str:
    """The `token_uri` a service-account key pointed at this emulator carries."""
    return f'{emulator.url}{TOKEN_PATH}'


def bearer_is_valid(state: Emulator | EmulatorState, token: str) -> bool:
    """Whether `token` is an access token this endpoint issued that has neither expired nor been revoked."""
    oauth = oauth_state(state)
    issued = oauth.tokens.get(token)
    return issued is not None and oauth.clock() < issued[1]


def revoke_tokens(target: Emulator | EmulatorState) -> int:
    """Forget every token issued so far (requests carrying one get a 401 from now on); how many."""
    oauth = oauth_state(target)
    count = len(oauth.tokens)
    oauth.tokens.clear()
    return count


def token_requests(target: Emulator | EmulatorState) -> int:
    """How many token requests arrived (granted or not)."""
    return oauth_state(target).token_requests


def routes() -> Iterable[tuple[str, str, Handler]]:
    """`(method, path regex, handler)` of the endpoint."""
    yield 'POST', TOKEN_PATH, _token


def register(router: Router) -> None:
    """Mount the endpoint on an emulator's router."""
    for method, pattern, handler in routes():
        router.add(method, pattern, handler)


class _Refused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


async def _token(request: Request, state: EmulatorState) -> Response:
    oauth = oauth_state(state)
    oauth.token_requests += 1
    try:
        email = _verified_issuer(request, oauth)
    except _Refused as refused:
        return Response.json(
            refused.status, {'error': refused.error, 'error_description': refused.description}
        )
    token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = oauth.accounts[email].token_lifetime
    oauth.tokens[token] = (email, oauth.clock() + lifetime)
    # No caching of a credential by anyone on the way (Google sends the same).
    headers = [('cache-control', 'no-cache, no-store, max-age=0, must-revalidate'), ('pragma', 'no-cache')]
    return Response.json(
        200, {'access_token': token, 'expires_in': lifetime, 'token_type': 'Bearer'}, headers
    )


def _verified_issuer(request: Request, oauth: OAuthState) -> str:
    """The service account whose assertion this request carries, checked; `_Refused` otherwise."""
    content_type = request.headers.get('content-type', '').split(';', 1)[0].strip().lower()
    if content_type != 'application/x-www-form-urlencoded':
        raise _Refused('invalid_request', f'Expected application/x-www-form-urlencoded, got {content_type!r}')
    form = parse_qs(request.body.decode('utf-8', 'replace'))
    grant_type = form.get('grant_type', [''])[0]
    if grant_type != JWT_BEARER_GRANT:
        raise _Refused('unsupported_grant_type', f'Invalid grant_type: {grant_type}')
    assertion = form.get('assertion', [''])[0]
    if not assertion:
        raise _Refused('invalid_request', 'Missing required parameter: assertion')
    header, claims, signing_input, signature = _decode_jwt(assertion)
    if header.get('alg') != 'RS256':
        raise _Refused('invalid_grant', f'Invalid JWT: unsupported algorithm {header.get("alg")!r}')
    email = claims.get('iss')
    account = oauth.accounts.get(email) if isinstance(email, str) else None
    if account is None:
        raise _Refused('invalid_grant', 'Invalid grant: account not found')
    _verify_rs256(account.public_key, signing_input, signature)
    _check_claims(claims, request, oauth.clock())
    return str(email)


def _decode_jwt(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = assertion.split('.')
    if len(parts) != 3:
        raise _Refused('invalid_grant', 'Invalid JWT: expected header.payload.signature')
    try:
        header, claims = (orjson.loads(_b64url(part)) for part in parts[:2])
        signature = _b64url(parts[2])
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _Refused('invalid_grant', 'Invalid JWT: not base64url-encoded JSON') from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _Refused('invalid_grant', 'Invalid JWT: header and payload must be JSON objects')
    return header, claims, f'{parts[0]}.{parts[1]}'.encode('ascii'), signature


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + '=' * (-len(part) % 4))


def _verify_rs256(public_key: Any, signing_input: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise _Refused('invalid_grant', 'Invalid JWT Signature.') from None


def _check_claims(claims: dict[str, Any], request: Request, now: float) -> None:
    host = request.headers.get('host', '')
    audiences = {GOOGLE_TOKEN_URI, f'http://{host}{TOKEN_PATH}'}
    if claims.get('aud') not in audiences:
        raise _Refused(
            'invalid_grant', f'Invalid JWT: audience {claims.get("aud")!r} is not the token endpoint'
        )
    iat, exp = claims.get('iat'), claims.get('exp')
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise _Refused('invalid_grant', 'Invalid JWT: iat and exp must be numbers')
    if (
        exp - iat > MAX_ASSERTION_LIFETIME_SECONDS
        or iat > now + CLOCK_SKEW_SECONDS
        or exp < now - CLOCK_SKEW_SECONDS
    ):
        raise _Refused(
            'invalid_grant',
            'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. '
            'Check your iat and exp values in the JWT claim.',
        )
    if not isinstance(claims.get('scope'), str) or not claims['scope'].strip():
        raise _Refused('invalid_scope', 'Invalid OAuth scope or ID token audience provided.')
