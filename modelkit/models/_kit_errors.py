"""The kit's error helpers: what a vendor interface raises when a body or a stream event is not
what its wire format promises, or is an error object sent with a 200.

Re-exported by `modelkit.models._kit`, where vendor modules import them from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from pydantic_core import ValidationError

from ..exceptions import ModelStreamError
from ..exceptions import UnexpectedModelBehavior

__all__ = (
    'NOT_JSON',
    'event_problem',
    'parse_event',
    'stream_error',
    'unexpected_body',
    'validation_summary',
)


def validation_summary(exc: ValidationError, limit: int = 3) -> str:
    """The first `limit` validation errors as `loc: message`, for a one-line exception message."""
    errors = exc.errors(include_url=False, include_input=False)
    shown = '; '.join(f'{".".join(map(str, e["loc"])) or "(root)"}: {e["msg"]}' for e in errors[:limit])
    return shown + (f' (and {len(errors) - limit} more)' if len(errors) > limit else '')


def unexpected_body(
    vendor: str, what: str, exc: ValidationError, body: bytes | str
) -> UnexpectedModelBehavior:
    """The error for a 2xx body that does not fit the schema; an error object in it is named as such
    (some servers answer 200 with `{"error": ...}` instead of a 4xx)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and isinstance(error := payload.get('error'), dict | str):
        detail = error.get('message') if isinstance(error, dict) else error
        return UnexpectedModelBehavior(
            f'{vendor} returned an error object instead of a {what}: {detail}', body
        )
    return UnexpectedModelBehavior(
        f'{vendor} returned a {what} that does not fit the schema: {validation_summary(exc)}', body
    )


def stream_error(vendor: str, data: str | bytes, *, error_type: str | None = None) -> ModelStreamError:
    """The `ModelStreamError` for an error sent inside a 200 stream.

    `data` is the event's payload: OpenAI's `{"error": {...}}`, Anthropic's
    `{"type": "error", "error": {"type": ..., "message": ...}}`, a bare `{"message": ...}` (Bedrock's
    exception frames, whose type arrives in a header: pass it as `error_type`), or plain text.
    """
    text = data.decode(errors='replace') if isinstance(data, bytes) else data
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        payload = text
    error = payload.get('error', payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        message = str(error.get('message') or 'no message given')
        wire_type, code = error.get('type'), error.get('code')
        return ModelStreamError(
            vendor,
            message,
            error_type=error_type or (str(wire_type) if wire_type is not None else None),
            code=str(code) if code is not None else None,
            body=text,
        )
    return ModelStreamError(vendor, str(error), error_type=error_type, body=text)


_UNPARSED: Any = object()

NOT_JSON: Any = object()
"""What `parse_event` returns for an event that is not JSON (JSON's own `null` is a payload)."""


def parse_event(data: str | bytes) -> Any:
    """A stream event's JSON payload, or `NOT_JSON`: for a vendor that looks at a payload its schema
    does not describe (an error object, an extension to skip) before asking `event_problem` why."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return NOT_JSON


def event_problem(
    vendor: str,
    what: str,
    data: str | bytes,
    exc: Exception,
    validate: Callable[[Any], object],
    *,
    payload: Any = _UNPARSED,
) -> UnexpectedModelBehavior:
    """Why a stream event the fast lookups tripped over (`exc`) could not be read: not JSON, not
    the shape the vendor's schema (`validate`) promises, or valid yet not what the code expects.

    `payload` is the event already parsed (`parse_event`, or the decoder's own parse), if it was.
    """
    if payload is _UNPARSED:
        payload = parse_event(data)
    if payload is NOT_JSON:
        return UnexpectedModelBehavior(f'{vendor} sent a {what} that is not JSON ({exc})', data)
    try:
        validate(payload)
    except ValidationError as validation_error:
        return unexpected_body(vendor, what, validation_error, data)
    return UnexpectedModelBehavior(f'{vendor} sent a {what} modelkit could not read ({exc!r})', data)
