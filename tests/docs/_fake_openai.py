"""A fake OpenAI chat-completions service for the documentation's examples.

The examples in `docs/` are written the way users write them (`Agent('openai:gpt-4o')`, a key in
`OPENAI_API_KEY`) and must print what the page shows, so every request they make is answered here
from a script keyed by the prompt: text, tool calls, structured results (as a result-tool call, or
as JSON text when the request asks for native `response_format` output), streamed as SSE when the
request says `stream: true`. It is installed as a respx route, so nothing leaves the process.

A script is one `Answer`, a list of answers (the n-th answers the n-th request of a run), or a
function of the `Exchange`. Ids and timestamps are fixed so that what the examples print is the
same every time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.helpers.streams import Pieces

__all__ = ('ANSWERS', 'CREATED', 'Answer', 'Call', 'Exchange', 'chat_completions')

CREATED = 1_735_689_600
"""2025-01-01T00:00:00Z: the `created` time of every fake completion."""

RETRY_SUFFIX = 'Fix the errors and try again.'
"""How modelkit ends a retry prompt; such user messages continue a run rather than start one."""

RESULT_TOOL = 'final_result'
"""A `Call` to this name goes to the request's result tool (its exact name may carry a suffix)."""


@dataclass(frozen=True)
class Call:
    """A tool call the fake model makes."""

    tool: str
    args: dict[str, Any] | str = field(default_factory=dict)
    """A dict, or a raw argument string (to show how bad arguments are handled)."""


@dataclass(frozen=True)
class Answer:
    """What the fake model says to one request."""

    text: str | None = None
    calls: tuple[Call, ...] = ()
    result: Any = None
    """A structured result: a result-tool call, or JSON text when the request asks for native output."""
    finish: str | None = None


@dataclass
class Exchange:
    """One request, as a script sees it."""

    body: dict[str, Any]
    prompt: str
    """The user prompt that started this run (retry prompts are not counted)."""
    step: int
    """How many model answers this run already has: 0 for its first request."""
    tool_results: dict[str, str]
    """Tool name -> content of the tool results in the last message (empty when there are none)."""
    retry: str | None
    """The retry prompt the request ends with, if any."""

    @property
    def native(self) -> bool:
        """Whether the request asks for native structured output (`response_format`)."""
        return 'response_format' in self.body

    @property
    def tool_names(self) -> list[str]:
        """The tools on offer, in order."""
        return [t['function']['name'] for t in self.body.get('tools', [])]


Script = Answer | Sequence[Answer] | Callable[[Exchange], Answer]


def _weather(ex: Exchange) -> Answer:
    if 'get_weather' not in ex.tool_results:
        return Answer(calls=(Call('get_weather', {'city': 'Paris'}),))
    return Answer(text=f'It is {ex.tool_results["get_weather"]} in Paris.')


def _dice(ex: Exchange) -> Answer:
    if not ex.tool_results:
        return Answer(calls=(Call('get_player_name'), Call('roll_die')))
    name = ex.tool_results.get('get_player_name', 'player')
    roll = ex.tool_results.get('roll_die', '?')
    return Answer(text=f'{name} rolled a {roll}. Well done!')


def _guess(ex: Exchange) -> Answer:
    # Guesses 3, is told to go higher, then guesses 5.
    guesses = {0: 3, 1: 5}
    if ex.step in guesses:
        return Answer(calls=(Call('check_guess', {'guess': guesses[ex.step]}),))
    return Answer(text='Got it: the number is 5.')


def _balance(ex: Exchange) -> Answer:
    if 'customer_balance' not in ex.tool_results:
        return Answer(calls=(Call('customer_balance', {'include_pending': True}),))
    balance = ex.tool_results['customer_balance']
    return Answer(result={'advice': f'Your balance is {balance}.', 'block_card': False, 'risk': 1})


ANSWERS: dict[str, Script] = {
    # index.md, models.md
    'What is the capital of France?': Answer('The capital of France is Paris.'),
    'Where were the olympics held in 2012?': Answer(result={'city': 'London', 'country': 'United Kingdom'}),
    'Say hello.': Answer('Hello!'),
    # agents.md
    'What is the weather like in Paris?': _weather,
    'Roll the die for me.': _dice,
    'Guess my number between 1 and 10.': _guess,
    'Who are you?': Answer('I am a helpful assistant for Acme Bank.'),
    'What is my balance?': _balance,
    'Tell me a joke.': Answer('Why did the scarecrow win an award? He was outstanding in his field.'),
    'Explain it to a five-year-old.': Answer(
        'A scarecrow stands in a field and is very good at it, so he won a prize.'
    ),
    # streaming.md
    'Write a haiku about the sea.': Answer(
        'Waves fold into foam, the tide keeps its old promise, salt on the wind.'
    ),
    'Count from one to five.': Answer('One, two, three, four, five.'),
    # structured-output.md
    'Extract: Ada Lovelace, born 1815 in London.': Answer(
        result={'name': 'Ada Lovelace', 'birth_year': 1815, 'city': 'London'}
    ),
    'Give me three prime numbers.': Answer(result={'response': [2, 3, 5]}),
    'Describe the pet: a tabby that purrs a lot.': Answer(result={'name': 'Tabby', 'purrs': True}),
    'Is water wet?': Answer('Yes, in the everyday sense.'),
    'Extract: Grace Hopper, born 1906.': [
        Answer(result={'name': 'Grace Hopper', 'birth_year': 'nineteen-oh-six', 'city': None}),
        Answer(result={'name': 'Grace Hopper', 'birth_year': 1906, 'city': None}),
    ],
    'Name a city in the Netherlands.': [Answer('Paris'), Answer('Utrecht')],
}


# --------------------------------------------------------------------------------------------
# Reading the request
# --------------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return ' '.join(item.get('text', '') for item in content if isinstance(item, dict))
    return ''


def read_exchange(body: dict[str, Any]) -> Exchange:
    """The prompt that started the run, how far the run is, and the latest tool results."""
    messages: list[dict[str, Any]] = body['messages']
    start = None
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m['role'] == 'user' and not _text_of(m.get('content')).endswith(RETRY_SUFFIX):
            start = i
            break
    if start is None:
        raise LookupError('the request has no user prompt')
    prompt = _text_of(messages[start]['content'])
    step = sum(1 for m in messages[start:] if m['role'] == 'assistant')
    names: dict[str, str] = {}
    for m in messages:
        for call in m.get('tool_calls') or ():
            names[call['id']] = call['function']['name']
    tool_results: dict[str, str] = {}
    i = len(messages) - 1
    while i > start and messages[i]['role'] == 'tool':
        tool_results[names.get(messages[i]['tool_call_id'], '?')] = _text_of(messages[i]['content'])
        i -= 1
    last = messages[-1]
    retry = None
    if last['role'] in ('user', 'tool') and _text_of(last.get('content')).endswith(RETRY_SUFFIX):
        retry = _text_of(last['content'])
    return Exchange(body, prompt, step, tool_results, retry)


def _answer_for(ex: Exchange) -> Answer:
    script = ANSWERS.get(ex.prompt)
    if script is None:
        raise LookupError(f'the docs fake has no answer for the prompt {ex.prompt!r}')
    if isinstance(script, Answer):
        return script
    if callable(script):
        return script(ex)
    return script[min(ex.step, len(script) - 1)]


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


def _call_id(ex: Exchange, index: int) -> str:
    digest = hashlib.blake2b(f'{ex.prompt}|{ex.step}|{index}'.encode(), digest_size=6).hexdigest()
    return f'call_{digest}'


def _resolve(ex: Exchange, answer: Answer) -> tuple[str | None, list[tuple[str, str, str]]]:
    """The answer's text and its tool calls as (id, name, argument JSON)."""
    text = answer.text
    calls = list(answer.calls)
    if answer.result is not None:
        if ex.native:
            text = orjson.dumps(answer.result).decode()
        else:
            calls.append(Call(RESULT_TOOL, answer.result))
    resolved: list[tuple[str, str, str]] = []
    for index, call in enumerate(calls):
        name = call.tool
        if name == RESULT_TOOL:
            offered = [n for n in ex.tool_names if n.startswith(RESULT_TOOL)]
            name = offered[0] if offered else RESULT_TOOL
        args = call.args if isinstance(call.args, str) else orjson.dumps(call.args).decode()
        resolved.append((_call_id(ex, index), name, args))
    return text, resolved


def _words(text: str) -> int:
    return len(re.findall(r'\w+|[^\w\s]', text))


def _usage(body: dict[str, Any], text: str | None, calls: list[tuple[str, str, str]]) -> dict[str, int]:
    prompt = sum(4 + _words(_text_of(m.get('content'))) for m in body['messages'])
    completion = _words(text or '') + sum(1 + _words(args) for _, _, args in calls)
    return {'prompt_tokens': prompt, 'completion_tokens': completion, 'total_tokens': prompt + completion}


def _error(status: int, message: str, code: str) -> httpx.Response:
    error = {'message': message, 'type': 'invalid_request_error', 'param': None, 'code': code}
    return httpx.Response(status, json={'error': error})


def chat_completions(request: httpx.Request) -> httpx.Response:
    """The respx side effect answering `POST .../chat/completions`."""
    key = request.headers.get('api-key') or request.headers.get('authorization', '').removeprefix('Bearer ')
    if not key or key == 'not-valid':
        return _error(401, 'Incorrect API key provided.', 'invalid_api_key')
    body = orjson.loads(request.content)
    try:
        ex = read_exchange(body)
        answer = _answer_for(ex)
    except LookupError as exc:
        return _error(400, str(exc), 'docs_fake')
    text, calls = _resolve(ex, answer)
    finish = answer.finish or ('tool_calls' if calls else 'stop')
    usage = _usage(body, text, calls)
    if body.get('stream'):
        include_usage = bool((body.get('stream_options') or {}).get('include_usage'))
        stream = _sse(body['model'], text, calls, finish, usage if include_usage else None)
        return httpx.Response(200, headers={'content-type': 'text/event-stream'}, stream=stream)
    message: dict[str, Any] = {'role': 'assistant', 'content': text}
    if calls:
        message['tool_calls'] = [
            {'id': i, 'type': 'function', 'function': {'name': n, 'arguments': a}} for i, n, a in calls
        ]
    payload = {
        'id': 'chatcmpl-docs',
        'object': 'chat.completion',
        'created': CREATED,
        'model': body['model'],
        'choices': [{'index': 0, 'message': message, 'finish_reason': finish}],
        'usage': usage,
    }
    return httpx.Response(200, json=payload)


def _fragments(text: str) -> list[str]:
    return re.findall(r'\s*\S+', text) or [text]


def _sse(
    model: str,
    text: str | None,
    calls: list[tuple[str, str, str]],
    finish: str,
    usage: dict[str, int] | None,
) -> Pieces:
    def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> bytes:
        choices = [] if delta is None else [{'index': 0, 'delta': delta, 'finish_reason': finish_reason}]
        payload = {
            'id': 'chatcmpl-docs',
            'object': 'chat.completion.chunk',
            'created': CREATED,
            'model': model,
            'choices': choices,
            **extra,
        }
        return b'data: ' + orjson.dumps(payload) + b'\n\n'

    events = [chunk({'role': 'assistant', 'content': ''})]
    if text:
        events.extend(chunk({'content': piece}) for piece in _fragments(text))
    for index, (call_id, name, args) in enumerate(calls):
        start = {
            'index': index,
            'id': call_id,
            'type': 'function',
            'function': {'name': name, 'arguments': ''},
        }
        events.append(chunk({'tool_calls': [start]}))
        for piece in re.findall(r'[^,]+,?', args):
            events.append(chunk({'tool_calls': [{'index': index, 'function': {'arguments': piece}}]}))
    events.append(chunk({}, finish))
    if usage is not None:
        events.append(chunk(None, usage=usage))
    events.append(b'data: [DONE]\n\n')
    return Pieces(events)  # one body chunk per event, as a real server flushes them
