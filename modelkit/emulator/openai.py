"""OpenAI chat completions, as the emulator speaks them.

Two vendor protocols (`VENDORS`), built on the core in `_vendor.py`:
- `POST /v1/chat/completions`, and the same under any prefix OpenAI-compatible vendors use
  (`/openai/v1/...` Groq, `/api/v1/...` OpenRouter, `/inference/v1/...` Fireworks, or none as
  DeepSeek and Perplexity allow); auth by `Authorization: Bearer <key>`.
- `POST /openai/deployments/{deployment}/chat/completions?api-version=...` (Azure OpenAI); auth by
  the `api-key` header (or a bearer token), errors in Azure's `{"error": {"code", "message"}}` shape.
- `GET /v1/models` (and the same prefixes): a few models.

Shapes follow OpenAI's API reference and recorded traffic: errors are
`{"error": {"message", "type", "param", "code"}}`; a stream is SSE `data:` lines with a role chunk,
content or tool-call deltas (a call starts with index, id and name, then argument fragments), a
finish chunk, with `stream_options.include_usage` a usage chunk whose `choices` is empty, then
`data: [DONE]`. As OpenAI does, a call forced by naming the function in `tool_choice` finishes
with `stop`, not `tool_calls`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any
from typing import ClassVar

import orjson

from ._script import Controls
from ._script import Conversation
from ._script import Reply
from ._script import ToolCallPlan
from ._script import ToolSpec
from ._script import count_tokens
from ._script import json_tokens
from ._script import plan_reply
from ._server import EmulatorState
from ._server import Request
from ._server import Response
from ._vendor import CLOSE
from ._vendor import OPEN
from ._vendor import TOKEN
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Handler
from ._vendor import Json
from ._vendor import SSEEncoder
from ._vendor import Vendor

__all__ = (
    'AZURE',
    'OPENAI',
    'PER_MESSAGE_TOKENS',
    'REPLY_PRIMER_TOKENS',
    'VENDORS',
    'AzureVendor',
    'BadRequest',
    'OpenAIDialectVendor',
    'OpenAIVendor',
    'count_prompt_tokens',
)

PER_MESSAGE_TOKENS = 3
"""Tokens each message costs on top of its text (role and separators), as OpenAI's counts imply."""
REPLY_PRIMER_TOKENS = 3
"""Tokens the reply's own header costs in the prompt count."""
IMAGE_TOKENS = 85
"""Prompt tokens charged per image part (OpenAI's price of a low-detail image)."""
MAX_CHOICES = 8
"""Largest `n` accepted: more choices multiply work for no test we need."""
AZURE_API_VERSION = '2024-10-21'
"""The `api-version` the environment lines suggest (any non-empty value is accepted)."""
_SYSTEM_FINGERPRINT = 'fp_emulator'

_OPENAI_TYPES: dict[ErrorKind, str] = {
    'rate_limit': 'requests',
    'server': 'server_error',
    'unavailable': 'server_error',
    'overloaded': 'server_error',
}
_OPENAI_CODES: dict[ErrorKind, str] = {
    'authentication': 'invalid_api_key',
    'rate_limit': 'rate_limit_exceeded',
}
_FAULT_MESSAGES: dict[ErrorKind, str] = {
    'server': 'The server had an error while processing your request (emulated).',
    'unavailable': 'The server is overloaded or not ready yet (emulated).',
}


class BadRequest(Exception):
    """A request the vendor refuses: raised while reading it, answered in the vendor's error shape."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        self.message = message
        self.param = param
        self.status = status
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# The vendors: auth rule, error shapes, routes
# --------------------------------------------------------------------------------------------


class OpenAIVendor(Vendor):
    """OpenAI's chat completions: bearer key, `{"error": {message, type, param, code}}` errors."""

    prefix: ClassVar[str] = 'openai'
    base_path: ClassVar[str] = '/v1'
    env: ClassVar[dict[str, str]] = {'OPENAI_BASE_URL': '{base_url}', 'OPENAI_API_KEY': '{api_key}'}
    fault_messages = _FAULT_MESSAGES

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """Chat completions under any prefix, and the model list."""
        yield 'POST', r'(?:/[^/]+)*/chat/completions', self._chat_route
        yield 'GET', r'(?:/openai|/api|/inference)?(?:/v1)?/models', self._list_models

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """OpenAI's error object."""
        error_type = _OPENAI_TYPES.get(kind, 'invalid_request_error')
        return {
            'error': {'message': message, 'type': error_type, 'param': param, 'code': _OPENAI_CODES.get(kind)}
        }

    def rate_limit_headers(self, wait_ms: int) -> list[tuple[str, str]]:
        """OpenAI's request-limit headers, exhausted."""
        return [
            ('x-ratelimit-limit-requests', '60'),
            ('x-ratelimit-remaining-requests', '0'),
            ('x-ratelimit-reset-requests', f'{wait_ms}ms'),
        ]

    def fault_message(self, kind: ErrorKind, controls: Controls) -> str:
        """OpenAI's wording of each fault."""
        if kind == 'rate_limit':
            wait_ms = controls.retry_after_ms
            return f'Rate limit reached for requests (emulated). Please try again in {wait_ms}ms.'
        return super().fault_message(kind, controls)

    def auth_message(self, key: str | None) -> str:
        """OpenAI's 401 wording; a wrong key shows only its ends, as OpenAI does."""
        if key is None:
            return (
                "You didn't provide an API key. Send it in the Authorization header as a bearer token "
                '(Authorization: Bearer YOUR_KEY).'
            )
        shown = f'{key[:3]}***{key[-4:]}' if len(key) > 8 else '***'
        return f'Incorrect API key provided: {shown}. The emulator accepts the key it was started with.'

    def not_found_message(self, request: Request) -> str:
        """OpenAI's 404 wording."""
        return f'Invalid URL ({request.method} {request.path})'

    async def _list_models(self, request: Request, state: EmulatorState) -> Response:
        self.authenticate(request, state)
        data = [
            {'id': name, 'object': 'model', 'created': 1_700_000_000, 'owned_by': 'modelkit-emulator'}
            for name in state.config.models
        ]
        return Response.json(200, {'object': 'list', 'data': data})

    async def _chat_route(self, request: Request, state: EmulatorState) -> Response:
        return await self.chat(request, state, deployment=None)

    async def chat(self, request: Request, state: EmulatorState, *, deployment: str | None) -> Response:
        """A chat completion, plain or streamed (a dialect changes it through the hooks below)."""
        key = self.authenticate(request, state)
        try:
            body = _parse_body(request.body, deployment)
            conversation = self.conversation(body)
            choices = body.get('n', 1)
            if not isinstance(choices, int) or isinstance(choices, bool) or not 1 <= choices <= MAX_CHOICES:
                raise BadRequest(f'n must be an integer from 1 to {MAX_CHOICES}', 'n')
        except BadRequest as exc:
            raise self.refuse('invalid_request', exc.message, status=exc.status, param=exc.param) from None
        model, controls, fault = await self.admit(request, state, key, body['model'])

        seed = body.get(self.seed_field, state.config.seed)
        replies = [
            plan_reply(conversation, tokens=controls.tokens, seed=seed, salt=str(i) if i else '')
            for i in range(choices)
        ]
        forced = conversation.forced_tool is not None
        completion_id = self.completion_id(state.next_id())
        meta: Json = {
            'id': completion_id,
            'created': int(time.time()),
            'model': model,
            'system_fingerprint': _SYSTEM_FINGERPRINT,
        }
        usage = self.usage(count_prompt_tokens(body), sum(reply.deltas for reply in replies))
        headers = [('x-request-id', f'req_emu{completion_id[-12:]}'), ('openai-processing-ms', '1')]
        if body.get('stream') is True:
            stream_options = body.get('stream_options')
            include_usage = isinstance(stream_options, dict) and stream_options.get('include_usage') is True
            frames = self.stream_frames(replies, meta, usage, include_usage, forced)
            return self.stream_response(frames, self.encoder(), controls, fault, headers)
        payload = self.completion(replies, meta, usage, forced)
        tokens = max((reply.deltas for reply in replies), default=0)
        return await self.plain_response(payload, headers, controls, fault, tokens)

    # -- hooks for a dialect's subclass (Groq, Mistral) ----------------------------------------

    seed_field: ClassVar[str] = 'seed'
    """The request field carrying the seed (Mistral's `random_seed`)."""

    def conversation(self, body: Json) -> Conversation:
        """What the request asks, for `plan_reply`; raises `BadRequest` for a request OpenAI refuses."""
        return _conversation(body)

    def completion_id(self, number: int) -> str:
        """The id of the `number`-th completion."""
        return f'chatcmpl-emu{number:024d}'

    def stream_frames(
        self, replies: list[Reply], meta: Json, usage: Json, include_usage: bool, forced: bool
    ) -> list[Frame]:
        """The chunks of a streamed completion (usage in its own chunk, when asked for)."""
        return _frames(replies, meta, usage if include_usage else None, forced)

    def completion(self, replies: list[Reply], meta: Json, usage: Json, forced: bool) -> Json:
        """The body of a whole completion."""
        return _completion(replies, meta, usage, forced)

    def encoder(self) -> SSEEncoder:
        """The stream's encoder: unnamed `data:` events, an unnamed error object, `[DONE]`."""
        return SSEEncoder(self, done='[DONE]')

    def usage(self, prompt_tokens: int, completion_tokens: int) -> Json:
        """The usage object for these counts."""
        return {
            'prompt_tokens': prompt_tokens,
            'completion_tokens': completion_tokens,
            'total_tokens': prompt_tokens + completion_tokens,
            'prompt_tokens_details': {'cached_tokens': 0, 'audio_tokens': 0},
            'completion_tokens_details': {
                'reasoning_tokens': 0,
                'audio_tokens': 0,
                'accepted_prediction_tokens': 0,
                'rejected_prediction_tokens': 0,
            },
        }


class OpenAIDialectVendor(OpenAIVendor):
    """An OpenAI dialect served under its own `base_path` (Groq's `/openai/v1`, Mistral's
    `/mistral/v1`): a subclass states its prefix, base path, env and what its dialect changes."""

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """Chat completions and the model list, under `base_path`."""
        yield 'POST', re.escape(self.base_path) + r'/chat/completions', self._chat_route
        yield 'GET', re.escape(self.base_path) + r'/models', self._list_models

    def claims(self, request: Request) -> bool:
        """Requests under the base path's first segment only: a bearer key alone is every
        OpenAI-compatible client's."""
        first = '/' + self.base_path.strip('/').split('/')[0] + '/'
        return request.path.startswith(first) and super().claims(request)


class AzureVendor(OpenAIVendor):
    """Azure OpenAI: deployments in the path, the `api-key` header, Azure's gateway error shape."""

    prefix: ClassVar[str] = 'azure'
    base_path: ClassVar[str] = ''
    env: ClassVar[dict[str, str]] = {
        'AZURE_OPENAI_ENDPOINT': '{base_url}',
        'AZURE_OPENAI_API_KEY': '{api_key}',
        'OPENAI_API_VERSION': AZURE_API_VERSION,
    }

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """Chat completions per deployment."""
        yield 'POST', r'/openai/deployments/(?P<deployment>[^/]+)/chat/completions', self._azure_chat

    def api_key(self, request: Request) -> str | None:
        """The `api-key` header, or a bearer token (Entra ID)."""
        return request.headers.get('api-key') or super().api_key(request)

    def claims(self, request: Request) -> bool:
        """Requests carrying Azure's `api-key` header."""
        return bool(request.headers.get('api-key'))

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Azure's gateway answers auth and throttling errors with only the status as code and a
        message; errors from the model itself keep OpenAI's fields."""
        if status in (401, 429):
            return {'error': {'code': str(status), 'message': message}}
        error = super().error_payload(kind, message, status, param=param)['error']
        return {'error': {'code': error['code'], 'message': message, 'type': error['type'], 'param': param}}

    def auth_message(self, key: str | None) -> str:
        """Azure's 401 wording."""
        return 'Access denied: the api-key header is missing or does not match this resource (emulated).'

    async def _azure_chat(self, request: Request, state: EmulatorState) -> Response:
        if not request.query.get('api-version'):
            message = 'Resource not found: the api-version query parameter is required.'
            return self.error_response('not_found', message)
        return await self.chat(request, state, deployment=request.path_params['deployment'])


OPENAI = OpenAIVendor()
AZURE = AzureVendor()
VENDORS: tuple[Vendor, ...] = (AZURE, OPENAI)
"""Azure first: its deployment route is more specific than OpenAI's prefix-agnostic chat route."""


# --------------------------------------------------------------------------------------------
# Reading the request
# --------------------------------------------------------------------------------------------


def _parse_body(raw: bytes, deployment: str | None) -> Json:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(
            'We could not parse the JSON body of your request: send a JSON object with '
            'Content-Type: application/json.'
        ) from None
    if not isinstance(body, dict):
        raise BadRequest('The request body must be a JSON object.')
    model = body.get('model') or deployment
    if not isinstance(model, str) or not model:
        raise BadRequest('you must provide a model parameter', 'model')
    body['model'] = model
    messages = body.get('messages')
    if not isinstance(messages, list) or not messages:
        raise BadRequest("Missing required parameter: 'messages'.", 'messages')
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get('role'), str):
            raise BadRequest(
                f"Invalid type for 'messages[{i}]': expected an object with a role.", f'messages[{i}]'
            )
    return body


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return ' '.join(
            str(part.get('text', ''))
            for part in content
            if isinstance(part, dict) and part.get('type') == 'text'
        )
    return ''


def _tool_specs(body: Json) -> list[ToolSpec]:
    tools = body.get('tools') or []
    if not isinstance(tools, list):
        raise BadRequest("Invalid type for 'tools': expected an array of objects.", 'tools')
    specs = []
    for i, tool in enumerate(tools):
        function = tool.get('function') if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get('name'), str):
            raise BadRequest(
                f"Missing required parameter: 'tools[{i}].function.name'.", f'tools[{i}].function'
            )
        specs.append(ToolSpec(function['name'], function.get('parameters')))
    return specs


def _conversation(body: Json) -> Conversation:
    messages: list[Json] = body['messages']
    tools = _tool_specs(body)
    names = {tool.name for tool in tools}
    conv = Conversation(prompt='', tools=tools)

    choice = body.get('tool_choice', 'auto')
    if isinstance(choice, dict):
        function = choice.get('function')
        name = function.get('name') if isinstance(function, dict) else None
        if name not in names:
            raise BadRequest(
                f"Invalid value for 'tool_choice': no tool named {name!r} was offered.", 'tool_choice'
            )
        conv.forced_tool = name
    elif choice in ('auto', 'none', 'required'):
        conv.tool_choice = choice
    elif choice is not None:
        raise BadRequest(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.",
            'tool_choice',
        )
    if choice == 'required' and not tools:
        raise BadRequest("Invalid value for 'tool_choice': 'required' needs 'tools'.", 'tool_choice')
    conv.parallel_tool_calls = body.get('parallel_tool_calls', True) is not False

    call_names = conv.note_chat_tool_calls(messages)
    conv.prompt = next((_text_of(m.get('content')) for m in reversed(messages) if m['role'] == 'user'), '')
    last = messages[-1]
    if last['role'] in ('tool', 'function'):
        name = call_names.get(str(last.get('tool_call_id')), last.get('name') or 'the tool')
        conv.tool_result = (str(name), _text_of(last.get('content')))

    response_format = body.get('response_format')
    if isinstance(response_format, dict):
        kind = response_format.get('type')
        if kind == 'json_schema':
            spec = response_format.get('json_schema')
            if not isinstance(spec, dict) or not isinstance(spec.get('name'), str):
                raise BadRequest(
                    "Missing required parameter: 'response_format.json_schema.name'.", 'response_format'
                )
            conv.json_schema = spec.get('schema') or {'type': 'object'}
        elif kind == 'json_object':
            conv.json_object = True
        elif kind != 'text':
            raise BadRequest(f"Invalid value for 'response_format.type': {kind!r}.", 'response_format.type')
    limit = body.get('max_completion_tokens', body.get('max_tokens'))
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise BadRequest('max_tokens must be a positive integer', 'max_tokens')
        conv.max_tokens = limit
    return conv


def count_prompt_tokens(body: Json) -> int:
    """The prompt tokens the emulator reports for a chat completions request body.

    Every message costs `PER_MESSAGE_TOKENS` plus `count_tokens` of its text and tool calls (names
    and arguments); images cost `IMAGE_TOKENS` each; offered tools and the response format cost
    the tokens of their JSON; the reply adds `REPLY_PRIMER_TOKENS`.
    """
    total = REPLY_PRIMER_TOKENS
    for message in body.get('messages') or []:
        if not isinstance(message, dict):
            continue
        total += PER_MESSAGE_TOKENS + count_tokens(_text_of(message.get('content')))
        content = message.get('content')
        if isinstance(content, list):
            total += IMAGE_TOKENS * sum(
                1 for part in content if isinstance(part, dict) and part.get('type') == 'image_url'
            )
        for call in message.get('tool_calls') or []:
            function = call.get('function') if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += count_tokens(str(function.get('name', ''))) + count_tokens(
                    str(function.get('arguments', ''))
                )
    for key in ('tools', 'response_format'):
        if body.get(key):
            total += json_tokens(body[key])
    return total


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


def _finish_reason(reply: Reply, forced: bool) -> str:
    return 'stop' if reply.finish == 'tool_calls' and forced else reply.finish


def _completion(replies: list[Reply], meta: Json, usage: Json, forced: bool) -> Json:
    choices = []
    for index, reply in enumerate(replies):
        message: Json = {
            'role': 'assistant',
            'content': ''.join(reply.text) if not reply.tool_calls else None,
            'refusal': None,
            'annotations': [],
        }
        if reply.tool_calls:
            message['tool_calls'] = [
                {
                    'id': call.id,
                    'type': 'function',
                    'function': {'name': call.name, 'arguments': call.arguments},
                }
                for call in reply.tool_calls
            ]
        choices.append(
            {
                'index': index,
                'message': message,
                'logprobs': None,
                'finish_reason': _finish_reason(reply, forced),
            }
        )
    return {
        'id': meta['id'],
        'object': 'chat.completion',
        'created': meta['created'],
        'model': meta['model'],
        'choices': choices,
        'usage': usage,
        'service_tier': 'default',
        'system_fingerprint': meta['system_fingerprint'],
    }


def _frames(replies: list[Reply], meta: Json, usage: Json | None, forced: bool) -> list[Frame]:
    """The SSE chunks of a streamed completion: per choice a role chunk, deltas, a finish chunk.

    A tool call opens with its index, id and name (with the role chunk for the first call), then
    its argument fragments; with `include_usage`, a usage chunk with empty `choices` comes last.
    """
    head = _chunk_meta(meta)

    def chunk(index: int, delta: Json, finish: str | None = None) -> Json:
        choice = {'index': index, 'delta': delta, 'logprobs': None, 'finish_reason': finish}
        payload: Json = {**head, 'choices': [choice]}
        if usage is not None:
            payload['usage'] = None  # as OpenAI: present but null until the usage chunk
        return payload

    frames: list[Frame] = []
    for index, reply in enumerate(replies):
        opening: Json = {'role': 'assistant', 'content': '', 'refusal': None}
        deltas: list[Frame] = [Frame(TOKEN, chunk(index, {'content': text}), 1) for text in reply.text]
        for position, call in enumerate(reply.tool_calls):
            start = {'tool_calls': [_call_start(position, call)]}
            if position == 0:
                opening = {'role': 'assistant', 'content': None, **start, 'refusal': None}
            else:
                deltas.append(Frame(OPEN, chunk(index, start)))
            deltas += [
                Frame(
                    TOKEN,
                    chunk(index, {'tool_calls': [{'index': position, 'function': {'arguments': part}}]}),
                    1,
                )
                for part in call.argument_fragments
            ]
        frames += [Frame(OPEN, chunk(index, opening)), *deltas]
        frames.append(Frame(CLOSE, chunk(index, {}, _finish_reason(reply, forced))))
    if usage is not None:
        frames.append(Frame(CLOSE, {**head, 'choices': [], 'usage': usage}))
    return frames


def _chunk_meta(meta: Json) -> Json:
    return {
        'id': meta['id'],
        'object': 'chat.completion.chunk',
        'created': meta['created'],
        'model': meta['model'],
        'service_tier': 'default',
        'system_fingerprint': meta['system_fingerprint'],
    }


def _call_start(position: int, call: ToolCallPlan) -> Json:
    function = {'name': call.name, 'arguments': ''}
    return {'index': position, 'id': call.id, 'type': 'function', 'function': function}
