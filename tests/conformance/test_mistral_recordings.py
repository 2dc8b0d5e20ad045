"""Replays of every recorded Mistral exchange through `MistralModel` and `MistralProvider`, plain and
re-chunked.

See `_openai_family.py` for how; this file is the data: the recordings, and a plain reading of what
only Mistral sends (list content, `num_cached_tokens`) for the expectation readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelkit.models.mistral import MistralModel
from modelkit.providers.mistral import MistralProvider
from tests.conformance._openai_family import Dialect, check_interaction
from tests.helpers.cassettes import interaction_params, load_interactions, recording_paths

pytestmark = pytest.mark.anyio

RECORDINGS = [
    'mistral/pydantic-ai/test_mistral_forwards_penalties.yaml',
    'mistral/pydantic-ai/test_tool_choice_matrix[auto-mistral].yaml',
    'mistral/simonw-llm-mistral/magistral-completion.json',
    'mistral/simonw-llm-mistral/magistral-stream.sse',
    'mistral/vercel-ai/mistral-reasoning.chunks.txt',
    'mistral/vercel-ai/mistral-tool-call.chunks.txt',
]
"""Every Mistral recording in the visible fixture set but `metadata.json`, which describes the two
simonw-llm-mistral bodies (a test below checks none is missed)."""

METADATA = 'mistral/simonw-llm-mistral/metadata.json'


def _plain_message(message: dict[str, Any]) -> dict[str, Any]:
    if calls := message.get('tool_calls'):
        # Mistral streams each call whole, without OpenAI's `index`: its position is its index.
        message = {**message, 'tool_calls': [{'index': i, **call} for i, call in enumerate(calls)]}
    content = message.get('content')
    if not isinstance(content, list):
        return message
    thinking = ''.join(t['text'] for c in content if c['type'] == 'thinking' for t in c['thinking'])
    text = ''.join(c['text'] for c in content if c['type'] == 'text')
    return {**message, 'content': text, 'reasoning': thinking}


def plain_body(body: dict[str, Any]) -> dict[str, Any]:
    """List content as a string plus `reasoning`, tool calls with an `index`, and
    `num_cached_tokens` as OpenAI's detail field."""
    body = dict(body)
    for choice in body.get('choices') or ():
        for key in ('message', 'delta'):
            if isinstance(choice.get(key), dict):
                choice[key] = _plain_message(choice[key])
    usage = body.get('usage')
    if usage and 'num_cached_tokens' in usage and not usage.get('prompt_tokens_details'):
        body['usage'] = {**usage, 'prompt_tokens_details': {'cached_tokens': usage['num_cached_tokens']}}
    return body


def plain_request(body: dict[str, Any]) -> dict[str, Any]:
    """Drop what Mistral's SDK sends that means nothing (`prefix: false`, empty assistant content
    beside tool calls, the calls' stream `index`) and spell out the tool `type` it leaves out."""
    messages = []
    for message in body['messages']:
        message = {k: v for k, v in message.items() if not (k == 'prefix' and v is False)}
        if message.get('tool_calls'):
            if message.get('content') in ([], ''):
                del message['content']
            message['tool_calls'] = [
                {k: v for k, v in c.items() if k != 'index'} for c in message['tool_calls']
            ]
        messages.append(message)
    tools = [{'type': 'function', **tool} for tool in body.get('tools') or ()]
    return {**body, 'messages': messages, **({'tools': tools} if tools else {})}


MISTRAL = Dialect(
    MistralModel,
    MistralProvider,
    plain_body=plain_body,
    plain_request=plain_request,
    default_request={
        'model': 'magistral-small-latest',
        'messages': [{'role': 'user', 'content': 'What is 17 times 19? Answer briefly.'}],
    },
)


@pytest.mark.parametrize(('name', 'index'), interaction_params(RECORDINGS))
async def test_recorded_interaction(wire_fixtures: Path, name: str, index: int) -> None:
    await check_interaction(MISTRAL, load_interactions(wire_fixtures, name)[index])


def test_every_mistral_recording_is_replayed(wire_fixtures: Path) -> None:
    assert set(recording_paths(wire_fixtures, 'mistral')) == {*RECORDINGS, METADATA}
    assert load_interactions(wire_fixtures, METADATA) == []
