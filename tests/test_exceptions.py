"""The error tree: messages say what went wrong, never leak secrets, and groups keep their type."""

from __future__ import annotations

import pytest

from modelkit.exceptions import (
    BODY_PREVIEW_CHARS,
    FallbackExceptionGroup,
    ModelAPIError,
    ModelHTTPError,
    ModelkitError,
    ModelStreamError,
    StreamInterrupted,
    UnexpectedModelBehavior,
)
from modelkit.messages import ModelResponse, TextPart


def test_http_error_names_vendor_status_model_and_body() -> None:
    error = ModelHTTPError(
        429, 'gpt-4o', {'error': {'message': 'slow down'}}, vendor='openai', retry_after=1.5
    )
    assert (
        str(error) == 'openai status_code: 429, model_name: gpt-4o, body: {"error":{"message":"slow down"}}'
    )
    assert isinstance(error, ModelAPIError)
    assert isinstance(error, ModelkitError)
    assert error.retry_after == 1.5


def test_http_error_trims_a_huge_body() -> None:
    error = ModelHTTPError(502, 'm', '<html>' + 'x' * 10_000)
    assert len(error.message) < BODY_PREVIEW_CHARS + 200
    assert 'more characters' in error.message


def test_http_error_drops_credential_headers() -> None:
    headers = {'Authorization': 'Bearer sk-secret', 'api-key': 'azure-secret', 'x-request-id': 'req_1'}
    error = ModelHTTPError(401, 'm', None, headers=headers)
    assert error.headers == {'x-request-id': 'req_1'}
    assert 'secret' not in repr(error) + str(error) + repr(error.headers)


def test_stream_errors_carry_the_partial_response() -> None:
    partial = ModelResponse([TextPart('half an ans')])
    interrupted = StreamInterrupted('connection dropped', partial_response=partial)
    assert isinstance(interrupted, UnexpectedModelBehavior)
    assert interrupted.partial_response is partial
    vendor_error = ModelStreamError('groq', 'Tool choice is required', error_type='tool_use_failed')
    assert str(vendor_error) == 'groq stream error (tool_use_failed): Tool choice is required'


def test_fallback_group_keeps_its_type_through_except_star() -> None:
    caught: list[BaseExceptionGroup[BaseException]] = []

    def handle() -> None:
        try:
            raise FallbackExceptionGroup('all failed', [ModelHTTPError(401, 'a'), ValueError('b')])
        except* ModelHTTPError as group:
            caught.append(group)

    with pytest.raises(FallbackExceptionGroup) as info:
        handle()
    assert type(caught[0]) is FallbackExceptionGroup
    assert [type(e) for e in info.value.exceptions] == [ValueError]
