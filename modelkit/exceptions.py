"""Every error modelkit raises, in one tree.

```
ModelkitError                       root: `except ModelkitError` catches everything below
├── UserError                       the API was misused (bad model string, missing API key, ...)
├── UsageLimitExceeded              a run would pass one of its `UsageLimits`
├── ModelAPIError                   the vendor could not be reached, or refused the request
│   ├── ModelHTTPError              a non-2xx status: status_code, body, headers, retry_after
│   └── ModelConnectionError        connecting, sending or waiting for the response failed
│       └── ModelTimeoutError       ... because a timeout ran out
│           └── StreamTimeout       ... in a stream: no content event within it (also a StreamInterrupted)
├── StreamProtocolError             bytes that break the stream framing (SSE, AWS event stream)
└── UnexpectedModelBehavior         a well-framed answer that makes no sense; carries what arrived
    ├── StreamInterrupted           the stream ended or dropped before the vendor said it was done
    └── ModelStreamError            the vendor sent an error object inside a 200 stream
FallbackExceptionGroup              every model of a FallbackModel failed (an ExceptionGroup)
ModelRetry                          raised by a tool to ask the model to try again (not an error)
```

httpx exceptions are translated into this tree in one place, the transport, with `raise ... from exc`.
Whatever error ends a stream, of any type, carries what arrived before it as `partial_response`.
Secrets never reach an exception: every secret a signer used is registered (`modelkit._redact`), and
each error masks the registered secrets in its message, `body` and `headers` when it is built, even
when a server echoed them; bodies are trimmed and headers that carry credentials are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._redact import redact, redact_text
from ._redact import redact_headers as _redact_headers

if TYPE_CHECKING:
    from .messages import ModelResponse

__all__ = (
    'BODY_PREVIEW_CHARS',
    'FallbackExceptionGroup',
    'ModelAPIError',
    'ModelConnectionError',
    'ModelHTTPError',
    'ModelRetry',
    'ModelStreamError',
    'ModelTimeoutError',
    'ModelkitError',
    'StreamInterrupted',
    'StreamProtocolError',
    'StreamTimeout',
    'UnexpectedModelBehavior',
    'UsageLimitExceeded',
    'UserError',
    'redact_headers',
    'trim_body',
)

BODY_PREVIEW_CHARS = 400
"""How much of a response body an error message shows: enough to read a vendor's error object,
short enough that a megabyte of HTML from a misconfigured proxy does not flood a log."""


def trim_body(body: bytes | str | None, limit: int = BODY_PREVIEW_CHARS) -> str:
    """Decode a body for an error message, secrets masked, cut to `limit` characters."""
    if body is None:
        return ''
    text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else body
    # Masked before cutting, so a cut cannot leave the first half of a secret behind.
    text = redact_text(text).strip()
    if len(text) > limit:
        return f'{text[:limit]}... ({len(text) - limit} more characters)'
    return text


def redact_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Copy headers, dropping the ones that can carry credentials and masking registered secrets."""
    return _redact_headers(headers)


class ModelkitError(Exception):
    """Base class of every error modelkit raises."""

    message: str
    partial_response: ModelResponse | None = None
    """For an error that ended a stream (whatever its type): the response assembled from what
    arrived before it. None for errors raised before a stream began."""

    def __init__(self, message: str) -> None:
        message = redact_text(message)
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class UserError(ModelkitError):
    """The library was used wrongly: the message says what to change."""


class UsageLimitExceeded(ModelkitError):
    """A run would pass one of the limits in its `UsageLimits`."""


class ModelAPIError(ModelkitError):
    """The vendor could not be reached, or refused the request."""

    model_name: str

    def __init__(self, model_name: str, message: str) -> None:
        self.model_name = model_name
        super().__init__(message)


class ModelHTTPError(ModelAPIError):
    """The vendor answered with a status outside 2xx."""

    status_code: int
    body: object | None
    headers: dict[str, str]
    retry_after: float | None
    vendor: str | None

    def __init__(
        self,
        status_code: int,
        model_name: str,
        body: object | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
        vendor: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body = redact(body)
        self.headers = redact_headers(headers)
        self.retry_after = retry_after
        self.vendor = vendor
        preview = trim_body(body if isinstance(body, bytes | str) else _json_preview(body))
        who = f'{vendor} ' if vendor else ''
        message = f'{who}status_code: {status_code}, model_name: {model_name}, body: {preview}'
        super().__init__(model_name, message)

    def __repr__(self) -> str:
        return f'ModelHTTPError(status_code={self.status_code!r}, model_name={self.model_name!r})'


class ModelConnectionError(ModelAPIError):
    """Connecting to the vendor, sending the request or waiting for its response failed."""


class ModelTimeoutError(ModelConnectionError):
    """A connect, read, write or pool timeout ran out before the response began."""


class StreamProtocolError(ModelkitError):
    """The bytes of a stream break its framing (SSE, AWS event stream); `partial_response` holds
    what arrived before them."""

    def __init__(self, message: str, *, partial_response: ModelResponse | None = None) -> None:
        self.partial_response = partial_response
        super().__init__(message)


class UnexpectedModelBehavior(ModelkitError):
    """The vendor's answer is well framed but makes no sense; `partial_response` holds what arrived."""

    body: str | None
    partial_response: ModelResponse | None

    def __init__(
        self,
        message: str,
        body: str | bytes | None = None,
        *,
        partial_response: ModelResponse | None = None,
    ) -> None:
        self.body = trim_body(body) if body is not None else None
        self.partial_response = partial_response
        super().__init__(message)

    def __str__(self) -> str:
        if self.body:
            return f'{self.message}, body:\n{self.body}'
        return self.message


class StreamInterrupted(UnexpectedModelBehavior):
    """The stream stopped (connection dropped, read timeout, no end marker) before the vendor finished."""


class StreamTimeout(ModelTimeoutError, StreamInterrupted):
    """A stream delivered no content event within the timeout (no bytes at all, or only keep-alive
    comments and pings); `partial_response` holds what arrived.

    Both a `ModelTimeoutError` (a timeout ran out) and a `StreamInterrupted` (the answer is
    incomplete), so either `except` clause catches it.
    """

    def __init__(
        self, model_name: str, message: str, *, partial_response: ModelResponse | None = None
    ) -> None:
        self.model_name = model_name
        self.body = None
        self.partial_response = partial_response
        ModelkitError.__init__(self, message)


class ModelStreamError(UnexpectedModelBehavior):
    """The vendor reported an error inside a stream that had started with status 200."""

    vendor: str
    error_type: str | None
    code: str | None

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        error_type: str | None = None,
        code: str | None = None,
        body: str | bytes | None = None,
        partial_response: ModelResponse | None = None,
    ) -> None:
        self.vendor = vendor
        self.error_type = error_type
        self.code = code
        super().__init__(
            f'{vendor} stream error ({error_type or code or "unknown"}): {message}',
            body,
            partial_response=partial_response,
        )


class FallbackExceptionGroup(ExceptionGroup[Exception]):
    """Every model of a `FallbackModel` failed; `exceptions` holds each model's error in order."""

    def derive(self, excs: Sequence[Exception]) -> FallbackExceptionGroup:  # type: ignore[override]
        """Keep the type when `except*` or `split` makes a sub-group."""
        return FallbackExceptionGroup(self.message, excs)


class ModelRetry(Exception):
    """Raise from a tool or result validator to send `message` back to the model as a retry prompt."""

    message: str

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _json_preview(body: Any) -> str:
    if body is None:
        return ''
    import orjson

    try:
        return orjson.dumps(body).decode()
    except TypeError:
        return repr(body)
