"""Service accounts made by the tests: a real RSA key, registered with the emulator's token endpoint.

google-auth's own service-account path (sign an RS256 JWT, exchange it at `token_uri`) then runs
for real against `modelkit.emulator.google_oauth`, not against a mock.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from modelkit.emulator import Emulator
from modelkit.emulator.google_oauth import register_service_account, token_uri

__all__ = ('TEST_PROJECT', 'private_key_pem', 'public_key_pem', 'service_account_info')

TEST_PROJECT = 'modelkit-test-project'


@cache
def _key(name: str) -> rsa.RSAPrivateKey:
    # 2048 bits: what Google issues; made once per test run and name (tens of milliseconds each).
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(name: str = 'default') -> str:
    """The PKCS#8 PEM of the test key called `name`, as a service-account key file holds it."""
    return (
        _key(name)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


def public_key_pem(name: str = 'default') -> bytes:
    """The public half of the test key called `name`."""
    return (
        _key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def service_account_info(
    emulator: Emulator,
    *,
    project_id: str | None = TEST_PROJECT,
    email: str = 'vertex-test@modelkit-test-project.iam.gserviceaccount.com',
    key: str = 'default',
    register: bool = True,
    token_lifetime: int = 3600,
) -> dict[str, Any]:
    """A service-account key (the JSON Google issues) whose `token_uri` is the emulator's; registered
    with it unless `register=False` (the endpoint then refuses it as an unknown account)."""
    if register:
        register_service_account(emulator, email, public_key_pem(key), token_lifetime=token_lifetime)
    info: dict[str, Any] = {
        'type': 'service_account',
        'private_key_id': f'test-key-{key}',
        'private_key': private_key_pem(key),
        'client_email': email,
        'client_id': '100000000000000000001',
        'token_uri': token_uri(emulator),
    }
    if project_id is not None:
        info['project_id'] = project_id
    return info
