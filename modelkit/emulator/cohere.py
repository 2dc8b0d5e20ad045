"""Cohere's v2 chat API, as the emulator speaks it.

Route: `POST /v2/chat` (plain with `stream: false` or absent, streamed with `stream: true`); the
base URL is the emulator's root, since Cohere's SDK (`ClientV2(base_url=...)`) and our provider
append `/v2/chat`.

Shapes follow Cohere's API reference and recorded traffic:
- auth by `Authorization: Bearer <key>` (401 `no api key supplied` / `invalid api token`);
- every error is `{"id": ..., "message": ...}` with the HTTP status saying what kind it is
  (400 `invalid request: ...`, 401, 404, 429, 500, 503);
- a plain answer is `{"id", "message": {"role", "content" | "tool_plan" + "tool_calls",
  "citations"}, "finish_reason", "usage": {"billed_units", "tokens"}}`;
- a stream is SSE whose `event:` name repeats the payload's `type`: `message-start`, then per
  content item (thinking first when the request enables it, then text) `content-start`,
  `content-delta`s and `content-end`; or, when the model calls tools, `tool-plan-delta`s (the
  plan: "I will use ...") and per call `tool-call-start` (id, name, empty arguments),
  `tool-call-delta` argument fragments and `tool-call-end` (a call without arguments gets no
  delta); after a tool result, `citation-start` / `citation-end` for the span of the answer that
  quotes it; `message-end` with the finish reason (COMPLETE, MAX_TOKENS, STOP_SEQUENCE,
  TOOL_CALL) and usage; then `data: [DONE]`.

Faults: the kit's. Cohere reports a failure inside a stream as `message-end` with finish reason
ERROR and an `error` text, so that is what `stream-error` sends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from typing import ClassVar

import orjson

from ._script import Conversation
from ._script import Reply
from ._script import ToolSpec
from ._script import count_tokens
from ._script import fragments
from ._script import json_tokens
from ._script import plan_reply
from ._server import EmulatorState
from ._server import Request
from ._server import Response
from ._vendor import CLOSE
from ._vendor import HEAD
from ._vendor import OPEN
from ._vendor import TOKEN
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Handler
from ._vendor import Json
from ._vendor import SSEEncoder
from ._vendor import Vendor

__all__ = (
    'COHERE',
    'PROMPT_TEMPLATE_TOKENS',
    'REPLY_TEMPLATE_TOKENS',
    'VENDORS',
    'CohereVendor',
    'count_input_tokens',
)

PROMPT_TEMPLATE_TOKENS = 490
"""Tokens of Cohere's chat template that `usage.tokens.input_tokens` counts and `billed_units` does
not (recorded: a one-word prompt reads 496 tokens on command-r7b and bills 1)."""
REPLY_TEMPLATE_TOKENS = 2
"""Tokens the reply's framing adds to `usage.tokens.output_tokens` over the billed ones."""
DEFAULT_THINKING_BUDGET = 1024
"""Thinking tokens allowed when `thinking` is enabled without a `token_budget`."""

_ROLES = ('system', 'user', 'assistant', 'tool')
_FINISH_REASONS = {
    'stop': 'COMPLETE',
    'length': 'MAX_TOKENS',
    'tool_calls': 'TOOL_CALL',
    'stop_sequence': 'STOP_SEQUENCE',
}
_TOOL_CHOICES = {'REQUIRED': 'required', 'NONE': 'none'}
_FAULT_MESSAGES: dict[ErrorKind, str] = {
    'rate_limit': 'You are using a Trial key, which is limited to 10 API calls / minute (emulated).',
    'server': 'internal server error, this has been reported to our developers (emulated)',
    'unavailable': 'service unavailable (emulated)',
}


class _Invalid(Exception):
    """A request Cohere would refuse with 400 `invalid request: ...`."""


class CohereVendor(Vendor):
    """Cohere v2 chat: bearer keys, `{"id", "message"}` errors, typed SSE events."""

    prefix: ClassVar[str] = 'cohere'
    env: ClassVar[dict[str, str]] = {'CO_API_URL': '{base_url}', 'CO_API_KEY': '{api_key}'}
    fault_messages = _FAULT_MESSAGES
    auth_messages = ('no api key supplied', 'invalid api token')

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """The v2 chat endpoint."""
        yield 'POST', r'/v2/chat', self._chat

    def claims(self, request: Request) -> bool:
        """Requests under `/v2/` or from Cohere's SDK (a bearer key alone is OpenAI's too)."""
        return request.path.startswith('/v2/') or request.headers.get('x-fern-sdk-name') == 'cohere'

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Cohere's error body: an id and a message; the status says the kind."""
        return {'id': _trace_id(message), 'message': message}

    def not_found_message(self, request: Request) -> str:
        """Cohere's 404 wording."""
        return f'path {request.path} not found'

    async def _chat(self, request: Request, state: EmulatorState) -> Response:
        key = self.authenticate(request, state)
        try:
            body = _parse_body(request.body)
            conversation = _conversation(body)
        except _Invalid as exc:
            raise self.refuse('invalid_request', f'invalid request: {exc}') from None
        model, controls, fault = await self.admit(request, state, key, body['model'])
        seed = body.get('seed', state.config.seed)
        reply = plan_reply(conversation, tokens=controls.tokens, seed=seed)
        answer_id = f'{state.next_id():08d}-e0e0-4000-8000-{_trace_id(model)[:12]}'
        answer = _Answer(reply, conversation, answer_id, str(body['messages'][-1].get('tool_call_id')))
        usage = _usage(count_input_tokens(body), answer.output_tokens)
        headers = [('x-debug-trace-id', _trace_id(answer.id)), ('num_tokens', str(answer.output_tokens))]
        if body.get('stream') is True:
            encoder = _CohereEncoder(self, done='[DONE]')
            return self.stream_response(answer.frames(usage), encoder, controls, fault, headers)
        return await self.plain_response(
            answer.payload(usage), headers, controls, fault, answer.output_tokens
        )


COHERE = CohereVendor()
VENDORS: tuple[Vendor, ...] = (COHERE,)


class _CohereEncoder(SSEEncoder):
    """SSE with Cohere's in-stream failure: `message-end` with finish reason ERROR."""

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The failing `message-end`."""
        delta = {'finish_reason': 'ERROR', 'error': message}
        return self.event(('message-end', {'type': 'message-end', 'delta': delta}))


def _trace_id(seed: str) -> str:
    return hashlib.blake2b(seed.encode(), digest_size=16).hexdigest()


# --------------------------------------------------------------------------------------------
# Reading the request
# --------------------------------------------------------------------------------------------


def _parse_body(raw: bytes) -> Json:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Invalid('the request body is not valid JSON') from None
    if not isinstance(body, dict):
        raise _Invalid('the request body must be a JSON object')
    if not isinstance(body.get('model'), str) or not body['model']:
        raise _Invalid('model must be a non-empty string')
    messages = body.get('messages')
    if not isinstance(messages, list) or not messages:
        raise _Invalid('messages must contain at least one message')
    for i, message in enumerate(messages):
        role = message.get('role') if isinstance(message, dict) else None
        if role not in _ROLES:
            raise _Invalid(f'messages[{i}].role must be one of {", ".join(_ROLES)}')
        if role == 'tool' and not isinstance(message.get('tool_call_id'), str):
            raise _Invalid(f'messages[{i}].tool_call_id is required for a tool message')
        if role != 'assistant' and not isinstance(message.get('content'), str | list):
            raise _Invalid(f'messages[{i}].content is required')
    for name in ('max_tokens', 'k', 'seed'):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise _Invalid(f'{name} must be a non-negative integer')
    stops = body.get('stop_sequences')
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise _Invalid('stop_sequences must be a list of strings')
    return body


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text (and document) items of a list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ''
    texts = []
    for item in content:
        if not isinstance(item, dict):
            continue
        if item.get('type') == 'text':
            texts.append(str(item.get('text', '')))
        elif item.get('type') == 'document':
            data = (item.get('document') or {}).get('data')
            texts.append(data if isinstance(data, str) else orjson.dumps(data).decode())
    return ' '.join(texts)


def _tool_specs(tools: Any) -> list[ToolSpec]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _Invalid('tools must be a list')
    specs = []
    for i, tool in enumerate(tools):
        function = tool.get('function') if isinstance(tool, dict) else None
        if tool.get('type') != 'function' or not isinstance(function, dict):
            raise _Invalid(f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}")
        if not isinstance(function.get('name'), str) or not function['name']:
            raise _Invalid(f'tools[{i}].function.name is required')
        specs.append(ToolSpec(function['name'], function.get('parameters')))
    return specs


def _conversation(body: Json) -> Conversation:
    messages: list[Json] = body['messages']
    tools = _tool_specs(body.get('tools'))
    conv = Conversation(prompt='', tools=tools, max_tokens=body.get('max_tokens'))
    choice = body.get('tool_choice')
    if choice is not None:
        if choice not in _TOOL_CHOICES:
            raise _Invalid("tool_choice must be 'REQUIRED' or 'NONE'")
        if choice == 'REQUIRED' and not tools:
            raise _Invalid("tool_choice 'REQUIRED' needs tools")
        conv.tool_choice = _TOOL_CHOICES[choice]  # type: ignore[assignment]
    conv.stop_sequences = tuple(body.get('stop_sequences') or ())
    _apply_response_format(conv, body.get('response_format'))
    _apply_thinking(conv, body.get('thinking'))

    call_names = conv.note_chat_tool_calls(messages)
    conv.prompt = next((_text_of(m['content']) for m in reversed(messages) if m['role'] == 'user'), '')
    last = messages[-1]
    if last['role'] == 'tool':
        name = call_names.get(last['tool_call_id'], 'the tool')
        conv.tool_result = (name, _text_of(last['content']))
    return conv


def _apply_response_format(conv: Conversation, response_format: Any) -> None:
    if response_format is None:
        return
    kind = response_format.get('type') if isinstance(response_format, dict) else None
    if kind == 'json_object':
        schema = response_format.get('json_schema')
        if schema is not None and not isinstance(schema, dict):
            raise _Invalid('response_format.json_schema must be an object')
        conv.json_schema = schema
        conv.json_object = schema is None
    elif kind != 'text':
        raise _Invalid("response_format.type must be 'text' or 'json_object'")


def _apply_thinking(conv: Conversation, thinking: Any) -> None:
    if thinking is None:
        return
    kind = thinking.get('type') if isinstance(thinking, dict) else None
    if kind == 'enabled':
        budget = thinking.get('token_budget', DEFAULT_THINKING_BUDGET)
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise _Invalid('thinking.token_budget must be a positive integer')
        conv.thinking_budget = budget
    elif kind != 'disabled':
        raise _Invalid("thinking.type must be 'enabled' or 'disabled'")


def count_input_tokens(body: Json) -> int:
    """The billed input tokens the emulator reports for a v2 chat body: `count_tokens` of every
    message's text, tool call (name and arguments) and tool plan, and of the offered tools' JSON."""
    total = 0
    for message in body.get('messages') or []:
        if not isinstance(message, dict):
            continue
        total += count_tokens(_text_of(message.get('content'))) + count_tokens(
            str(message.get('tool_plan') or '')
        )
        for call in message.get('tool_calls') or []:
            function = call.get('function') if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += count_tokens(f'{function.get("name", "")} {function.get("arguments", "")}')
    if body.get('tools'):
        total += json_tokens(body['tools'])
    return total


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


def _usage(input_tokens: int, output_tokens: int) -> Json:
    return {
        'billed_units': {'input_tokens': input_tokens, 'output_tokens': output_tokens},
        'tokens': {
            'input_tokens': input_tokens + PROMPT_TEMPLATE_TOKENS,
            'output_tokens': output_tokens + REPLY_TEMPLATE_TOKENS,
        },
    }


class _Answer:
    """A planned reply in Cohere's terms: content items, tool plan, calls with Cohere-style ids, citations."""

    def __init__(self, reply: Reply, conv: Conversation, answer_id: str, result_id: str) -> None:
        self.reply = reply
        self.id = answer_id
        self.plan: list[str] = []
        if reply.tool_calls:
            names = ' and '.join(call.name for call in reply.tool_calls)
            self.plan = fragments(f'I will use {names} to answer this.')
        # Cohere's ids are the tool's name and 12 lowercase letters and digits.
        self.call_ids = [
            f'{call.name}_{call.id.removeprefix("call_")[:12].lower()}' for call in reply.tool_calls
        ]
        self.citations = _citations(''.join(reply.text), conv, result_id) if reply.text else []
        self.output_tokens = reply.deltas + len(self.plan)

    def _calls(self) -> list[Json]:
        return [
            {'id': call_id, 'type': 'function', 'function': {'name': call.name, 'arguments': call.arguments}}
            for call_id, call in zip(self.call_ids, self.reply.tool_calls, strict=True)
        ]

    def _items(self) -> list[tuple[str, list[str]]]:
        """Each content item as (type, its deltas): thinking first, then text."""
        items = []
        if self.reply.thinking:
            items.append(('thinking', self.reply.thinking))
        if self.reply.text or not self.reply.tool_calls:
            items.append(('text', self.reply.text))
        return items

    def payload(self, usage: Json) -> Json:
        """The non-streamed response."""
        message: Json = {'role': 'assistant'}
        items = self._items()
        if items:
            message['content'] = [{'type': kind, kind: ''.join(deltas)} for kind, deltas in items]
        if self.reply.tool_calls:
            message['tool_plan'] = ''.join(self.plan)
            message['tool_calls'] = self._calls()
        if self.citations:
            message['citations'] = self.citations
        return {
            'id': self.id,
            'message': message,
            'finish_reason': _FINISH_REASONS[self.reply.finish],
            'usage': usage,
        }

    def frames(self, usage: Json) -> list[Frame]:
        """The typed events of the streamed response."""
        empty = {'role': 'assistant', 'content': [], 'tool_plan': '', 'tool_calls': [], 'citations': []}
        frames = [_frame(HEAD, 'message-start', id=self.id, delta={'message': empty})]
        for index, (kind, deltas) in enumerate(self._items()):
            start = {'message': {'content': {'type': kind, kind: ''}}}
            frames.append(_frame(OPEN, 'content-start', index=index, delta=start))
            for piece in deltas:
                delta: Json = {'message': {'content': {kind: piece}}}
                frames.append(_frame(TOKEN, 'content-delta', 1, index=index, delta=delta))
            frames.append(_frame(CLOSE, 'content-end', index=index))
        for piece in self.plan:
            frames.append(_frame(TOKEN, 'tool-plan-delta', 1, delta={'message': {'tool_plan': piece}}))
        for index, call in enumerate(self._calls()):
            opening = {**call, 'function': {**call['function'], 'arguments': ''}}
            parts = (
                []
                if call['function']['arguments'] == '{}'
                else self.reply.tool_calls[index].argument_fragments
            )
            # A call without arguments is only its start: that frame carries its token.
            start_kind, start_tokens = (OPEN, 0) if parts else (TOKEN, 1)
            frames.append(
                _frame(
                    start_kind,
                    'tool-call-start',
                    start_tokens,
                    index=index,
                    delta={'message': {'tool_calls': opening}},
                )
            )
            for piece in parts:
                delta = {'message': {'tool_calls': {'function': {'arguments': piece}}}}
                frames.append(_frame(TOKEN, 'tool-call-delta', 1, index=index, delta=delta))
            frames.append(_frame(CLOSE, 'tool-call-end', index=index))
        for index, citation in enumerate(self.citations):
            frames.append(
                _frame(CLOSE, 'citation-start', index=index, delta={'message': {'citations': citation}})
            )
            frames.append(_frame(CLOSE, 'citation-end', index=index))
        end = {'finish_reason': _FINISH_REASONS[self.reply.finish], 'usage': usage}
        frames.append(_frame(CLOSE, 'message-end', delta=end))
        return frames


def _frame(kind: Any, event_type: str, tokens: int = 0, **fields: Any) -> Frame:
    return Frame(kind, (event_type, {'type': event_type, **fields}), tokens)


def _citations(text: str, conv: Conversation, result_id: str) -> list[Json]:
    """A citation of the first word of the tool result (call `result_id`) where the answer quotes it."""
    if conv.tool_result is None:
        return []
    _, result = conv.tool_result
    words = result.split()
    start = text.find(words[0]) if words else -1
    if start < 0:
        return []
    source = {'type': 'tool', 'id': f'{result_id}:0', 'tool_output': {'content': result}}
    end = start + len(words[0])
    return [
        {'start': start, 'end': end, 'text': text[start:end], 'sources': [source], 'type': 'TEXT_CONTENT'}
    ]
