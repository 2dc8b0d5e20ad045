"""What the emulator says, and when: vendor-neutral scripted behaviour.

Vendor modules turn their request into a `Conversation`, ask `plan_reply` for a `Reply` (text
tokens, tool calls or JSON fragments) and write it in their own wire format, paced by `Pacer`.
Everything is deterministic: the same seed, prompt and options give the same bytes, so tests can
assert on content and benchmarks compare like with like.

Per-request options arrive as `x-emulator-<name>` headers or as `+<name>=<value>` suffixes of the
model name (`gpt-4o+tokens=5+fault=429`); `parse_controls` reads both, the model name winning.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.lowlevel
import orjson

from ._config import EmulatorConfig

__all__ = (
    'CONTROL_HEADER_PREFIX',
    'FAULTS',
    'MID_STREAM_FAULTS',
    'ControlError',
    'Controls',
    'Conversation',
    'FaultCounter',
    'Pacer',
    'Reply',
    'ToolCallPlan',
    'ToolSpec',
    'count_tokens',
    'fragments',
    'parse_controls',
    'plan_reply',
    'schema_value',
    'seeded_rng',
)

CONTROL_HEADER_PREFIX = 'x-emulator-'
FAULTS = frozenset({'429', '500', '503', 'slow-first-byte', 'stream-error', 'drop', 'truncate'})
MID_STREAM_FAULTS = frozenset({'stream-error', 'drop', 'truncate'})
MAX_TOKENS_OPTION = 1_000_000
"""Upper bound on `tokens`: a typo must not make the emulator generate for an hour."""
MAX_FAULT_COUNTERS = 10_000
"""Distinct (key, fault spec) counters kept; the oldest are forgotten past this so a long-running
`modelkit emulate` cannot grow without bound."""
MAX_SCHEMA_DEPTH = 8
"""Nesting depth past which generated JSON keeps only required properties and minimum items, so
recursive schemas (a tree node referring to itself) still terminate."""

_OPTION_NAMES = frozenset(
    {
        'tokens',
        'tps',
        'ttft-ms',
        'fault',
        'fault-times',
        'fault-after',
        'retry-after-ms',
        'slow-first-byte-ms',
        'session',
    }
)
_TOKEN_RE = re.compile(r'\w+|[^\w\s]')
_FRAGMENT_RE = re.compile(r'\s*\w+|\s*[^\w\s]+|\s+')
_ASKS_FOR_TOOL_RE = re.compile(
    r'\b(?:use|call|invoke|run)\b[^.?!\n]*\b(?:tools?|functions?)\b', re.IGNORECASE
)

# Plain words the answers are made of; ours, chosen to be readable in a terminal.
_WORD_LIST = (
    'alpha amber anchor apple arrow atlas autumn badge basket beacon birch blossom breeze bridge '
    'canyon cedar chalk cinder clover comet copper coral cotton crystal delta desert drift echo '
    'ember falcon feather fern field flint forest fountain garden glacier granite harbor hazel '
    'horizon island ivory jasmine juniper kettle lagoon lantern laurel lemon linen maple marble '
    'meadow mesa mint mirror harvest nectar north oak ocean olive orbit orchid pebble pepper pine '
    'planet prairie quartz quill rain raven reef ridge river saffron sage shadow silver slate '
    'spruce stone summit sunrise thistle thunder timber topaz tulip valley velvet willow winter zephyr'
)
_WORDS = tuple(_WORD_LIST.split())


class ControlError(ValueError):
    """A control header or model-name option has a bad name or value."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Controls:
    """The effective options of one request (config defaults, then headers, then model name)."""

    tokens: int
    tps: float
    ttft: float
    """Seconds."""
    fault: str | None = None
    fault_times: int | None = None
    """Fault only the first N attempts; None faults every attempt."""
    fault_after: int = 3
    retry_after_ms: int = 100
    slow_first_byte: float = 1.0
    """Seconds."""
    session: str | None = None

    @property
    def fault_spec(self) -> str:
        """What `fault-times` attempts are counted against, besides the client key or session."""
        return f'{self.fault}*{self.fault_times}'


def _split_model(model: str) -> tuple[str, dict[str, str]]:
    base, *options = model.split('+')
    parsed: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition('=')
        name = name.strip().lower()
        if not sep or not name:
            raise ControlError('model', f'model option {option!r} must look like name=value')
        parsed[name] = value.strip()
    return base, parsed


def _int_option(name: str, value: str, *, maximum: int = MAX_TOKENS_OPTION) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ControlError(name, f'emulator option {name!r} must be an integer, got {value!r}') from None
    if not 0 <= number <= maximum:
        raise ControlError(name, f'emulator option {name!r} must be between 0 and {maximum}, got {number}')
    return number


def _float_option(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ControlError(name, f'emulator option {name!r} must be a number, got {value!r}') from None
    if not 0 <= number < float('inf'):
        raise ControlError(name, f'emulator option {name!r} must be a finite number >= 0, got {value!r}')
    return number


def parse_controls(model: str, headers: Mapping[str, str], config: EmulatorConfig) -> tuple[str, Controls]:
    """Split `model` into the bare model name and the request's effective `Controls`.

    Headers are `x-emulator-<option>` (names lower-case); options after `+` in the model name
    override headers, because a model name is chosen per call while headers are often client-wide.
    """
    base, from_model = _split_model(model)
    options = {
        name[len(CONTROL_HEADER_PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(CONTROL_HEADER_PREFIX)
    }
    options.update(from_model)
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        valid = ', '.join(sorted(_OPTION_NAMES))
        raise ControlError(unknown[0], f'unknown emulator option {unknown[0]!r}; valid options: {valid}')
    fault = options.get('fault') or None
    if fault is not None:
        fault = fault.lower()
        if fault not in FAULTS:
            raise ControlError('fault', f'unknown fault {fault!r}; valid faults: {", ".join(sorted(FAULTS))}')
    times = options.get('fault-times')
    controls = Controls(
        tokens=_int_option('tokens', options['tokens']) if 'tokens' in options else config.tokens,
        tps=_float_option('tps', options['tps']) if 'tps' in options else config.tokens_per_second,
        ttft=_float_option('ttft-ms', options['ttft-ms']) / 1000 if 'ttft-ms' in options else config.ttft,
        fault=fault,
        fault_times=_int_option('fault-times', times) if times is not None else None,
        fault_after=(
            _int_option('fault-after', options['fault-after'])
            if 'fault-after' in options
            else config.fault_after_tokens
        ),
        retry_after_ms=(
            _int_option('retry-after-ms', options['retry-after-ms'], maximum=3_600_000)
            if 'retry-after-ms' in options
            else config.retry_after_ms
        ),
        slow_first_byte=(
            _float_option('slow-first-byte-ms', options['slow-first-byte-ms']) / 1000
            if 'slow-first-byte-ms' in options
            else config.slow_first_byte
        ),
        session=options.get('session') or None,
    )
    return base, controls


class FaultCounter:
    """Counts attempts per (client, fault spec) so `fault-times=N` faults only the first N."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def strike(self, client: str, controls: Controls) -> str | None:
        """The fault to inject into this attempt, or None."""
        if controls.fault is None:
            return None
        if controls.fault_times is None:
            return controls.fault
        # Keys are hashed so the raw API key is not kept around in the counter.
        who = controls.session or hashlib.blake2b(client.encode(), digest_size=8).hexdigest()
        key = (who, controls.fault_spec)
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count  # re-inserted: the dict's order is least recently used first
        while len(self._counts) > MAX_FAULT_COUNTERS:
            del self._counts[next(iter(self._counts))]
        return controls.fault if count <= controls.fault_times else None

    def reset(self) -> None:
        """Forget every count: every `fault-times` fault strikes again."""
        self._counts.clear()


def seeded_rng(seed: int | str, *parts: str) -> random.Random:
    """A generator seeded from `seed` and `parts` with a stable hash (Python's `hash` is salted)."""
    digest = hashlib.blake2b(str(seed).encode(), digest_size=16)
    for part in parts:
        digest.update(b'\x00')
        digest.update(part.encode('utf-8', 'surrogatepass'))
    return random.Random(int.from_bytes(digest.digest(), 'big'))


def count_tokens(text: str) -> int:
    """The emulator's token count: words and punctuation marks (close to real tokenizers for English)."""
    return len(_TOKEN_RE.findall(text))


def fragments(text: str) -> list[str]:
    """Split text into word and punctuation runs (leading spaces attached) that join back to `text`.

    Arguments of `{"country":"UK"}` become `{"`, `country`, `":"`, `UK`, `"}`: the way real vendors
    split JSON across stream chunks.
    """
    return _FRAGMENT_RE.findall(text)


# --------------------------------------------------------------------------------------------
# JSON values that satisfy a JSON schema
# --------------------------------------------------------------------------------------------


class _SchemaFaker:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def word(self) -> str:
        return self.rng.choice(_WORDS)

    def resolve(self, ref: str) -> Any:
        if not ref.startswith('#'):
            return {}
        node = self.root
        for token in ref[1:].split('/'):
            if not token:
                continue
            token = token.replace('~1', '/').replace('~0', '~')
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return {}
        return node

    def value(self, schema: Any, depth: int = 0) -> Any:
        if schema is True or not isinstance(schema, dict):
            return self.word()
        if '$ref' in schema:
            target = self.resolve(str(schema['$ref']))
            extra = {k: v for k, v in schema.items() if k != '$ref'}
            if extra and isinstance(target, dict):
                target = {**target, **extra}
            return self.value(target, depth + 1)
        if 'const' in schema:
            return schema['const']
        if isinstance(schema.get('enum'), list) and schema['enum']:
            return self.rng.choice(schema['enum'])
        for key in ('anyOf', 'oneOf'):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.value(self._pick_option(options, depth), depth + 1)
        if isinstance(schema.get('allOf'), list):
            return self.value(self._merge_all_of(schema), depth + 1)
        kind = schema.get('type')
        if isinstance(kind, list):
            kinds = [k for k in kind if k != 'null'] or ['null']
            kind = 'null' if depth >= MAX_SCHEMA_DEPTH and 'null' in kind else kinds[0]
        if kind is None:
            kind = 'object' if 'properties' in schema else 'array' if 'items' in schema else 'string'
        maker = getattr(self, f'make_{kind}', None)
        if maker is None:
            return self.word()
        return maker(schema, depth)

    def _pick_option(self, options: list[Any], depth: int) -> Any:
        def is_null(option: Any) -> bool:
            return isinstance(option, dict) and option.get('type') == 'null'

        if depth >= MAX_SCHEMA_DEPTH and any(is_null(o) for o in options):
            return {'type': 'null'}
        return next((o for o in options if not is_null(o)), options[0])

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != 'allOf'}
        properties: dict[str, Any] = dict(merged.get('properties', {}))
        required: list[str] = list(merged.get('required', []))
        for part in schema['allOf']:
            if isinstance(part, dict) and '$ref' in part:
                part = self.resolve(str(part['$ref']))
            if not isinstance(part, dict):
                continue
            for key, value in part.items():
                if key == 'properties' and isinstance(value, dict):
                    properties.update(value)
                elif key == 'required' and isinstance(value, list):
                    required.extend(r for r in value if r not in required)
                else:
                    merged.setdefault(key, value)
        if properties:
            merged['properties'] = properties
            merged.setdefault('type', 'object')
        if required:
            merged['required'] = required
        return merged

    def make_null(self, schema: dict[str, Any], depth: int) -> None:
        return None

    def make_boolean(self, schema: dict[str, Any], depth: int) -> bool:
        return self.rng.random() < 0.5

    def make_object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get('properties')
        result: dict[str, Any] = {}
        if isinstance(properties, dict) and depth <= 2 * MAX_SCHEMA_DEPTH:
            # Past twice the depth limit even required properties go: only an infinite value
            # satisfies a schema that requires itself, and a truncated one beats a RecursionError.
            required = schema.get('required') or []
            for name, sub in properties.items():
                if depth < MAX_SCHEMA_DEPTH or name in required:
                    result[name] = self.value(sub, depth + 1)
        extra = schema.get('additionalProperties')
        if not result and isinstance(extra, dict) and depth < MAX_SCHEMA_DEPTH:
            result[self.word()] = self.value(extra, depth + 1)
        return result

    def make_array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix = schema.get('prefixItems')
        items: list[Any] = []
        if isinstance(prefix, list):
            items = [self.value(sub, depth + 1) for sub in prefix]
        low = int(schema.get('minItems', 0))
        high = int(schema.get('maxItems', max(low, 2)))
        count = max(low, min(high, 1 if depth < MAX_SCHEMA_DEPTH else 0))
        item_schema = schema.get('items', {'type': 'string'})
        if item_schema is False:
            return items
        unique = bool(schema.get('uniqueItems'))
        attempts = 0
        while len(items) < count and attempts < count * 10 + 10:
            attempts += 1
            item = self.value(item_schema, depth + 1)
            if unique and item in items:
                continue
            items.append(item)
        return items

    def make_string(self, schema: dict[str, Any], depth: int) -> str:
        text = self._formatted(schema.get('format'))
        if text is None:
            text = ' '.join(self.word() for _ in range(self.rng.randint(1, 3)))
            low = int(schema.get('minLength', 0))
            while len(text) < low:
                text = f'{text} {self.word()}'
            high = schema.get('maxLength')
            if isinstance(high, int):
                text = text[:high].rstrip() if high >= low else text[:high]
                text = text if len(text) >= low else text.ljust(low, 'x')
        return text

    def _formatted(self, fmt: Any) -> str | None:
        rng = self.rng
        if fmt == 'date-time':
            return f'2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z'
        if fmt == 'date':
            return f'2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}'
        if fmt == 'time':
            return f'{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00'
        if fmt == 'email':
            return f'{self.word()}@example.com'
        if fmt in ('uri', 'url', 'uri-reference'):
            return f'https://example.com/{self.word()}'
        if fmt == 'uuid':
            hexits = f'{rng.getrandbits(128):032x}'
            return f'{hexits[:8]}-{hexits[8:12]}-4{hexits[13:16]}-a{hexits[17:20]}-{hexits[20:]}'
        if fmt == 'ipv4':
            return f'192.0.2.{rng.randint(1, 254)}'
        if fmt == 'hostname':
            return f'{self.word()}.example.com'
        return None

    def make_integer(self, schema: dict[str, Any], depth: int) -> int:
        lows = [math.ceil(schema['minimum'])] if _is_number(schema.get('minimum')) else []
        if _is_number(schema.get('exclusiveMinimum')):
            lows.append(math.floor(schema['exclusiveMinimum']) + 1)
        highs = [math.floor(schema['maximum'])] if _is_number(schema.get('maximum')) else []
        if _is_number(schema.get('exclusiveMaximum')):
            highs.append(math.ceil(schema['exclusiveMaximum']) - 1)
        high_bound = min(highs) if highs else None
        low = max(lows) if lows else min(0, high_bound) if high_bound is not None else 0
        high = max(low, min(high_bound if high_bound is not None else low + 100, low + 100))
        step = schema.get('multipleOf')
        if isinstance(step, int) and step > 0:
            first = -(-low // step) * step
            return first + step * self.rng.randint(0, max(0, (high - first) // step))
        return self.rng.randint(low, high)

    def make_number(self, schema: dict[str, Any], depth: int) -> float | int:
        if isinstance(schema.get('multipleOf'), int):
            return self.make_integer(schema, depth)
        lows = [schema[k] for k in ('minimum', 'exclusiveMinimum') if _is_number(schema.get(k))]
        highs = [schema[k] for k in ('maximum', 'exclusiveMaximum') if _is_number(schema.get(k))]
        high = float(min(highs)) if highs else None
        low = float(max(lows)) if lows else min(0.0, high - 100.0) if high is not None else 0.0
        high = low + 100.0 if high is None else high
        # Strictly inside the interval, so exclusive bounds hold too.
        value = round(low + (high - low) * (0.25 + self.rng.random() / 2), 2)
        return value if low < value < high or low == high else (low + high) / 2


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def schema_value(schema: Any, rng: random.Random) -> Any:
    """A JSON value satisfying `schema` (types, enum/const, $ref, anyOf/allOf, bounds, formats).

    `pattern` is not honoured: no general regex inverse is worth its weight here.
    """
    return _SchemaFaker(schema, rng).value(schema)


# --------------------------------------------------------------------------------------------
# Deciding the reply
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool on offer: its name and the JSON schema of its arguments."""

    name: str
    parameters: Any = None


@dataclass(slots=True)
class Conversation:
    """What a vendor request boils down to, for `plan_reply`."""

    prompt: str
    """Text of the last user message."""
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: Literal['auto', 'none', 'required'] = 'auto'
    forced_tool: str | None = None
    """A tool the request names to be called (OpenAI's `tool_choice` object)."""
    tool_result: tuple[str, str] | None = None
    """(tool name, result text) when the last message is a tool result."""
    called_tools: set[str] = field(default_factory=set)
    json_schema: Any = None
    """A JSON schema the answer must satisfy (structured output)."""
    json_object: bool = False
    """Any JSON object will do (OpenAI's `json_object` mode)."""
    parallel_tool_calls: bool = True
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCallPlan:
    """One tool call of a reply; `argument_fragments` join to `arguments`."""

    id: str
    name: str
    arguments: str
    argument_fragments: list[str]


@dataclass(slots=True)
class Reply:
    """What to answer: text deltas (or JSON fragments) or tool calls, and why it stopped."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[ToolCallPlan] = field(default_factory=list)
    finish: Literal['stop', 'length', 'tool_calls'] = 'stop'
    is_json: bool = False

    @property
    def deltas(self) -> int:
        """How many content or argument deltas a stream of this reply carries (its completion tokens)."""
        return len(self.text) + sum(len(call.argument_fragments) for call in self.tool_calls)


def _mentions(prompt: str, name: str) -> bool:
    spaced = re.escape(name).replace('_', '[ _]')
    return re.search(rf'(?<![\w]){spaced}(?![\w])', prompt, re.IGNORECASE) is not None


def _tools_to_call(conv: Conversation) -> list[ToolSpec]:
    if not conv.tools or conv.tool_choice == 'none':
        return []
    by_name = {tool.name: tool for tool in conv.tools}
    if conv.forced_tool is not None:
        return [by_name[conv.forced_tool]] if conv.forced_tool in by_name else []
    if conv.tool_result is not None:
        if conv.tool_choice != 'required':
            return []
        # A required call after a tool result: the agent loop's next step, usually the result tool,
        # which comes last in the list; prefer a tool not called yet so the loop ends.
        fresh = [tool for tool in reversed(conv.tools) if tool.name not in conv.called_tools]
        return [fresh[0] if fresh else conv.tools[-1]]
    mentioned = [tool for tool in conv.tools if _mentions(conv.prompt, tool.name)]
    if mentioned:
        return mentioned if conv.parallel_tool_calls else mentioned[:1]
    if conv.tool_choice == 'required' or _ASKS_FOR_TOOL_RE.search(conv.prompt):
        return [conv.tools[0]]
    return []


def _text_tokens(words: Sequence[str]) -> list[str]:
    tokens = [word if i == 0 else f' {word}' for i, word in enumerate(words)]
    if tokens:
        tokens[0] = tokens[0][:1].upper() + tokens[0][1:]
        tokens[-1] += '.'
    return tokens


def plan_reply(conv: Conversation, *, tokens: int, seed: int | str, salt: str = '') -> Reply:
    """Decide the reply to `conv`: tool calls, structured JSON, or `tokens` words of text.

    Tools are called when the request forces one (`tool_choice` naming it, or `required`), or when
    the last user message names a tool or asks to use/call a tool or function. After a tool result
    the reply is text mentioning the result, unless a call is required. Text is `tokens` words
    chosen from `seed` and the prompt; `max_tokens` below that cuts it with finish reason `length`.
    """
    rng = seeded_rng(seed, conv.prompt, salt)
    calls = _tools_to_call(conv)
    if calls:
        plans = []
        for tool in calls:
            arguments = orjson.dumps(schema_value(tool.parameters or {'type': 'object'}, rng)).decode()
            call_id = 'call_' + ''.join(rng.choices(string.ascii_letters + string.digits, k=24))
            plans.append(ToolCallPlan(call_id, tool.name, arguments, fragments(arguments)))
        return Reply(tool_calls=plans, finish='tool_calls')
    if conv.json_schema is not None or conv.json_object:
        schema = conv.json_schema if conv.json_schema is not None else {'type': 'object'}
        value = schema_value(schema, rng)
        if conv.json_schema is None and not value:
            value = {'answer': ' '.join(rng.choice(_WORDS) for _ in range(max(1, min(tokens, 12))))}
        return Reply(text=fragments(orjson.dumps(value).decode()), is_json=True)
    words: list[str] = []
    if conv.tool_result is not None:
        name, result = conv.tool_result
        words = ['tool', name, 'returned', *result.split()[:40]][: max(tokens, 4)]
    words += [rng.choice(_WORDS) for _ in range(tokens - len(words))]
    text = _text_tokens(words)
    if conv.max_tokens is not None and conv.max_tokens < len(text):
        return Reply(text=text[: conv.max_tokens], finish='length')
    return Reply(text=text)


# --------------------------------------------------------------------------------------------
# Pacing
# --------------------------------------------------------------------------------------------


class Pacer:
    """Sleeps so tokens leave at `tps` per second after a first-token delay of `ttft` seconds.

    Deadlines are computed from the first token's time, so scheduling jitter does not accumulate.
    """

    def __init__(self, controls: Controls) -> None:
        self.ttft = controls.ttft
        self.interval = 1.0 / controls.tps if controls.tps > 0 else 0.0
        self._first_at: float | None = None
        self._sent = 0

    async def next_token(self) -> None:
        """Wait until the next token is due."""
        if self._first_at is None:
            if self.ttft > 0:
                await anyio.sleep(self.ttft)
            self._first_at = anyio.current_time()
        elif self.interval > 0:
            due = self._first_at + self._sent * self.interval
            delay = due - anyio.current_time()
            if delay > 0:
                await anyio.sleep(delay)
            else:
                await anyio.lowlevel.checkpoint()
        self._sent += 1

    async def whole_reply(self, tokens: int) -> None:
        """Wait as long as generating `tokens` tokens takes (for a non-streamed answer)."""
        delay = self.ttft + max(tokens - 1, 0) * self.interval
        if delay > 0:
            await anyio.sleep(delay)
