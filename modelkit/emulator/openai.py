"""OpenAI chat completions, as the emulator speaks them.

Routes:
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

import math
import time
from collections.abc import AsyncGenerator
from typing import Any, Literal

import anyio
import orjson

from ._script import (
    MID_STREAM_FAULTS,
    ControlError,
    Controls,
    Conversation,
    Pacer,
    Reply,
    ToolCallPlan,
    ToolSpec,
    count_tokens,
    parse_controls,
    plan_reply,
)
from ._server import DropConnection, EmulatorState, Request, Response, Router

__all__ = ('PER_MESSAGE_TOKENS', 'REPLY_PRIMER_TOKENS', 'count_prompt_tokens', 'register')

PER_MESSAGE_TOKENS = 3
"""Tokens each message costs on top of its text (role and separators), as OpenAI's counts imply."""
REPLY_PRIMER_TOKENS = 3
"""Tokens the reply's own header costs in the prompt count."""
IMAGE_TOKENS = 85
"""Prompt tokens charged per image part (OpenAI's price of a low-detail image)."""
MAX_CHOICES = 8
"""Largest `n` accepted: more choices multiply work for no test we need."""
_SYSTEM_FINGERPRINT = 'fp_emulator'

Vendor = Literal['openai', 'azure']
_Json = dict[str, Any]


def register(router: Router) -> None:
    """Add the OpenAI and Azure OpenAI routes."""
    router.add('POST', r'/openai/deployments/(?P<deployment>[^/]+)/chat/completions', _azure_chat)
    router.add('POST', r'(?:/[^/]+)*/chat/completions', _openai_chat)
    router.add('GET', r'(?:/openai|/api|/inference)?(?:/v1)?/models', _list_models)


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        self.message = message
        self.param = param
        self.status = status
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# Errors, in each vendor's shape
# --------------------------------------------------------------------------------------------


def _error(
    vendor: Vendor,
    status: int,
    message: str,
    *,
    type_: str = 'invalid_request_error',
    param: str | None = None,
    code: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    if vendor == 'azure':
        # Azure's gateway answers auth and throttling errors with only the status as code and a
        # message; errors from the model itself keep OpenAI's fields.
        if status in (401, 429):
            payload: _Json = {'error': {'code': str(status), 'message': message}}
        else:
            payload = {'error': {'code': code, 'message': message, 'type': type_, 'param': param}}
    else:
        payload = {'error': {'message': message, 'type': type_, 'param': param, 'code': code}}
    return Response.json(status, payload, headers or [])


def _fault_response(vendor: Vendor, fault: str, controls: Controls) -> Response:
    if fault == '429':
        wait_ms = controls.retry_after_ms
        headers = [
            ('retry-after', str(math.ceil(wait_ms / 1000))),
            ('retry-after-ms', str(wait_ms)),
            ('x-ratelimit-limit-requests', '60'),
            ('x-ratelimit-remaining-requests', '0'),
            ('x-ratelimit-reset-requests', f'{wait_ms}ms'),
        ]
        message = f'Rate limit reached for requests (emulated). Please try again in {wait_ms}ms.'
        return _error(vendor, 429, message, type_='requests', code='rate_limit_exceeded', headers=headers)
    if fault == '503':
        message = 'The server is overloaded or not ready yet (emulated).'
        return _error(vendor, 503, message, type_='server_error')
    message = 'The server had an error while processing your request (emulated).'
    return _error(vendor, 500, message, type_='server_error')


def _presented_key(request: Request, vendor: Vendor) -> str | None:
    if vendor == 'azure' and request.headers.get('api-key'):
        return request.headers['api-key']
    scheme, _, token = request.headers.get('authorization', '').partition(' ')
    if scheme.lower() == 'bearer' and token.strip():
        return token.strip()
    return None


def _check_auth(request: Request, state: EmulatorState, vendor: Vendor) -> tuple[str | None, Response | None]:
    key = _presented_key(request, vendor)
    expected = state.config.api_key
    if key is not None and (expected is None or key == expected):
        return key, None
    if vendor == 'azure':
        message = 'Access denied: the api-key header is missing or does not match this resource (emulated).'
        return None, _error('azure', 401, message, code='401')
    if key is None:
        message = (
            "You didn't provide an API key. Send it in the Authorization header as a bearer token "
            '(Authorization: Bearer YOUR_KEY).'
        )
    else:
        # Show only the key's ends, as OpenAI does, so logs of the error never hold the key.
        shown = f'{key[:3]}***{key[-4:]}' if len(key) > 8 else '***'
        message = f'Incorrect API key provided: {shown}. The emulator accepts the key it was started with.'
    return None, _error('openai', 401, message, code='invalid_api_key')


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


async def _list_models(request: Request, state: EmulatorState) -> Response:
    _, refused = _check_auth(request, state, 'openai')
    if refused is not None:
        return refused
    data = [
        {'id': name, 'object': 'model', 'created': 1_700_000_000, 'owned_by': 'modelkit-emulator'}
        for name in state.config.models
    ]
    return Response.json(200, {'object': 'list', 'data': data})


async def _openai_chat(request: Request, state: EmulatorState) -> Response:
    return await _chat(request, state, 'openai', deployment=None)


async def _azure_chat(request: Request, state: EmulatorState) -> Response:
    if not request.query.get('api-version'):
        return _error('azure', 404, 'Resource not found: the api-version query parameter is required.')
    return await _chat(request, state, 'azure', deployment=request.path_params['deployment'])


async def _chat(
    request: Request, state: EmulatorState, vendor: Vendor, *, deployment: str | None
) -> Response:
    key, refused = _check_auth(request, state, vendor)
    if refused is not None or key is None:
        return refused or _error(vendor, 401, 'unauthorized')
    try:
        body = _parse_body(request.body, deployment)
        model, controls = parse_controls(body['model'], request.headers, state.config)
        conversation = _conversation(body)
        choices = body.get('n', 1)
        if not isinstance(choices, int) or isinstance(choices, bool) or not 1 <= choices <= MAX_CHOICES:
            raise _BadRequest(f'n must be an integer from 1 to {MAX_CHOICES}', 'n')
    except ControlError as exc:
        return _error(vendor, 400, str(exc), param=exc.option)
    except _BadRequest as exc:
        return _error(vendor, exc.status, exc.message, param=exc.param)

    fault = state.faults.strike(key, controls)
    if fault in ('429', '500', '503'):
        return _fault_response(vendor, fault, controls)
    if fault == 'slow-first-byte':
        await anyio.sleep(controls.slow_first_byte)

    seed = body.get('seed', state.config.seed)
    replies = [
        plan_reply(conversation, tokens=controls.tokens, seed=seed, salt=str(i) if i else '')
        for i in range(choices)
    ]
    forced = conversation.forced_tool is not None
    completion_id = f'chatcmpl-emu{state.next_id():024d}'
    meta: _Json = {
        'id': completion_id,
        'created': int(time.time()),
        'model': model,
        'system_fingerprint': _SYSTEM_FINGERPRINT,
    }
    usage = _usage(count_prompt_tokens(body), sum(reply.deltas for reply in replies))
    headers = [('x-request-id', f'req_emu{completion_id[-12:]}'), ('openai-processing-ms', '1')]
    pacer = Pacer(controls)
    if body.get('stream') is True:
        stream_options = body.get('stream_options')
        include_usage = isinstance(stream_options, dict) and stream_options.get('include_usage') is True
        events = _stream(replies, meta, usage if include_usage else None, pacer, controls, fault, forced)
        return Response(200, [('content-type', 'text/event-stream; charset=utf-8'), *headers], stream=events)

    await pacer.whole_reply(max((reply.deltas for reply in replies), default=0))
    if fault in MID_STREAM_FAULTS and fault != 'stream-error':
        payload = orjson.dumps(_completion(replies, meta, usage, forced))
        return _broken_body(payload, headers, drop=fault == 'drop')
    if fault == 'stream-error':
        return _fault_response(vendor, '500', controls)
    return Response.json(200, _completion(replies, meta, usage, forced), headers)


def _broken_body(payload: bytes, headers: list[tuple[str, str]], *, drop: bool) -> Response:
    """A non-streamed answer that breaks half way: the connection drops, or the JSON is cut short."""
    half = payload[: len(payload) // 2]
    if not drop:
        return Response(200, [('content-type', 'application/json'), *headers], half)

    async def halves() -> AsyncGenerator[bytes, None]:
        yield half
        raise DropConnection

    length = ('content-length', str(len(payload)))
    return Response(200, [('content-type', 'application/json'), length, *headers], stream=halves())


# --------------------------------------------------------------------------------------------
# Reading the request
# --------------------------------------------------------------------------------------------


def _parse_body(raw: bytes, deployment: str | None) -> _Json:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _BadRequest(
            'We could not parse the JSON body of your request: send a JSON object with '
            'Content-Type: application/json.'
        ) from None
    if not isinstance(body, dict):
        raise _BadRequest('The request body must be a JSON object.')
    model = body.get('model') or deployment
    if not isinstance(model, str) or not model:
        raise _BadRequest('you must provide a model parameter', 'model')
    body['model'] = model
    messages = body.get('messages')
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("Missing required parameter: 'messages'.", 'messages')
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get('role'), str):
            raise _BadRequest(
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


def _tool_specs(body: _Json) -> list[ToolSpec]:
    tools = body.get('tools') or []
    if not isinstance(tools, list):
        raise _BadRequest("Invalid type for 'tools': expected an array of objects.", 'tools')
    specs = []
    for i, tool in enumerate(tools):
        function = tool.get('function') if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get('name'), str):
            raise _BadRequest(
                f"Missing required parameter: 'tools[{i}].function.name'.", f'tools[{i}].function'
            )
        specs.append(ToolSpec(function['name'], function.get('parameters')))
    return specs


def _conversation(body: _Json) -> Conversation:
    messages: list[_Json] = body['messages']
    tools = _tool_specs(body)
    names = {tool.name for tool in tools}
    conv = Conversation(prompt='', tools=tools)

    choice = body.get('tool_choice', 'auto')
    if isinstance(choice, dict):
        function = choice.get('function')
        name = function.get('name') if isinstance(function, dict) else None
        if name not in names:
            raise _BadRequest(
                f"Invalid value for 'tool_choice': no tool named {name!r} was offered.", 'tool_choice'
            )
        conv.forced_tool = name
    elif choice in ('auto', 'none', 'required'):
        conv.tool_choice = choice
    elif choice is not None:
        raise _BadRequest(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.",
            'tool_choice',
        )
    if choice == 'required' and not tools:
        raise _BadRequest("Invalid value for 'tool_choice': 'required' needs 'tools'.", 'tool_choice')
    conv.parallel_tool_calls = body.get('parallel_tool_calls', True) is not False

    call_names: dict[str, str] = {}
    for message in messages:
        for call in message.get('tool_calls') or []:
            function = call.get('function') if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get('name'), str):
                conv.called_tools.add(function['name'])
                call_names[str(call.get('id'))] = function['name']
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
                raise _BadRequest(
                    "Missing required parameter: 'response_format.json_schema.name'.", 'response_format'
                )
            conv.json_schema = spec.get('schema') or {'type': 'object'}
        elif kind == 'json_object':
            conv.json_object = True
        elif kind != 'text':
            raise _BadRequest(f"Invalid value for 'response_format.type': {kind!r}.", 'response_format.type')
    limit = body.get('max_completion_tokens', body.get('max_tokens'))
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise _BadRequest('max_tokens must be a positive integer', 'max_tokens')
        conv.max_tokens = limit
    return conv


def count_prompt_tokens(body: _Json) -> int:
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
            total += count_tokens(orjson.dumps(body[key]).decode())
    return total


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


def _usage(prompt_tokens: int, completion_tokens: int) -> _Json:
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


def _finish_reason(reply: Reply, forced: bool) -> str:
    return 'stop' if reply.finish == 'tool_calls' and forced else reply.finish


def _completion(replies: list[Reply], meta: _Json, usage: _Json, forced: bool) -> _Json:
    choices = []
    for index, reply in enumerate(replies):
        message: _Json = {
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


def _sse(payload: Any) -> bytes:
    return b'data: ' + orjson.dumps(payload) + b'\n\n'


async def _stream(
    replies: list[Reply],
    meta: _Json,
    usage: _Json | None,
    pacer: Pacer,
    controls: Controls,
    fault: str | None,
    forced: bool,
) -> AsyncGenerator[bytes, None]:
    """The SSE events of a streamed completion, paced.

    A mid-stream fault strikes once `fault_after` content or argument deltas are out, and at the
    latest before the last finish chunk, so every stream it applies to is visibly incomplete.
    """
    head = _chunk_meta(meta)

    def chunk(index: int, delta: _Json, finish: str | None = None) -> bytes:
        choice = {'index': index, 'delta': delta, 'logprobs': None, 'finish_reason': finish}
        payload: _Json = {**head, 'choices': [choice]}
        if usage is not None:
            payload['usage'] = None  # as OpenAI: present but null until the usage chunk
        return _sse(payload)

    strike = fault if fault in MID_STREAM_FAULTS else None
    strike_at = min(controls.fault_after, sum(reply.deltas for reply in replies))
    sent = 0
    pending = b''  # a choice's opening chunk leaves together with its first delta, when that is due
    for index, reply in enumerate(replies):
        opening: _Json = {'role': 'assistant', 'content': '', 'refusal': None}
        # (delta, whether it is a token): a tool call opens with its id and name, then arguments.
        deltas: list[tuple[_Json, bool]] = [({'content': text}, True) for text in reply.text]
        for position, call in enumerate(reply.tool_calls):
            start = {'tool_calls': [_call_start(position, call)]}
            if position == 0:
                opening = {'role': 'assistant', 'content': None, **start, 'refusal': None}
            else:
                deltas.append((start, False))
            deltas += [
                ({'tool_calls': [{'index': position, 'function': {'arguments': part}}]}, True)
                for part in call.argument_fragments
            ]
        pending += chunk(index, opening)
        for delta, is_token in deltas:
            if strike is not None and sent >= strike_at:
                break
            await pacer.next_token()
            yield pending + chunk(index, delta)
            pending = b''
            sent += is_token
        if strike is not None and sent >= strike_at:
            break
        if pending:
            await pacer.next_token()
        yield pending + chunk(index, {}, _finish_reason(reply, forced))
        pending = b''

    if strike is not None:
        if pending:
            yield pending
        if strike == 'drop':
            raise DropConnection
        if strike == 'stream-error':
            message = 'The server had an error while generating the response (emulated stream error).'
            yield _sse({'error': {'message': message, 'type': 'server_error', 'param': None, 'code': None}})
        return  # 'truncate', or after an error event: the stream ends cleanly, without [DONE]
    if usage is not None:
        yield _sse({**head, 'choices': [], 'usage': usage})
    yield b'data: [DONE]\n\n'


def _chunk_meta(meta: _Json) -> _Json:
    return {
        'id': meta['id'],
        'object': 'chat.completion.chunk',
        'created': meta['created'],
        'model': meta['model'],
        'service_tier': 'default',
        'system_fingerprint': meta['system_fingerprint'],
    }


def _call_start(position: int, call: ToolCallPlan) -> _Json:
    function = {'name': call.name, 'arguments': ''}
    return {'index': position, 'id': call.id, 'type': 'function', 'function': function}
