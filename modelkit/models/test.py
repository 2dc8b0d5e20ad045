"""`TestModel`: a deterministic model for unit tests that needs no network and no API key.

On the first request it calls every function tool once, with arguments generated from the tool's
JSON schema; once the tool returns are back it answers with text summarising them, or calls the
result tool with arguments generated from that tool's schema. Same constructor and behaviour as
PydanticAI's `TestModel`, so tests written for it port with an import rename.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

from ..exceptions import UserError
from ..messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    ModelResponseStreamEvent,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
    _to_json,
)
from ..settings import ModelSettings
from ..tools import ToolDefinition
from ..usage import Usage
from . import Model, ModelRequestParameters, StreamedResponse

__all__ = ('TestModel', 'TestStreamedResponse', 'generate_from_schema')


class _CallMaker(Protocol):
    def __call__(
        self, tool: ToolDefinition, index: int, args: dict[str, Any] | None = None
    ) -> ToolCallPart: ...


class TestModel(Model):
    """A model that calls your tools with schema-valid arguments and answers deterministically.

    - `call_tools`: `'all'` function tools, or a list of the names to call on the first request.
    - `custom_result_text`: the plain-text answer to give instead of the summary of tool returns.
    - `custom_result_args`: the arguments of the result-tool call (structured `result_type`).
    - `seed`: varies the generated values (which enum member, which string, ...), deterministically.
    """

    # Tell pytest this is not a test class, even when imported into a test module's namespace.
    __test__ = False

    call_tools: list[str] | Literal['all']
    custom_result_text: str | None
    custom_result_args: Any | None
    seed: int
    last_model_request_parameters: ModelRequestParameters | None
    """The parameters of the most recent request, for assertions on the tools the agent offered."""

    def __init__(
        self,
        *,
        call_tools: Sequence[str] | Literal['all'] = 'all',
        custom_result_text: str | None = None,
        custom_result_args: Any | None = None,
        seed: int = 0,
    ) -> None:
        if custom_result_text is not None and custom_result_args is not None:
            raise UserError('TestModel: set custom_result_text or custom_result_args, not both')
        if call_tools != 'all':
            if isinstance(call_tools, str) or not all(isinstance(name, str) for name in call_tools):
                raise UserError(
                    f"TestModel: call_tools must be 'all' or a list of tool names, not {call_tools!r}"
                )
            call_tools = list(call_tools)
        self.call_tools = call_tools
        self.custom_result_text = custom_result_text
        self.custom_result_args = custom_result_args
        self.seed = seed
        self.last_model_request_parameters = None

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        """Answer at once, without any I/O."""
        self.last_model_request_parameters = model_request_parameters
        response = self._respond(messages, model_request_parameters)
        return response, estimate_usage(messages, response)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        """Stream the same answer `request` gives: text word by word, each tool call as one part."""
        self.last_model_request_parameters = model_request_parameters
        started_at = time.perf_counter()
        response = self._respond(messages, model_request_parameters)
        stream = TestStreamedResponse(_model_name=self.model_name, _response=response)
        stream._usage = estimate_usage(messages, None)
        stream.attach_timing(started_at)
        yield stream

    @property
    def model_name(self) -> str:
        """Always `test`."""
        return 'test'

    @property
    def system(self) -> str:
        """Always `test`."""
        return 'test'

    def __repr__(self) -> str:
        return (
            f'TestModel(call_tools={self.call_tools!r}, custom_result_text={self.custom_result_text!r}, '
            f'custom_result_args={self.custom_result_args!r}, seed={self.seed!r})'
        )

    # ----------------------------------------------------------------------------------------
    # Deciding what to answer
    # ----------------------------------------------------------------------------------------

    def _respond(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        tools = self._tools_to_call(params)
        # Tool call ids must be unique across the run, so they carry the turn number; they are
        # fixed strings rather than random ones so snapshots of a run stay stable.
        turn = sum(1 for message in messages if isinstance(message, ModelResponse))

        def call(tool: ToolDefinition, index: int, args: dict[str, Any] | None = None) -> ToolCallPart:
            if args is None:
                args = self._tool_args(tool)
            return ToolCallPart(tool.name, args, f'call_test_{turn}_{index}')

        def respond(parts: list[ModelResponsePart]) -> ModelResponse:
            has_calls = any(isinstance(part, ToolCallPart) for part in parts)
            return ModelResponse(
                parts, model_name=self.model_name, finish_reason='tool_call' if has_calls else 'stop'
            )

        # First request of a conversation: call the selected function tools, once each.
        if tools and turn == 0:
            return respond([call(tool, i) for i, tool in enumerate(tools)])

        # A retry prompt naming a tool: call that tool again (function or result tool).
        last = messages[-1] if messages else None
        if isinstance(last, ModelRequest):
            retry_names = [p.tool_name for p in last.parts if isinstance(p, RetryPromptPart) and p.tool_name]
            if retry_names:
                parts: list[ModelResponsePart] = [
                    call(tool, i) for i, tool in enumerate(tools) if tool.name in retry_names
                ]
                for tool in params.result_tools:
                    if tool.name in retry_names:
                        parts.append(call(tool, len(parts), self._result_args(tool)))
                if parts:
                    return respond(parts)

        return respond([self._final_part(messages, params, call)])

    def _final_part(
        self, messages: list[ModelMessage], params: ModelRequestParameters, call: _CallMaker
    ) -> ModelResponsePart:
        if self.custom_result_text is not None:
            if not params.allow_text_result:
                raise UserError(
                    'TestModel: custom_result_text is set, but this agent does not accept a text result'
                )
            return TextPart(self.custom_result_text)
        if self.custom_result_args is not None:
            if params.result_tools:
                tool = params.result_tools[0]
                return call(tool, 0, self._result_args(tool))
            if params.result_json_schema is not None:
                return TextPart(_to_json(self.custom_result_args).decode())
            raise UserError(
                'TestModel: custom_result_args is set, but this agent has no structured result type'
            )
        if params.result_json_schema is not None:
            value = generate_from_schema(params.result_json_schema, seed=self.seed)
            return TextPart(_to_json(value).decode())
        if params.allow_text_result or not params.result_tools:
            return TextPart(_summarise_tool_returns(messages))
        # Several result tools mean a union result type; the seed picks one (the first by default).
        tool = params.result_tools[self.seed % len(params.result_tools)]
        return call(tool, 0)

    def _tools_to_call(self, params: ModelRequestParameters) -> list[ToolDefinition]:
        if self.call_tools == 'all':
            return list(params.function_tools)
        by_name = {tool.name: tool for tool in params.function_tools}
        missing = [name for name in self.call_tools if name not in by_name]
        if missing:
            offered = ', '.join(sorted(by_name)) or 'none'
            raise UserError(
                f'TestModel: call_tools names unknown tools {missing}; the agent offers: {offered}'
            )
        return [by_name[name] for name in self.call_tools]

    def _tool_args(self, tool: ToolDefinition) -> dict[str, Any]:
        args = generate_from_schema(tool.parameters_json_schema, seed=self.seed)
        if not isinstance(args, dict):
            raise UserError(f'TestModel: the parameters schema of tool {tool.name!r} is not an object schema')
        return args

    def _result_args(self, tool: ToolDefinition) -> dict[str, Any]:
        if self.custom_result_args is None:
            return self._tool_args(tool)
        if tool.outer_typed_dict_key:
            return {tool.outer_typed_dict_key: self.custom_result_args}
        if not isinstance(self.custom_result_args, dict):
            raise UserError(
                f'TestModel: custom_result_args must be a dict for result tool {tool.name!r}, '
                f'not {type(self.custom_result_args).__name__}'
            )
        return self.custom_result_args


def _summarise_tool_returns(messages: list[ModelMessage]) -> str:
    returns: dict[str, Any] = {}
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    returns[part.tool_name] = part.content
    if not returns:
        return 'success (no tool calls)'
    return _to_json(returns).decode()


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------

# A word with the whitespace after it, or leading whitespace alone: the chunks join back exactly.
_CHUNK = re.compile(r'\S+\s*|\s+')


@dataclass
class TestStreamedResponse(StreamedResponse):
    """Streams a `TestModel` answer that is already known in full."""

    __test__ = False

    _model_name: str
    _response: ModelResponse
    _timestamp: datetime = field(default_factory=lambda: datetime.now(tz=UTC))

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        for index, part in enumerate(self._response.parts):
            if isinstance(part, TextPart):
                for chunk in _CHUNK.findall(part.content):
                    self._usage.incr(_response_usage(_count_words(chunk)))
                    event = self._parts_manager.text_delta(index, chunk)
                    if event is not None:
                        yield event
            elif isinstance(part, ToolCallPart):
                self._usage.incr(_response_usage(_part_tokens(part)))
                yield self._parts_manager.tool_call(index, part.tool_name, part.args, part.tool_call_id)
        self._finish_reason = self._response.finish_reason

    @property
    def model_name(self) -> str:
        """Always `test`."""
        return self._model_name

    @property
    def timestamp(self) -> datetime:
        """When the stream was opened."""
        return self._timestamp


# --------------------------------------------------------------------------------------------
# Usage: a deterministic estimate from word counts
# --------------------------------------------------------------------------------------------

BASE_REQUEST_TOKENS = 50
"""Tokens counted for every request before its content, standing in for a vendor's prompt framing."""

_WORD_SEPARATORS = re.compile(r'[\s",.:]+')


def _count_words(text: str) -> int:
    return sum(1 for word in _WORD_SEPARATORS.split(text) if word)


def _content_tokens(content: str | Sequence[Any]) -> int:
    if isinstance(content, str):
        return _count_words(content)
    # Media has no word count; a byte estimate would swamp the text, so media counts as nothing.
    return sum(_count_words(item) for item in content if isinstance(item, str))


def _part_tokens(part: Any) -> int:
    if isinstance(part, SystemPromptPart | UserPromptPart):
        return _content_tokens(part.content)
    if isinstance(part, ToolReturnPart):
        return _count_words(part.model_response_str())
    if isinstance(part, RetryPromptPart):
        return _count_words(part.model_response())
    if isinstance(part, TextPart | ThinkingPart):
        return _count_words(part.content)
    if isinstance(part, ToolCallPart):
        return 1 + _count_words(part.args_as_json_str())
    return 0


def _response_usage(tokens: int) -> Usage:
    return Usage(response_tokens=tokens, total_tokens=tokens)


def estimate_usage(messages: Iterable[ModelMessage], response: ModelResponse | None) -> Usage:
    """A deterministic usage for one request: words of everything sent, and of `response` if given.

    Earlier responses in `messages` are input to this request, so they count as request tokens.
    """
    request_tokens = BASE_REQUEST_TOKENS
    for message in messages:
        request_tokens += sum(_part_tokens(part) for part in message.parts)
    response_tokens = sum(_part_tokens(part) for part in response.parts) if response is not None else 0
    return Usage(
        requests=1,
        request_tokens=request_tokens,
        response_tokens=response_tokens,
        total_tokens=request_tokens + response_tokens,
    )


# --------------------------------------------------------------------------------------------
# Values from a JSON schema
# --------------------------------------------------------------------------------------------

SOFT_DEPTH_LIMIT = 6
"""Nesting depth after which optional properties and array items are left out, so recursive
schemas (a tree of nodes) end; deep enough for any hand-written tool schema."""
HARD_DEPTH_LIMIT = 40
"""Nesting depth at which a schema whose required fields recurse forever is reported as an error."""

_LETTERS = 'abcdefghijklmnopqrstuvwxyz'


def generate_from_schema(schema: dict[str, Any], *, seed: int = 0) -> Any:
    """A value satisfying `schema` (the common keywords), the same value for the same seed.

    With seed 0: strings are `'a'`, numbers their minimum (or 0), booleans `False`, enums their
    first member, arrays one item, objects every property. `$ref`/`$defs`, `anyOf`/`oneOf`/`allOf`,
    `const`, simple string formats, length and range limits are respected; `pattern` is not.
    """
    return _SchemaValues(schema).generate(schema, seed, 0)


class _SchemaValues:
    __slots__ = ('_root',)

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root

    def generate(self, schema: Any, seed: int, depth: int) -> Any:
        if depth > HARD_DEPTH_LIMIT:
            raise UserError('cannot generate a value: the JSON schema requires values nested without end')
        if schema is True or not isinstance(schema, dict):
            return _letters(seed)
        if 'const' in schema:
            return schema['const']
        if enum := schema.get('enum'):
            return enum[seed % len(enum)]
        if (examples := schema.get('examples')) and isinstance(examples, list):
            return examples[seed % len(examples)]
        if ref := schema.get('$ref'):
            return self.generate(self._resolve(ref), seed, depth + 1)
        for key in ('anyOf', 'oneOf'):
            if options := schema.get(key):
                return self.generate(self._pick_option(options, seed, depth), seed, depth)
        if all_of := schema.get('allOf'):
            return self.generate(self._merge_all_of(schema, all_of), seed, depth)

        kind = schema.get('type')
        if isinstance(kind, list):
            kind = kind[seed % len(kind)] if kind else None
        if kind is None:
            if 'properties' in schema or 'additionalProperties' in schema:
                kind = 'object'
            elif 'items' in schema or 'prefixItems' in schema:
                kind = 'array'
        if kind == 'object':
            return self._object(schema, seed, depth)
        if kind == 'array':
            return self._array(schema, seed, depth)
        if kind == 'string':
            return _string(schema, seed)
        if kind == 'integer':
            return int(_number(schema, seed, integer=True))
        if kind == 'number':
            return float(_number(schema, seed, integer=False))
        if kind == 'boolean':
            return bool(seed % 2)
        if kind == 'null':
            return None
        if kind is None:
            # An empty schema accepts anything; a short string is the most readable "anything".
            return _letters(seed)
        raise UserError(f'cannot generate a value for JSON schema type {kind!r}')

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith('#'):
            raise UserError(f'cannot generate a value: only local $refs are supported, not {ref!r}')
        target: Any = self._root
        for token in ref[1:].split('/')[1:]:
            # JSON pointer escapes (RFC 6901): ~1 is '/', ~0 is '~'.
            key = token.replace('~1', '/').replace('~0', '~')
            if not isinstance(target, dict) or key not in target:
                raise UserError(f'cannot generate a value: $ref {ref!r} points at nothing in the schema')
            target = target[key]
        return target

    def _deref(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and '$ref' in schema and seen < HARD_DEPTH_LIMIT:
            schema = self._resolve(schema['$ref'])
            seen += 1
        return schema

    def _pick_option(self, options: list[Any], seed: int, depth: int) -> Any:
        if depth >= SOFT_DEPTH_LIMIT:
            # Deep in a recursive schema: take a branch that ends (null, a scalar) when there is one.
            for option in options:
                target = self._deref(option)
                if isinstance(target, dict) and target.get('type') not in (None, 'object', 'array'):
                    return target
        return options[seed % len(options)]

    def _merge_all_of(self, schema: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != 'allOf'}
        for part in parts:
            part = self._deref(part)
            if not isinstance(part, dict):
                continue
            for key, value in part.items():
                if key == 'properties':
                    merged['properties'] = {**merged.get('properties', {}), **value}
                elif key == 'required':
                    merged['required'] = [*merged.get('required', []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _object(self, schema: dict[str, Any], seed: int, depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get('properties') or {}
        required = set(schema.get('required') or ())
        shallow = depth < SOFT_DEPTH_LIMIT
        data = {
            name: self.generate(sub, seed, depth + 1)
            for name, sub in properties.items()
            if shallow or name in required
        }
        extra = schema.get('additionalProperties')
        wants_extra = (isinstance(extra, dict) and shallow) or len(data) < schema.get('minProperties', 0)
        if wants_extra and extra is not False:
            key = 'additionalProperty'
            while key in data:
                key += '_'
            data[key] = self.generate(extra if isinstance(extra, dict) else {}, seed, depth + 1)
        return data

    def _array(self, schema: dict[str, Any], seed: int, depth: int) -> list[Any]:
        prefix = schema.get('prefixItems')
        items = schema.get('items')
        if isinstance(items, list):  # the draft-04 tuple form
            prefix, items = items, schema.get('additionalItems')
        data = [self.generate(sub, seed + i, depth + 1) for i, sub in enumerate(prefix or ())]
        min_items = schema.get('minItems', 0)
        max_items = schema.get('maxItems')
        if items is False:
            return data
        target = max(min_items, len(data) + 1 if depth < SOFT_DEPTH_LIMIT else 0)
        if max_items is not None:
            target = min(target, max_items)
        while len(data) < target:
            # A different seed per item keeps items distinct, for `uniqueItems`.
            data.append(self.generate(items if isinstance(items, dict) else {}, seed + len(data), depth + 1))
        return data


def _letters(seed: int) -> str:
    """'a', 'b', ... 'z', 'aa', 'ab', ...: a distinct short string per seed."""
    out = ''
    n = seed
    while True:
        out = _LETTERS[n % 26] + out
        n = n // 26 - 1
        if n < 0:
            return out


def _string(schema: dict[str, Any], seed: int) -> str:
    fmt = schema.get('format')
    day = date(2024, 1, 1) + timedelta(days=seed)
    formatted = (
        {
            'date': day.isoformat(),
            'date-time': f'{day.isoformat()}T00:00:00Z',
            'time': '00:00:00',
            'duration': f'P{seed + 1}D',
            'email': f'{_letters(seed)}@example.com',
            'uri': f'https://example.com/{_letters(seed)}',
            'url': f'https://example.com/{_letters(seed)}',
            'hostname': 'example.com',
            'ipv4': '127.0.0.1',
            'ipv6': '::1',
            'uuid': f'00000000-0000-4000-8000-{seed:012d}',
        }.get(fmt)
        if isinstance(fmt, str)
        else None
    )
    text = formatted if formatted is not None else _letters(seed)
    min_length = schema.get('minLength', 0)
    if len(text) < min_length:
        text = text + text[-1] * (min_length - len(text)) if text else 'a' * min_length
    max_length = schema.get('maxLength')
    if max_length is not None and len(text) > max_length:
        text = text[:max_length]
    return text


def _number(schema: dict[str, Any], seed: int, *, integer: bool) -> float:
    low, high = _bound(schema, 'minimum'), _bound(schema, 'maximum')
    exclusive_low, exclusive_high = _bound(schema, 'exclusiveMinimum'), _bound(schema, 'exclusiveMaximum')
    # Draft 4 spells exclusivity as a boolean next to minimum / maximum.
    if schema.get('exclusiveMinimum') is True:
        exclusive_low, low = low, None
    if schema.get('exclusiveMaximum') is True:
        exclusive_high, high = high, None
    multiple = schema.get('multipleOf')
    if integer or isinstance(multiple, int):
        step = multiple if isinstance(multiple, int | float) and multiple > 0 else 1
        # Count in steps: the smallest and largest allowed multiples of `step`.
        lowest = _max_or_none(
            math.ceil(low / step) if low is not None else None,
            math.floor(exclusive_low / step) + 1 if exclusive_low is not None else None,
        )
        highest = _min_or_none(
            math.floor(high / step) if high is not None else None,
            math.ceil(exclusive_high / step) - 1 if exclusive_high is not None else None,
        )
        if lowest is not None and highest is not None:
            if highest < lowest:
                raise UserError(f'cannot generate a value: no number satisfies the JSON schema {schema}')
            n = lowest + seed % (highest - lowest + 1)
        elif lowest is not None:
            n = lowest + seed
        elif highest is not None:
            n = highest - seed
        else:
            n = seed
        return n * step

    lower = _max_or_none(low, exclusive_low)
    upper = _min_or_none(high, exclusive_high)
    lower_open = exclusive_low is not None and lower == exclusive_low
    upper_open = exclusive_high is not None and upper == exclusive_high
    if lower is not None:
        value = lower + (seed or (1 if lower_open else 0))
        if upper is not None and (value > upper or (upper_open and value >= upper)):
            value = (lower + upper) / 2
        return value
    if upper is not None:
        return upper - (seed or (1 if upper_open else 0))
    return seed


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _max_or_none(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _min_or_none(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
