"""Gemini's generateContent API, as the emulator speaks it, on the Generative Language API and on
Vertex AI.

Routes (the base URL of both is the emulator's root, as google-genai and our providers take it):
- GLA: `POST /{v1beta|v1|v1alpha}/models/{model}:generateContent` and `:streamGenerateContent`,
  auth by the `x-goog-api-key` header (or `?key=`); a missing key is Google's 403
  `PERMISSION_DENIED`, a wrong one its 400 `INVALID_ARGUMENT` "API key not valid".
- Vertex AI: `POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/{pub}/models/{m}:...`,
  auth by `Authorization: Bearer <token>`: the emulator's API key, or a token the emulator's OAuth
  endpoint issued (`modelkit.emulator.google_oauth.bearer_is_valid`);
  anything else is 401 `UNAUTHENTICATED`.

Shapes follow Google's API reference and recorded traffic: errors are
`{"error": {"code", "message", "status"}}` with Google's canonical statuses, and a 429 says how
long to wait in a `google.rpc.RetryInfo` detail (`retryDelay`), not in a header; a stream with
`alt=sse` is `data: {...}\\r\\n\\r\\n` events, without it one JSON array written element by element
(`[{...}\\n,\\r\\n{...}\\n]`, pretty-printed, `application/json`). There is no end marker: the last
chunk carries `finishReason`. Every chunk carries `usageMetadata`, growing as tokens go out.
Thought summaries (`thought: true` parts) come first when `thinkingConfig.includeThoughts` is set,
and the first part after them carries the `thoughtSignature`. Function calls arrive whole, one
per chunk, without `args` when there are none. Requests are read in camelCase or in the
snake_case proto names (`function_call`, `thought_signature`), which Google accepts too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from functools import partial
from typing import Any
from typing import ClassVar

import orjson

from ._script import Controls
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
from ._vendor import ERROR_STATUS
from ._vendor import TOKEN
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Handler
from ._vendor import Json
from ._vendor import Vendor
from .google_oauth import bearer_is_valid

__all__ = ('GLA', 'VENDORS', 'VERTEX', 'GeminiVendor', 'JSONArrayEncoder', 'VertexVendor', 'prompt_tokens')

DEFAULT_THINKING_BUDGET = 1024
"""The thinking budget when `includeThoughts` is set without one (or with Gemini's -1, dynamic)."""

# Google's error objects pair the HTTP code with its canonical google.rpc status name
# (google/rpc/code.proto). A body over the emulator's size limit (413) reads as Google's answer to
# an oversized request.
_STATUSES: dict[int, str] = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    413: 'INVALID_ARGUMENT',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    503: 'UNAVAILABLE',
}
_FAULT_MESSAGES: dict[ErrorKind, str] = {
    'rate_limit': 'Resource has been exhausted (e.g. check quota). (emulated)',
    'server': 'An internal error has occurred. Please retry or report the problem. (emulated)',
    'unavailable': 'The model is overloaded. Please try again later. (emulated)',
    'overloaded': 'The model is overloaded. Please try again later. (emulated)',
}
_FINISH = {'stop': 'STOP', 'length': 'MAX_TOKENS', 'tool_calls': 'STOP', 'stop_sequence': 'STOP'}
_MODES = {'AUTO': 'auto', 'ANY': 'required', 'NONE': 'none', 'VALIDATED': 'auto'}
_RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo'


def _get(obj: Any, camel: str) -> Any:
    """`obj[camel]`, or its snake_case proto name (`functionCall` -> `function_call`), or None."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(''.join(f'_{c.lower()}' if c.isupper() else c for c in camel))


class GeminiVendor(Vendor):
    """The Generative Language API: `x-goog-api-key`, Google's errors, SSE or JSON-array streams."""

    prefix: ClassVar[str] = 'google-gla'
    env: ClassVar[dict[str, str]] = {
        'GEMINI_BASE_URL': '{base_url}',
        'GOOGLE_GEMINI_BASE_URL': '{base_url}',
        'GEMINI_API_KEY': '{api_key}',
    }
    # Google says an overloaded model is unavailable: 503, not Anthropic's 529.
    error_status = {**ERROR_STATUS, 'overloaded': 503}
    fault_messages = _FAULT_MESSAGES
    model_path: ClassVar[str] = r'/(?:v1beta|v1|v1alpha)/models/(?P<model>[^/:]+)'

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """generateContent and streamGenerateContent."""
        yield 'POST', self.model_path + r':generateContent', partial(self._answer, stream=False)
        yield 'POST', self.model_path + r':streamGenerateContent', partial(self._answer, stream=True)

    def api_key(self, request: Request) -> str | None:
        """The `x-goog-api-key` header, else the `key` query parameter."""
        return request.headers.get('x-goog-api-key', '').strip() or request.query.get('key') or None

    def claims(self, request: Request) -> bool:
        """Requests carrying a Google API key, or for a Gemini path."""
        return 'x-goog-api-key' in request.headers or ':generateContent' in request.path

    def authenticate(self, request: Request, state: EmulatorState) -> str:
        """The key, or Google's answer: 403 without one, 400 "API key not valid" for a wrong one."""
        key = self.api_key(request)
        expected = state.config.api_key
        if key is not None and (expected is None or key == expected):
            return key
        if key is None:
            message = "Method doesn't allow unregistered callers (callers without established identity)."
            raise self.refuse(
                'permission', message + ' Please use API Key or other form of API consumer identity.'
            )
        raise self.refuse('invalid_request', 'API key not valid. Please pass a valid API key.')

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Google's error object (an HTTP error body, and an in-stream error element)."""
        return {'error': {'code': status, 'message': message, 'status': _STATUSES.get(status, 'UNKNOWN')}}

    def fault_response(self, kind: ErrorKind, controls: Controls) -> Response:
        """Google's faults; a 429 says how long to wait in the body's RetryInfo, as Gemini does."""
        if kind != 'rate_limit':
            return super().fault_response(kind, controls)
        payload = self.error_payload(kind, self.fault_message(kind, controls), ERROR_STATUS[kind])
        delay = f'{controls.retry_after_ms / 1000:.3f}s'
        payload['error']['details'] = [{'@type': _RETRY_INFO, 'retryDelay': delay}]
        return Response.json(429, payload)

    def not_found_message(self, request: Request) -> str:
        """Google's 404 wording."""
        return f'The requested URL {request.path} was not found on this server.'

    # -- handlers -------------------------------------------------------------------------------

    async def _answer(self, request: Request, state: EmulatorState, *, stream: bool) -> Response:
        key = self.authenticate(request, state)
        body = self._parse_body(request.body)
        conversation = self._conversation(body)
        model, controls, fault = await self.admit(request, state, key, request.path_params['model'])
        reply = plan_reply(conversation, tokens=controls.tokens, seed=state.config.seed)
        meta = self._meta(model, state)
        prompt = prompt_tokens(body)
        if stream:
            frames = _frames(reply, meta, prompt)
            if request.query.get('alt') == 'sse':
                return self.stream_response(
                    frames, _SSEEncoder(self), controls, fault, content_type='text/event-stream'
                )
            return self.stream_response(
                frames,
                JSONArrayEncoder(self),
                controls,
                fault,
                content_type='application/json; charset=UTF-8',
            )
        payload = {**_whole(reply), 'usageMetadata': _usage(prompt, reply.deltas, reply), **meta}
        return await self.plain_response(payload, [], controls, fault, reply.deltas)

    def _meta(self, model: str, state: EmulatorState) -> Json:
        return {'modelVersion': model, 'responseId': f'emu{state.next_id():012d}'}

    # -- reading the request --------------------------------------------------------------------

    def _parse_body(self, raw: bytes) -> Json:
        body = self.json_object(
            raw,
            not_json='Invalid JSON payload received.',
            not_object='Invalid JSON payload received. Expected an object.',
        )
        contents = body.get('contents')
        if not isinstance(contents, list) or not contents:
            raise self.refuse(
                'invalid_request', '* GenerateContentRequest.contents: contents is not specified'
            )
        for i, content in enumerate(contents):
            role = _get(content, 'role')
            if role not in (None, 'user', 'model'):
                raise self.refuse('invalid_request', f'Please use a valid role: user, model. (contents[{i}])')
            parts = _get(content, 'parts')
            if not isinstance(parts, list) or not parts:
                raise self.refuse(
                    'invalid_request',
                    f'* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.',
                )
        return body

    def _conversation(self, body: Json) -> Conversation:
        contents: list[Json] = body['contents']
        tools = self._tool_specs(body.get('tools'))
        conv = Conversation(prompt='', tools=tools)
        names = {tool.name for tool in tools}
        calling = _get(_get(body, 'toolConfig'), 'functionCallingConfig')
        if isinstance(calling, dict):
            mode = str(calling.get('mode', 'AUTO')).upper()
            if mode not in _MODES and mode != 'MODE_UNSPECIFIED':
                raise self.refuse(
                    'invalid_request', f'Invalid value at tool_config.function_calling_config.mode: {mode}'
                )
            conv.tool_choice = _MODES.get(mode, 'auto')  # type: ignore[assignment]
            allowed = _get(calling, 'allowedFunctionNames') or []
            if isinstance(allowed, list) and len(allowed) == 1 and mode == 'ANY':
                if allowed[0] not in names:
                    raise self.refuse(
                        'invalid_request',
                        f'Function {allowed[0]!r} in allowed_function_names is not declared',
                    )
                conv.forced_tool = allowed[0]
        self._apply_generation_config(conv, _get(body, 'generationConfig') or {})

        calls: list[str] = []
        for content in contents:
            for part in _get(content, 'parts'):
                if isinstance(call := _get(part, 'functionCall'), dict) and isinstance(call.get('name'), str):
                    conv.called_tools.add(call['name'])
                    calls.append(call['name'])
        users = [c for c in contents if _get(c, 'role') in (None, 'user')]
        conv.prompt = ' '.join(_texts(users[-1])) if users else ''
        last = contents[-1]
        results = [r for p in _get(last, 'parts') if isinstance(r := _get(p, 'functionResponse'), dict)]
        if _get(last, 'role') in (None, 'user') and results:
            result = results[-1]
            conv.tool_result = (
                str(result.get('name', 'the tool')),
                orjson.dumps(result.get('response', {})).decode(),
            )
        return conv

    def _tool_specs(self, tools: Any) -> list[ToolSpec]:
        specs = []
        for tool in self.json_list(tools, "Invalid value at 'tools': expected a list"):
            for i, declaration in enumerate(_get(tool, 'functionDeclarations') or ()):
                if not isinstance(_get(declaration, 'name'), str):
                    raise self.refuse(
                        'invalid_request',
                        f'* GenerateContentRequest.tools[0].function_declarations[{i}].name: Field required',
                    )
                schema = _get(declaration, 'parametersJsonSchema')
                if schema is None:
                    schema = _json_schema(_get(declaration, 'parameters'))
                specs.append(ToolSpec(declaration['name'], schema))
        return specs

    def _apply_generation_config(self, conv: Conversation, config: Json) -> None:
        limit = _get(config, 'maxOutputTokens')
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise self.refuse('invalid_request', 'max_output_tokens must be a positive integer')
            conv.max_tokens = limit
        conv.stop_sequences = self.stop_sequences(
            _get(config, 'stopSequences'), 'stop_sequences must be a list of strings'
        )
        if str(_get(config, 'responseMimeType') or '').startswith('application/json'):
            schema = _get(config, 'responseJsonSchema')
            if schema is None and (openapi := _get(config, 'responseSchema')) is not None:
                schema = _json_schema(openapi)
            conv.json_schema = schema
            conv.json_object = schema is None
        thinking = _get(config, 'thinkingConfig') or {}
        if _get(thinking, 'includeThoughts') is True:
            budget = _get(thinking, 'thinkingBudget')
            conv.thinking_budget = (
                budget if isinstance(budget, int) and budget > 0 else DEFAULT_THINKING_BUDGET
            )


class VertexVendor(GeminiVendor):
    """Vertex AI's Gemini paths: the same bodies, bearer-token auth, `createTime` on answers."""

    prefix: ClassVar[str] = 'google-vertex'
    # No environment lines: Vertex clients authenticate with Google credentials, not a key to paste
    # (the emulator's OAuth endpoint, where present, issues them tokens).
    env: ClassVar[dict[str, str]] = {}
    model_path: ClassVar[str] = (
        r'/(?:v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)'
        r'/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+)'
    )

    def api_key(self, request: Request) -> str | None:
        """A bearer token."""
        return Vendor.api_key(self, request)

    def claims(self, request: Request) -> bool:
        """Requests for a Vertex AI publisher-model path."""
        return '/publishers/' in request.path

    def authenticate(self, request: Request, state: EmulatorState) -> str:
        """The emulator's API key as a bearer token, or a token its OAuth endpoint issued; else 401."""
        token = self.api_key(request)
        expected = state.config.api_key
        if token is not None and (expected is None or token == expected or _issued_token(state, token)):
            return token
        raise self.refuse(
            'authentication',
            'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie '
            'or other valid authentication credential.',
        )

    def _meta(self, model: str, state: EmulatorState) -> Json:
        created = datetime.now(UTC).isoformat(timespec='microseconds').replace('+00:00', 'Z')
        return {**super()._meta(model, state), 'createTime': created}


def _issued_token(state: EmulatorState, token: str) -> bool:
    """Whether the emulator's OAuth endpoint issued `token`."""
    return bearer_is_valid(state, token)


GLA = GeminiVendor()
VERTEX = VertexVendor()
VENDORS: tuple[Vendor, ...] = (GLA, VERTEX)


def _texts(content: Any) -> list[str]:
    return [str(text) for part in _get(content, 'parts') or () if isinstance(text := _get(part, 'text'), str)]


def _json_schema(schema: Any) -> Any:
    """Google's OpenAPI-subset schema as the JSON Schema the reply planner reads (types lower-case)."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == 'type' and isinstance(value, str):
            out[key] = value.lower()
        elif key == 'properties' and isinstance(value, dict):
            out[key] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in ('items', 'anyOf'):
            out[key] = _json_schema(value)
        elif key != 'nullable':
            out[key] = value
    return out


def prompt_tokens(body: Json) -> int:
    """The prompt tokens the emulator reports: `count_tokens` of every text, call and result, plus
    the system instruction and the function declarations' JSON."""
    total = sum(count_tokens(text) for text in _texts(_get(body, 'systemInstruction')))
    for content in body['contents']:
        for part in _get(content, 'parts'):
            for name in ('text', 'functionCall', 'functionResponse'):
                value = _get(part, name)
                if value is not None:
                    total += count_tokens(value) if isinstance(value, str) else json_tokens(value)
    if body.get('tools'):
        total += json_tokens(body['tools'])
    return max(total, 1)


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


class _SSEEncoder:
    """Google's `alt=sse` events: `data: <compact JSON>`, CRLF line ends, no end marker."""

    def __init__(self, vendor: Vendor) -> None:
        self._vendor = vendor

    def event(self, event: Any) -> bytes:
        return b'data: ' + orjson.dumps(event) + b'\r\n\r\n'

    def error(self, kind: ErrorKind, message: str) -> bytes:
        return self.event(self._vendor.error_payload(kind, message, ERROR_STATUS[kind]))

    def end(self) -> bytes:
        return b''


class JSONArrayEncoder:
    """A stream as one JSON array in Google's layout: `[` + element, `\\n,\\r\\n` + element, `\\n]`."""

    def __init__(self, vendor: Vendor) -> None:
        self._vendor = vendor
        self._started = False

    def event(self, event: Any) -> bytes:
        """The next element, with the bracket or comma before it."""
        lead = b'\n,\r\n' if self._started else b'['
        self._started = True
        return lead + orjson.dumps(event, option=orjson.OPT_INDENT_2)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """Google's error object as the next element (the array is left open: the stream broke)."""
        return self.event(self._vendor.error_payload(kind, message, ERROR_STATUS[kind]))

    def end(self) -> bytes:
        """The closing bracket (an empty array if nothing was sent)."""
        return b'\n]' if self._started else b'[]'


def _usage(prompt: int, sent: int, reply: Reply) -> Json:
    """`usageMetadata` once `sent` output tokens are out (thoughts counted apart, as Gemini does)."""
    thoughts = min(sent, len(reply.thinking))
    candidates = sent - thoughts
    usage: Json = {
        'promptTokenCount': prompt,
        'candidatesTokenCount': candidates,
        'totalTokenCount': prompt + candidates + thoughts,
        'promptTokensDetails': [{'modality': 'TEXT', 'tokenCount': prompt}],
    }
    if thoughts:
        usage['thoughtsTokenCount'] = thoughts
    return usage


def _call_part(reply: Reply, index: int) -> Json:
    call = reply.tool_calls[index]
    function_call: Json = {'name': call.name}
    args = orjson.loads(call.arguments)
    if args:
        function_call['args'] = args  # Gemini leaves `args` out of a call without arguments
    return {'functionCall': function_call}


def _content_parts(reply: Reply) -> list[Json]:
    """The answer's parts after the thoughts: the text tokens, or one part per function call."""
    if reply.tool_calls:
        return [_call_part(reply, i) for i in range(len(reply.tool_calls))]
    return [{'text': token} for token in reply.text]


def _whole(reply: Reply) -> Json:
    """A non-streamed answer's candidate: one thought part, then one text part or the calls."""
    parts: list[Json] = []
    if reply.thinking:
        parts.append({'text': ''.join(reply.thinking), 'thought': True})
    answer = _content_parts(reply)
    if not reply.tool_calls:
        answer = [{'text': ''.join(part['text'] for part in answer)}]
    if reply.thinking:
        answer[0] = {**answer[0], 'thoughtSignature': reply.signature}
    parts += answer
    candidate = {
        'content': {'parts': parts, 'role': 'model'},
        'finishReason': _FINISH[reply.finish],
        'index': 0,
    }
    return {'candidates': [candidate]}


def _frames(reply: Reply, meta: Json, prompt: int) -> list[Frame]:
    """One chunk per thought token, text token and function call, then the finish chunk."""
    frames: list[Frame] = []
    sent = 0

    def chunk(part: Json, tokens: int, finish: str | None = None) -> Json:
        candidate: Json = {'content': {'parts': [part], 'role': 'model'}, 'index': 0}
        if finish is not None:
            candidate['finishReason'] = finish
        return {'candidates': [candidate], 'usageMetadata': _usage(prompt, tokens, reply), **meta}

    for token in reply.thinking:
        sent += 1
        frames.append(Frame(TOKEN, chunk({'text': token, 'thought': True}, sent), 1))
    for i, part in enumerate(_content_parts(reply)):
        if i == 0 and reply.thinking:
            part = {**part, 'thoughtSignature': reply.signature}
        weight = len(reply.tool_calls[i].argument_fragments) if reply.tool_calls else 1
        sent += weight
        frames.append(Frame(TOKEN, chunk(part, sent), max(weight, 1)))
    frames.append(Frame(CLOSE, chunk({'text': ''}, sent, _FINISH[reply.finish])))
    return frames
