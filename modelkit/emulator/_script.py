"""What the emulator says, and when: vendor-neutral scripted behaviour.

Vendor modules turn their request into a `Conversation`, ask `plan_reply` for a `Reply` (text
tokens, tool calls or JSON fragments) and write it in their own wire format, paced by `Pacer`.
Everything is deterministic: the same seed, prompt and options give the same bytes, so tests can
assert on content and benchmarks compare like with like.

Per-request options arrive as `x-emulator-<name>` headers or as `+<name>=<value>` suffixes of the
model name (`gpt-4o+tokens=5+fault=429`); `parse_controls` reads both, the model name winning.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import string
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

import anyio
import anyio.lowlevel
import orjson

from .._schema_values import WORDS as _WORDS
from .._schema_values import generate_from_schema
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
    'json_tokens',
    'parse_controls',
    'plan_reply',
    'seeded_rng',
)

CONTROL_HEADER_PREFIX = 'x-emulator-'
FAULTS = frozenset({'429', '500', '503', 'slow-first-byte', 'stream-error', 'drop', 'truncate'})
"""The faults every vendor module answers (a vendor adds its own through `Vendor.extra_faults`)."""
MID_STREAM_FAULTS = frozenset({'stream-error', 'drop', 'truncate'})
"""Faults that strike inside a stream, after `fault-after` tokens."""
MAX_TOKENS_OPTION = 1_000_000
"""Upper bound on `tokens`: a typo must not make the emulator generate for an hour."""
MAX_FAULT_COUNTERS = 10_000
"""Distinct (key, fault spec) counters kept; the oldest are forgotten past this so a long-running
`modelkit emulate` cannot grow without bound."""
THINKING_TOKENS = 12
"""Thinking deltas in a reply when the request enables thinking (cut to the budget if smaller)."""
SIGNATURE_BYTES = 48
"""Length of the opaque signature planned for a thinking block, before base64."""

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


def parse_controls(
    model: str, headers: Mapping[str, str], config: EmulatorConfig, faults: frozenset[str] = FAULTS
) -> tuple[str, Controls]:
    """Split `model` into the bare model name and the request's effective `Controls`.

    Headers are `x-emulator-<option>` (names lower-case); options after `+` in the model name
    override headers, because a model name is chosen per call while headers are often client-wide.
    `faults` are the fault names the answering vendor knows.
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
        if fault not in faults:
            raise ControlError('fault', f'unknown fault {fault!r}; valid faults: {", ".join(sorted(faults))}')
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


def json_tokens(value: Any) -> int:
    """The token count of a JSON value sent in a request (tool definitions, tool arguments, a
    schema): that of its compact JSON text, as a vendor's tokenizer reads it."""
    return count_tokens(orjson.dumps(value).decode())


def fragments(text: str) -> list[str]:
    """Split text into word and punctuation runs (leading spaces attached) that join back to `text`.

    Arguments of `{"country":"UK"}` become `{"`, `country`, `":"`, `UK`, `"}`: the way real vendors
    split JSON across stream chunks.
    """
    return _FRAGMENT_RE.findall(text)


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
    thinking_budget: int | None = None
    """When set, the request enabled thinking: the reply thinks first (at most this many tokens)."""
    stop_sequences: tuple[str, ...] = ()
    """Text the answer stops before (finish reason `stop_sequence`, naming which one matched)."""

    def note_chat_tool_calls(self, messages: Iterable[Any]) -> dict[str, str]:
        """Mark the tools a chat-completions-shaped history already called (`tool_calls: [{id,
        function: {name}}]`, which OpenAI's and Cohere's v2 chat share); each call id's tool name."""
        call_names: dict[str, str] = {}
        for message in messages:
            for call in message.get('tool_calls') or []:
                function = call.get('function') if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get('name'), str):
                    self.called_tools.add(function['name'])
                    call_names[str(call.get('id'))] = function['name']
        return call_names


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
    finish: Literal['stop', 'length', 'tool_calls', 'stop_sequence'] = 'stop'
    is_json: bool = False
    thinking: list[str] = field(default_factory=list)
    """Thinking deltas that come before the answer (empty unless the request enabled thinking)."""
    signature: str = ''
    """The opaque signature of the thinking (base64, deterministic), for vendors that sign it."""
    stop_sequence: str | None = None
    """Which of the request's stop sequences ended the text, when `finish` is `stop_sequence`."""

    @property
    def deltas(self) -> int:
        """Thinking, content and argument deltas a stream of this reply carries (its output tokens)."""
        return (
            len(self.thinking)
            + len(self.text)
            + sum(len(call.argument_fragments) for call in self.tool_calls)
        )


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
    chosen from `seed` and the prompt; `max_tokens` below that cuts it with finish reason `length`,
    and a stop sequence found in it ends it before the match. With `thinking_budget` set, thinking
    deltas and their signature come first, whatever the answer.
    A tool schema no value satisfies raises `UserError` (the vendor module answers 400).
    """
    reply = _plan_answer(conv, tokens=tokens, rng=seeded_rng(seed, conv.prompt, salt))
    if conv.thinking_budget is not None:
        # A generator of its own, so enabling thinking leaves the answer's words as they were.
        rng = seeded_rng(seed, conv.prompt, salt, 'thinking')
        count = max(1, min(THINKING_TOKENS, conv.thinking_budget))
        reply.thinking = _text_tokens(['thinking', 'about', *(rng.choice(_WORDS) for _ in range(count - 2))])
        reply.thinking = reply.thinking[:count]
        reply.signature = base64.b64encode(rng.randbytes(SIGNATURE_BYTES)).decode()
    return reply


def _plan_answer(conv: Conversation, *, tokens: int, rng: random.Random) -> Reply:
    calls = _tools_to_call(conv)
    if calls:
        plans = []
        for tool in calls:
            value = generate_from_schema(tool.parameters or {'type': 'object'}, rng=rng)
            arguments = orjson.dumps(value).decode()
            call_id = 'call_' + ''.join(rng.choices(string.ascii_letters + string.digits, k=24))
            plans.append(ToolCallPlan(call_id, tool.name, arguments, fragments(arguments)))
        return Reply(tool_calls=plans, finish='tool_calls')
    if conv.json_schema is not None or conv.json_object:
        schema = conv.json_schema if conv.json_schema is not None else {'type': 'object'}
        value = generate_from_schema(schema, rng=rng)
        if conv.json_schema is None and not value:
            value = {'answer': ' '.join(rng.choice(_WORDS) for _ in range(max(1, min(tokens, 12))))}
        return Reply(text=fragments(orjson.dumps(value).decode()), is_json=True)
    words: list[str] = []
    if conv.tool_result is not None:
        name, result = conv.tool_result
        words = ['tool', name, 'returned', *result.split()[:40]][: max(tokens, 4)]
    words += [rng.choice(_WORDS) for _ in range(tokens - len(words))]
    text = _text_tokens(words)
    finish: Literal['stop', 'length'] = 'stop'
    if conv.max_tokens is not None and conv.max_tokens < len(text):
        text, finish = text[: conv.max_tokens], 'length'
    stopped = _cut_at_stop_sequence(text, conv.stop_sequences)
    if stopped is not None:
        return Reply(text=stopped[0], finish='stop_sequence', stop_sequence=stopped[1])
    return Reply(text=text, finish=finish)


def _cut_at_stop_sequence(text: list[str], stops: Sequence[str]) -> tuple[list[str], str] | None:
    """The tokens before the earliest stop sequence in the joined text, and which one matched."""
    joined = ''.join(text)
    found = [(joined.find(stop), stop) for stop in stops if stop and stop in joined]
    if not found:
        return None
    at, stop = min(found)
    kept: list[str] = []
    length = 0
    for token in text:
        if length + len(token) > at:
            if at > length:
                kept.append(token[: at - length])
            break
        kept.append(token)
        length += len(token)
    return kept, stop


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
