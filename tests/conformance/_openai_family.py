"""Replaying recorded traffic of an OpenAI-family dialect (Groq, Mistral) through its own interface.

Shared by `test_groq_recordings.py` and `test_mistral_recordings.py`, which are only data: the
recordings, the interface and provider classes, and what the dialect's bodies need to be read
plainly. The call is rebuilt from the recorded request and the expectations are read from the
recorded response by the OpenAI conformance test's deliberately simple readers
(`test_openai_recordings`), independent of the interface's own code; the answer comes from the
recording through `ReplayTransport`, which also checks each request's method and URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from modelkit.exceptions import ModelHTTPError, ModelStreamError
from modelkit.messages import ModelResponse
from modelkit.models import StreamedResponse
from modelkit.models.openai import OpenAIModel
from modelkit.providers.openai import OpenAIProvider
from modelkit.usage import Usage
from tests.conformance.test_openai_recordings import (
    RANDOM_SPLITS,
    Call,
    Expected,
    check_response,
    check_usage,
    expected_from_completion,
    expected_from_sse,
    normalise_request,
    rebuild_call,
)
from tests.helpers.cassettes import Interaction, ReplayTransport
from tests.helpers.streams import random_split

__all__ = ('Dialect', 'check_interaction')

Json = dict[str, Any]


@dataclass(frozen=True)
class Dialect:
    """What replaying one dialect's recordings needs."""

    model: type[OpenAIModel]
    provider: type[OpenAIProvider]
    plain_body: Callable[[Json], Json] = lambda body: body
    """A response body (or chunk) rewritten into plain OpenAI shape for the expectation readers."""
    plain_request: Callable[[Json], Json] = lambda body: body
    """A request body with what the dialect treats as absent dropped, for comparing requests."""
    default_request: Json | None = None
    """The request to send for a recording that kept none (a response body only)."""


@dataclass
class Outcome:
    sent: list[httpx.Request]
    response: ModelResponse | None
    usage: Usage | None
    error: Exception | None


async def replay(
    dialect: Dialect, interaction: Interaction, call: Call, model_name: str, seed: int | None
) -> Outcome:
    rechunk = (lambda body: random_split(body, seed)) if seed is not None else None
    transport = ReplayTransport([interaction], rechunk=rechunk)
    outcome = Outcome(transport.sent, None, None, None)
    streamed: StreamedResponse | None = None
    async with httpx.AsyncClient(transport=transport) as client:
        model = dialect.model(model_name, provider=dialect.provider(api_key='test-key', http_client=client))
        try:
            if not interaction.streamed:
                outcome.response, outcome.usage = await model.request(
                    call.messages, call.settings, call.params
                )
            else:
                async with model.request_stream(call.messages, call.settings, call.params) as streamed:
                    await _drain(streamed)
        except (ModelHTTPError, ModelStreamError) as exc:
            outcome.error = exc
    if streamed is not None:  # what arrived, also when the stream failed
        outcome.response, outcome.usage = streamed.get(), streamed.usage()
    return outcome


async def _drain(streamed: StreamedResponse) -> None:
    async for _ in streamed:
        pass


def _plain_sse(dialect: Dialect, body: bytes) -> bytes:
    lines = []
    for line in body.decode().splitlines():
        data = line[5:].strip() if line.startswith('data:') else None
        if data and data != '[DONE]' and (payload := json.loads(data)) and 'error' not in payload:
            line = 'data: ' + json.dumps(dialect.plain_body(payload))
        lines.append(line)
    return '\n'.join(lines).encode()


def expected_of(dialect: Dialect, interaction: Interaction) -> Expected:
    body = interaction.response.body
    if interaction.streamed:
        return expected_from_sse(_plain_sse(dialect, body))
    return expected_from_completion(json.dumps(dialect.plain_body(json.loads(body))).encode())


async def check_interaction(dialect: Dialect, interaction: Interaction) -> Exception | None:
    """Replay `interaction` plain and re-chunked; check the request and everything read back.

    Returns the error the replay raised (an HTTP or stream error the recording shows), for the
    caller's dialect-specific checks.
    """
    recorded = interaction.request
    request_body = recorded.json() if recorded is not None else dialect.default_request
    assert request_body is not None
    if recorded is None:
        request_body = {**request_body, 'stream': interaction.streamed}
    call = rebuild_call(request_body)
    outcome = await replay(dialect, interaction, call, request_body['model'], None)

    [sent] = outcome.sent
    if recorded is not None:
        ours = dialect.plain_request(normalise_request(json.loads(sent.content)))
        theirs = dialect.plain_request(normalise_request(request_body))
        assert ours == theirs, f'sent {ours}, recorded {theirs}'

    if interaction.response.status >= 400:
        error = outcome.error
        assert isinstance(error, ModelHTTPError)
        assert error.status_code == interaction.response.status
        return error

    expected = expected_of(dialect, interaction)
    assert outcome.response is not None
    assert outcome.usage is not None
    if expected.error is not None:
        assert isinstance(outcome.error, ModelStreamError)
        assert outcome.error.error_type == expected.error.get('type')
        assert outcome.error.code == expected.error.get('code')
        assert expected.error['message'] in str(outcome.error)
        assert outcome.error.partial_response is not None
        assert outcome.error.partial_response.parts == expected.parts()
    else:
        assert outcome.error is None, outcome.error
        check_response(outcome.response, expected)
        check_usage(outcome.usage, expected.usage)

    if interaction.streamed:
        # The same bytes, cut into random pieces (inside UTF-8 characters too), give the same result.
        for seed in range(RANDOM_SPLITS):
            again = await replay(dialect, interaction, call, request_body['model'], seed)
            assert again.response is not None
            assert again.response.parts == outcome.response.parts
            assert again.usage == outcome.usage
            assert type(again.error) is type(outcome.error)
    return outcome.error
