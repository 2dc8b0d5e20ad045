"""Masking credentials in what comes back: exception messages, bodies, headers and log records.

Servers and gateways echo what they were sent: a 400 quoting the `Authorization` header, a proxy's
debug page, an error event repeating the key. So every secret a signer used is registered here when
the request is signed, and every `ModelkitError` masks the registered secrets in its message, body
and headers at construction (see `modelkit.exceptions`), wherever it is raised: in the transport, in
an interface processing a 2xx body, or in a stream's error event. Our loggers carry
`RedactingFilter` for the same reason.

The registry is process-wide and bounded: a secret registered by one provider is masked in every
error, which is the safe direction, and an old token stays masked for a while after its refresh.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = (
    'MASK',
    'MAX_REGISTERED_SECRETS',
    'MIN_SECRET_CHARS',
    'RedactingFilter',
    'credential_header',
    'redact',
    'redact_headers',
    'redact_text',
    'register_secrets',
    'secrets_in_header_value',
)

MASK = '***'
"""What a secret is replaced with."""

MIN_SECRET_CHARS = 8
"""Shorter strings are not registered: masking `k` or `test` would garble every message, and no
real credential (API key, bearer token, AWS secret, SigV4 signature) is that short."""

MAX_REGISTERED_SECRETS = 512
"""Bound on the registry: tokens refresh hourly, so a long-lived process keeps registering new ones;
the oldest are forgotten first (by then no server is echoing them)."""

_CREDENTIAL_HEADERS = frozenset(
    {
        'authorization',
        'proxy-authorization',
        'proxy-authenticate',
        'www-authenticate',
        'api-key',
        'x-api-key',
        'x-goog-api-key',
        'cookie',
        'set-cookie',
        'x-amz-security-token',
    }
)

# Both patterns are strings compiled (once, by `re`'s cache) at first use: every import of
# modelkit passes through here, most processes never redact anything.
_CREDENTIAL_NAME = (
    r'auth|api-?key|cookie|secret|signature|credential|(?:security|session|access|id|bearer)[-_]?token'
)
"""Header names that carry credentials beyond the known list (`x-foo-auth`, `x-session-token`);
not a bare `token`, which would drop rate-limit headers such as `x-ratelimit-remaining-tokens`."""

_SIGNATURE = r'Signature=([0-9A-Za-z+/=_-]+)'

_secrets: dict[str, None] = {}
"""Registered secrets, oldest first (a dict as an ordered set)."""

_pattern: re.Pattern[str] | None = None
"""All secrets as one alternation, longest first (so a token is masked before its prefix); rebuilt
lazily after a registration."""

_lock = threading.Lock()


def credential_header(name: str) -> bool:
    """Whether a header of this name can carry a credential (request or response side)."""
    lowered = name.lower()
    return lowered in _CREDENTIAL_HEADERS or re.search(_CREDENTIAL_NAME, lowered, re.IGNORECASE) is not None


def register_secrets(secrets: Iterable[str]) -> None:
    """Remember secrets so every later exception and log record masks them."""
    global _pattern
    fresh = [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS and s not in _secrets]
    if not fresh:
        return
    with _lock:
        for secret in fresh:
            _secrets[secret] = None
        while len(_secrets) > MAX_REGISTERED_SECRETS:
            del _secrets[next(iter(_secrets))]
        _pattern = None


def secrets_in_header_value(value: str) -> list[str]:
    """A credential header's value and its secret parts (`Bearer <token>`, SigV4's `Signature=<hex>`)."""
    parts = [value]
    words = value.split()
    if len(words) == 2:
        parts.append(words[1])
    parts.extend(re.findall(_SIGNATURE, value))
    return parts


def redact_text(text: str) -> str:
    """`text` with every registered secret replaced by `MASK`."""
    global _pattern
    if not _secrets or not text:
        return text
    pattern = _pattern
    if pattern is None:
        with _lock:
            ordered = sorted(_secrets, key=len, reverse=True)
            pattern = _pattern = re.compile('|'.join(map(re.escape, ordered)))
    return pattern.sub(MASK, text)


def redact(value: Any) -> Any:
    """A copy of a decoded body (str, bytes, JSON-like lists and dicts) with secrets masked."""
    if not _secrets:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode('utf-8', 'replace')).encode()
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Copy headers for an error: credential-carrying ones dropped, secrets masked in the rest."""
    if not headers:
        return {}
    return {k: redact_text(v) for k, v in headers.items() if not credential_header(k)}


class RedactingFilter(logging.Filter):
    """Masks registered secrets in a record's formatted message (attach to each of our loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            masked = redact_text(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True
