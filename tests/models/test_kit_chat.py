"""The kit's chat-completions message shapes, which OpenAI (and its dialects) and Cohere's v2 chat share.

The vendors' own tests pin the request bodies these make; here are the kit functions' promises:
each part kind's message, ids mapped only where a call id is sent, and thinking kept in order.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelkit.exceptions import UserError
from modelkit.messages import (
    AudioUrl,
    BinaryContent,
    DocumentUrl,
    ModelRequestPart,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models._kit import chat_assistant_parts, chat_request_part


def _refuse(item: AudioUrl | DocumentUrl | BinaryContent) -> dict[str, Any]:
    raise UserError(f'no {item.kind} here')


def test_each_request_part_becomes_its_chat_message() -> None:
    parts: list[ModelRequestPart] = [
        SystemPromptPart('be brief'),
        UserPromptPart('hi'),
        ToolReturnPart('weather', {'temp': 20}, 'call_1'),
        RetryPromptPart('try again', tool_name='weather', tool_call_id='call_1'),
        RetryPromptPart('answer in JSON', tool_call_id='call_2'),
    ]
    messages = [chat_request_part(part, _refuse, system_role='developer') for part in parts]
    assert [message['role'] for message in messages] == ['developer', 'user', 'tool', 'tool', 'user']
    assert messages[2] == {'role': 'tool', 'tool_call_id': 'call_1', 'content': '{"temp":20}'}
    assert messages[3]['tool_call_id'] == 'call_1'
    assert 'tool_call_id' not in messages[4]
    with pytest.raises(UserError, match='no audio-url here'):
        chat_request_part(UserPromptPart([AudioUrl('https://example.test/a.mp3')]), _refuse)


def test_ids_are_asked_only_for_the_call_ids_that_are_sent() -> None:
    asked: list[str] = []

    def ids(tool_call_id: str) -> str:
        asked.append(tool_call_id)
        return f'mapped-{tool_call_id}'

    # A retry about the text answer sends no call id: asking would spend one of a request's ids.
    chat_request_part(RetryPromptPart('answer in JSON', tool_call_id='call-text'), _refuse, ids=ids)
    sent = chat_request_part(ToolReturnPart('weather', 'sunny', 'call-x'), _refuse, ids=ids)
    assert sent['tool_call_id'] == 'mapped-call-x'
    assert asked == ['call-x']
    _, calls, _ = chat_assistant_parts(ModelResponse([ToolCallPart('weather', '{}', 'call-y')]), ids)
    assert calls[0]['id'] == 'mapped-call-y'


def test_assistant_parts_keep_texts_calls_and_thinking_in_order() -> None:
    message = ModelResponse(
        [
            ThinkingPart('first'),
            TextPart('a'),
            TextPart(''),
            ToolCallPart('weather', {'city': 'Paris'}, 'call_1'),
            ThinkingPart(''),
            ThinkingPart('plan', id='tool_plan'),
            TextPart('b'),
        ]
    )
    texts, calls, thinking = chat_assistant_parts(message)
    assert texts == ['a', 'b']
    assert calls == [
        {'id': 'call_1', 'type': 'function', 'function': {'name': 'weather', 'arguments': '{"city":"Paris"}'}}
    ]
    assert [part.content for part in thinking] == ['first', 'plan']

    texts, _, thinking = chat_assistant_parts(message, inline_thinking=lambda text: f'<{text}>')
    assert texts == ['<first>', 'a', '<plan>', 'b']
    assert thinking == []
