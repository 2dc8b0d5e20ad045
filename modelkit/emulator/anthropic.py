"""Anthropic's Messages API, as the emulator speaks it.

Routes: `POST /v1/messages` (plain and streamed) and `POST /v1/messages/count_tokens`; the base
URL is the emulator's root, since Anthropic's SDK and our provider append `/v1/messages`.

Shapes follow Anthropic's API reference and recorded traffic:
- auth by the `x-api-key` header, or the key as a bearer token, which the 2.x SDKs send
  (401 `authentication_error`); an `anthropic-version` header is required (400
  `invalid_request_error` without it, or with anything but a release date from `FIRST_API_VERSION`
  to today: the emulator speaks the shape every version shares);
- errors are `{"type": "error", "error": {"type", "message"}, "request_id"}` with Anthropic's types
  (`invalid_request_error`, `authentication_error`, `not_found_error`, `rate_limit_error`,
  `api_error`, `overloaded_error` with status 529);
- a stream is named SSE events: `message_start` (input usage, output 1), then per content block
  `content_block_start`, `content_block_delta` (`thinking_delta` then `signature_delta`,
  `text_delta`, or `input_json_delta` argument fragments, the first of them empty) and
  `content_block_stop`, a `ping` after the first block opens, `message_delta` with the stop
  reason and the cumulative usage, and `message_stop`; an in-stream failure is `event: error`;
- thinking blocks (with a signature) come first when the request sets `thinking.type: enabled`.

Faults: the kit's, plus `529` (HTTP 529 `overloaded_error`) and `overloaded` (an `event: error`
with `overloaded_error` after `fault-after` tokens; `fault-after=0` sends it right after
`message_start`, before any content, as Anthropic does when it sheds load).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import ClassVar

import orjson

from ._script import Conversation
from ._script import Reply
from ._script import ToolSpec
from ._script import count_tokens
from ._script import json_tokens
from ._script import plan_reply
from ._server import EmulatorState
from ._server import Request
from ._server import Response
from ._vendor import CLOSE
from ._vendor import HEAD
from ._vendor import HTTP_FAULTS
from ._vendor import OPEN
from ._vendor import STREAM_ERROR_FAULTS
from ._vendor import TOKEN
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Handler
from ._vendor import Json
from ._vendor import SSEEncoder
from ._vendor import Vendor

__all__ = (
    'ANTHROPIC',
    'FIRST_API_VERSION',
    'IMAGE_TOKENS',
    'MESSAGE_TOKENS',
    'REQUEST_TOKENS',
    'VENDORS',
    'AnthropicVendor',
    'count_input_tokens',
)

FIRST_API_VERSION = date(2023, 1, 1)
"""The oldest `anthropic-version` accepted (versions are release dates: `2023-06-01`, ...)."""
MIN_THINKING_BUDGET = 1024
"""Smallest `thinking.budget_tokens` Anthropic accepts."""
REQUEST_TOKENS = 7
"""Input tokens every request costs on top of its content (the prompt's framing)."""
MESSAGE_TOKENS = 3
"""Input tokens each message (and the system prompt) costs on top of its text."""
IMAGE_TOKENS = 85
"""Input tokens charged per image or document block."""

_ERROR_TYPES: dict[ErrorKind, str] = {
    'invalid_request': 'invalid_request_error',
    'authentication': 'authentication_error',
    'permission': 'permission_error',
    'not_found': 'not_found_error',
    'too_large': 'request_too_large',
    'rate_limit': 'rate_limit_error',
    'server': 'api_error',
    'unavailable': 'api_error',
    'overloaded': 'overloaded_error',
}
_FAULT_MESSAGES: dict[ErrorKind, str] = {
    'rate_limit': 'This request would exceed the rate limit for your organization (emulated).',
    'server': 'Internal server error (emulated).',
    'unavailable': 'Service unavailable (emulated).',
    'overloaded': 'Overloaded',
}
_STOP_REASONS = {
    'stop': 'end_turn',
    'length': 'max_tokens',
    'tool_calls': 'tool_use',
    'stop_sequence': 'stop_sequence',
}
_TOOL_CHOICES = {'auto': 'auto', 'any': 'required', 'none': 'none'}


class AnthropicVendor(Vendor):
    """Anthropic Messages: `x-api-key`, `anthropic-version`, named SSE events, Anthropic's errors."""

    prefix: ClassVar[str] = 'anthropic'
    env: ClassVar[dict[str, str]] = {'ANTHROPIC_BASE_URL': '{base_url}', 'ANTHROPIC_API_KEY': '{api_key}'}
    http_faults: ClassVar[dict[str, ErrorKind]] = {**HTTP_FAULTS, '529': 'overloaded'}
    stream_error_faults: ClassVar[dict[str, ErrorKind]] = {**STREAM_ERROR_FAULTS, 'overloaded': 'overloaded'}
    fault_messages = _FAULT_MESSAGES  # `Overloaded`, as the API says it
    auth_messages = ('x-api-key header is required', 'invalid x-api-key')

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """Messages and token counting."""
        yield 'POST', r'/v1/messages', self._messages
        yield 'POST', r'/v1/messages/count_tokens', self._count_tokens

    def api_key(self, request: Request) -> str | None:
        """The `x-api-key` header, else a bearer token (how the 2.x SDKs send the key)."""
        return request.headers.get('x-api-key', '').strip() or super().api_key(request)

    def claims(self, request: Request) -> bool:
        """Requests carrying Anthropic's key or version header."""
        return 'x-api-key' in request.headers or 'anthropic-version' in request.headers

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Anthropic's error object (an HTTP error body, and the data of `event: error`)."""
        return {'type': 'error', 'error': {'type': _ERROR_TYPES[kind], 'message': message}}

    def error_envelope(self, kind: ErrorKind, payload: Any) -> tuple[Any, list[tuple[str, str]]]:
        """HTTP errors (unlike the in-stream event) carry a request id, in the body and a header."""
        request_id = _request_id()
        return {**payload, 'request_id': request_id}, [('request-id', request_id)]

    def rate_limit_headers(self, wait_ms: int) -> list[tuple[str, str]]:
        """Anthropic's request-limit headers, exhausted, resetting after the wait."""
        reset = datetime.now(UTC) + timedelta(milliseconds=wait_ms)
        return [
            ('anthropic-ratelimit-requests-limit', '60'),
            ('anthropic-ratelimit-requests-remaining', '0'),
            (
                'anthropic-ratelimit-requests-reset',
                reset.isoformat(timespec='seconds').replace('+00:00', 'Z'),
            ),
        ]

    def not_found_message(self, request: Request) -> str:
        """Anthropic's 404 wording, naming the path."""
        return f'Not Found: {request.method} {request.path}'

    # -- handlers -------------------------------------------------------------------------------

    def _check_version(self, request: Request) -> None:
        version = request.headers.get('anthropic-version')
        if version is None:
            raise self.refuse('invalid_request', 'anthropic-version: header is required')
        try:
            released = date.fromisoformat(version)
        except ValueError:
            released = None
        if released is None or not FIRST_API_VERSION <= released <= datetime.now(UTC).date():
            raise self.refuse('invalid_request', f'anthropic-version: invalid version {version!r}')

    async def _count_tokens(self, request: Request, state: EmulatorState) -> Response:
        self.authenticate(request, state)
        self._check_version(request)
        body = self._parse_body(request.body, needs_max_tokens=False)
        return Response.json(200, {'input_tokens': count_input_tokens(body)})

    async def _messages(self, request: Request, state: EmulatorState) -> Response:
        key = self.authenticate(request, state)
        self._check_version(request)
        body = self._parse_body(request.body, needs_max_tokens=True)
        conversation = self._conversation(body)
        model, controls, fault = await self.admit(request, state, key, body['model'])

        reply = plan_reply(conversation, tokens=controls.tokens, seed=state.config.seed)
        message_id = f'msg_emu{state.next_id():020d}'
        usage = _usage(count_input_tokens(body), reply.deltas)
        headers = [('request-id', _request_id()), ('anthropic-organization-id', 'emulator')]
        if body.get('stream') is True:
            frames = _frames(reply, message_id, model, usage)
            return self.stream_response(
                frames, SSEEncoder(self, error_event='error'), controls, fault, headers
            )
        payload = {
            'id': message_id,
            'type': 'message',
            'role': 'assistant',
            'model': model,
            'content': [block for block, _ in _blocks(reply)],
            'stop_reason': _STOP_REASONS[reply.finish],
            'stop_sequence': reply.stop_sequence,
            'usage': {**usage, 'service_tier': 'standard'},
        }
        return await self.plain_response(payload, headers, controls, fault, reply.deltas)

    # -- reading the request --------------------------------------------------------------------

    def _parse_body(self, raw: bytes, *, needs_max_tokens: bool) -> Json:
        body = self.json_object(raw)
        if not isinstance(body.get('model'), str) or not body['model']:
            raise self.refuse('invalid_request', 'model: Field required')
        limit = body.get('max_tokens')
        if needs_max_tokens and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            message = (
                'max_tokens: Field required' if limit is None else 'max_tokens: must be a positive integer'
            )
            raise self.refuse('invalid_request', message)
        messages = body.get('messages')
        if not isinstance(messages, list) or not messages:
            raise self.refuse(
                'invalid_request',
                'messages: Field required'
                if messages is None
                else 'messages: at least one message is required',
            )
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get('role') not in ('user', 'assistant'):
                raise self.refuse(
                    'invalid_request', f"messages.{i}.role: Input should be 'user' or 'assistant'"
                )
            if not isinstance(message.get('content'), str | list):
                raise self.refuse('invalid_request', f'messages.{i}.content: Field required')
        return body

    def _conversation(self, body: Json) -> Conversation:
        messages: list[Json] = body['messages']
        tools = self._tool_specs(body.get('tools'))
        conv = Conversation(prompt='', tools=tools, max_tokens=body['max_tokens'])
        self._apply_tool_choice(conv, body.get('tool_choice'), {tool.name for tool in tools})
        self._apply_thinking(conv, body)
        conv.stop_sequences = self.stop_sequences(
            body.get('stop_sequences'), 'stop_sequences: Input should be a list of strings'
        )

        call_names: dict[str, str] = {}
        for message in messages:
            for block in _content_blocks(message['content']):
                if block.get('type') == 'tool_use' and isinstance(block.get('name'), str):
                    conv.called_tools.add(block['name'])
                    call_names[str(block.get('id'))] = block['name']
        users = [m for m in messages if m['role'] == 'user']
        conv.prompt = _text_of(users[-1]['content']) if users else ''
        last = messages[-1]
        results = [b for b in _content_blocks(last['content']) if b.get('type') == 'tool_result']
        if last['role'] == 'user' and results:
            result = results[-1]
            name = call_names.get(str(result.get('tool_use_id')), 'the tool')
            conv.tool_result = (name, _text_of(result.get('content', '')))
        return conv

    def _tool_specs(self, tools: Any) -> list[ToolSpec]:
        specs = []
        for i, tool in enumerate(self.json_list(tools, 'tools: Input should be a valid list')):
            if not isinstance(tool, dict) or not isinstance(tool.get('name'), str):
                raise self.refuse('invalid_request', f'tools.{i}.name: Field required')
            if tool.get('type') not in (None, 'custom'):
                continue  # a server tool (web search, code execution): run by Anthropic, never called here
            schema = tool.get('input_schema')
            if not isinstance(schema, dict):
                raise self.refuse('invalid_request', f'tools.{i}.input_schema: Field required')
            specs.append(ToolSpec(tool['name'], schema))
        return specs

    def _apply_tool_choice(self, conv: Conversation, choice: Any, names: set[str]) -> None:
        if choice is None:
            return
        kind = choice.get('type') if isinstance(choice, dict) else None
        if kind == 'tool':
            if choice.get('name') not in names:
                raise self.refuse(
                    'invalid_request', f'tool_choice.name: no tool named {choice.get("name")!r} was offered'
                )
            conv.forced_tool = choice['name']
        elif kind in _TOOL_CHOICES:
            conv.tool_choice = _TOOL_CHOICES[kind]  # type: ignore[assignment]
        else:
            raise self.refuse(
                'invalid_request', "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
            )
        if kind == 'any' and not names:
            raise self.refuse('invalid_request', "tool_choice: 'any' requires tools")
        conv.parallel_tool_calls = choice.get('disable_parallel_tool_use') is not True

    def _apply_thinking(self, conv: Conversation, body: Json) -> None:
        thinking = body.get('thinking')
        if thinking is None:
            return
        kind = thinking.get('type') if isinstance(thinking, dict) else None
        if kind == 'disabled':
            return
        if kind == 'adaptive':
            conv.thinking_budget = body['max_tokens']
        elif kind == 'enabled':
            budget = thinking.get('budget_tokens')
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_THINKING_BUDGET:
                message = f'thinking.enabled.budget_tokens: Input should be >= {MIN_THINKING_BUDGET}'
                raise self.refuse('invalid_request', message)
            if body['max_tokens'] <= budget:
                raise self.refuse(
                    'invalid_request', '`max_tokens` must be greater than `thinking.budget_tokens`'
                )
            conv.thinking_budget = budget
        else:
            raise self.refuse(
                'invalid_request', "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'"
            )
        if conv.forced_tool is not None or conv.tool_choice == 'required':
            raise self.refuse(
                'invalid_request', 'Thinking may not be enabled when tool_choice forces tool use.'
            )


ANTHROPIC = AnthropicVendor()
VENDORS: tuple[Vendor, ...] = (ANTHROPIC,)


def _request_id() -> str:
    return f'req_emu{time.monotonic_ns() % 10**20:020d}'


def _content_blocks(content: Any) -> list[Json]:
    if isinstance(content, str):
        return [{'type': 'text', 'text': content}]
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _text_of(content: Any) -> str:
    return ' '.join(
        str(block.get('text', '')) for block in _content_blocks(content) if block.get('type') == 'text'
    )


def count_input_tokens(body: Json) -> int:
    """The input tokens the emulator reports for a Messages request body.

    `REQUEST_TOKENS`, plus for the system prompt and each message `MESSAGE_TOKENS` and
    `count_tokens` of its text (text and thinking blocks, tool names and inputs, tool results);
    `IMAGE_TOKENS` per image or document; offered tools cost the tokens of their JSON.
    """
    total = REQUEST_TOKENS
    system = body.get('system')
    if system:
        total += MESSAGE_TOKENS + count_tokens(system if isinstance(system, str) else _text_of(system))
    for message in body.get('messages') or []:
        if isinstance(message, dict):
            total += MESSAGE_TOKENS + sum(
                _block_tokens(block) for block in _content_blocks(message.get('content'))
            )
    if body.get('tools'):
        total += json_tokens(body['tools'])
    return total


def _block_tokens(block: Json) -> int:
    kind = block.get('type')
    if kind in ('image', 'document'):
        return IMAGE_TOKENS
    if kind == 'tool_use':
        return count_tokens(str(block.get('name', ''))) + count_tokens(
            orjson.dumps(block.get('input', {})).decode()
        )
    if kind == 'tool_result':
        return count_tokens(_text_of(block.get('content', '')))
    return count_tokens(str(block.get('text') or block.get('thinking') or ''))


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


def _usage(input_tokens: int, output_tokens: int) -> Json:
    return {
        'input_tokens': input_tokens,
        'cache_creation_input_tokens': 0,
        'cache_read_input_tokens': 0,
        'output_tokens': output_tokens,
    }


def _blocks(reply: Reply) -> list[tuple[Json, list[Json]]]:
    """Each content block of the reply, whole, with the deltas that stream it."""
    blocks: list[tuple[Json, list[Json]]] = []
    if reply.thinking:
        thinking = {'type': 'thinking', 'thinking': ''.join(reply.thinking), 'signature': reply.signature}
        blocks.append((thinking, [{'type': 'thinking_delta', 'thinking': part} for part in reply.thinking]))
    if reply.text or not reply.tool_calls:
        text = ''.join(reply.text)
        blocks.append(
            ({'type': 'text', 'text': text}, [{'type': 'text_delta', 'text': part} for part in reply.text])
        )
    for call in reply.tool_calls:
        tool_use = {'type': 'tool_use', 'id': 'toolu_' + call.id.removeprefix('call_'), 'name': call.name}
        # Anthropic's first argument delta is empty, and a tool without arguments gets only that one.
        parts = [] if call.arguments == '{}' else call.argument_fragments
        deltas = [{'type': 'input_json_delta', 'partial_json': part} for part in ['', *parts]]
        blocks.append(({**tool_use, 'input': orjson.loads(call.arguments)}, deltas))
    return blocks


def _empty(block: Json) -> Json:
    """A block as `content_block_start` opens it: text, thinking and signature empty, input `{}`."""
    if block['type'] == 'tool_use':
        return {**block, 'input': {}}
    return {key: value if key == 'type' else '' for key, value in block.items()}


def _frames(reply: Reply, message_id: str, model: str, usage: Json) -> list[Frame]:
    """The named events of a streamed message; each delta but the leading empty one is a token."""
    message: Json = {
        'id': message_id,
        'type': 'message',
        'role': 'assistant',
        'model': model,
        'content': [],
        'stop_reason': None,
        'stop_sequence': None,
        'usage': {**usage, 'output_tokens': 1, 'service_tier': 'standard'},
    }
    frames = [Frame(HEAD, ('message_start', {'type': 'message_start', 'message': message}))]
    for index, (block, deltas) in enumerate(_blocks(reply)):
        start = {'type': 'content_block_start', 'index': index, 'content_block': _empty(block)}
        frames.append(Frame(OPEN, ('content_block_start', start)))
        if index == 0:
            frames.append(Frame(OPEN, ('ping', {'type': 'ping'})))
        for delta in deltas:
            event = ('content_block_delta', {'type': 'content_block_delta', 'index': index, 'delta': delta})
            # The leading empty argument delta is no token (unless it is the only one, for `{}`).
            is_token = delta.get('partial_json') != '' or len(deltas) == 1
            frames.append(Frame(TOKEN, event, 1) if is_token else Frame(OPEN, event))
        if block['type'] == 'thinking':
            signature = {'type': 'signature_delta', 'signature': block['signature']}
            event = (
                'content_block_delta',
                {'type': 'content_block_delta', 'index': index, 'delta': signature},
            )
            frames.append(Frame(CLOSE, event))
        frames.append(Frame(CLOSE, ('content_block_stop', {'type': 'content_block_stop', 'index': index})))
    delta = {'stop_reason': _STOP_REASONS[reply.finish], 'stop_sequence': reply.stop_sequence}
    frames.append(Frame(CLOSE, ('message_delta', {'type': 'message_delta', 'delta': delta, 'usage': usage})))
    frames.append(Frame(CLOSE, ('message_stop', {'type': 'message_stop'})))
    return frames
