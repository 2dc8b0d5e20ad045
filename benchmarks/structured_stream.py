"""Benchmark 5: a structured result streamed through `Agent.run_stream(...).stream()`, short and long.

A `FunctionModel` streams the JSON arguments of the result tool in memory, one small fragment per
delta, for a result of 1,000 and of 20,000 deltas. User code iterates `result.stream()` with its
default debounce and keeps the last item. What is measured is whether the cost per delta stays
flat as the result grows: reading and validating everything so far on every delta would make it
grow with the length (quadratic in total), which is what the target guards against.

Floor, per case: the same stream through `FunctionModel.request_stream`, every event read, the
response assembled and the result validated once at the end, which is the least any client must
do to get the same result from the same deltas.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel

from ._harness import Result, print_table, time_round_robin_async

__all__ = ('DELTA_COUNTS', 'TARGET_FLATNESS', 'build_deltas', 'run')

DELTA_COUNTS = (1_000, 20_000)
"""The short and the long result, in deltas."""

TARGET_FLATNESS = 1.3
"""Time per delta of the long result over that of the short one must stay below this (issue 7):
near 1 when a delta costs the same however much came before it; ~20 when every delta re-reads
and re-validates everything so far."""

_WORDS = (' the', ' stream', ' of', ' tokens', ' café', ' 東京', ' is', ' long', ',', '.', ' "q"', ' 42')


class Article(BaseModel):
    """The structured result: a title and paragraphs of text."""

    title: str
    paragraphs: list[str]


def build_deltas(count: int, seed: int) -> tuple[list[str], Article]:
    """`count` JSON fragments that join into an `Article`, and the article they spell."""
    rng = random.Random(seed)
    fragments = ['{"title": "A long article", "paragraphs": ["']
    paragraphs: list[list[str]] = [[]]
    for i in range(count - 2):
        if i and i % 200 == 0:
            fragments.append('", "')
            paragraphs.append([])
            continue
        word = rng.choice(_WORDS)
        paragraphs[-1].append(word)
        fragments.append(word.replace('"', '\\"'))
    fragments.append('"]}')
    article = Article(title='A long article', paragraphs=[''.join(p) for p in paragraphs])
    return fragments, article


def _function_model(fragments: list[str]) -> Any:
    from modelkit.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

    async def stream(messages: list[Any], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        name = info.result_tools[0].name
        yield {0: DeltaToolCall(name, fragments[0], 'call_1')}
        for fragment in fragments[1:]:
            yield {0: DeltaToolCall(json_args=fragment)}

    return FunctionModel(stream_function=stream)


Contender = Callable[[], Awaitable[Article]]


def _agent_stream(fragments: list[str]) -> Contender:
    from modelkit import Agent

    agent = Agent(_function_model(fragments), result_type=Article)

    async def run() -> Article:
        last: Any = None
        async with agent.run_stream('Write a long article.') as result:
            async for item in result.stream():
                last = item
        article: Article = last
        return article

    return run


def _floor(fragments: list[str]) -> Contender:
    from pydantic import TypeAdapter

    from modelkit.messages import ModelRequest, ToolCallPart, UserPromptPart
    from modelkit.models import ModelRequestParameters
    from modelkit.tools import ToolDefinition

    model = _function_model(fragments)
    adapter = TypeAdapter(Article)
    result_tool = ToolDefinition('final_result', 'The result', adapter.json_schema())
    params = ModelRequestParameters(result_tools=[result_tool], allow_text_result=False)
    messages: list[Any] = [ModelRequest([UserPromptPart('Write a long article.')])]

    async def run() -> Article:
        async with model.request_stream(messages, None, params) as streamed:
            async for _ in streamed:
                pass
            part = streamed.get().parts[0]
        assert isinstance(part, ToolCallPart)
        return adapter.validate_json(part.args_as_json_str())

    return run


async def _run_async(repeats: int, seed: int) -> list[Result]:
    results: list[Result] = []
    for count in DELTA_COUNTS:
        fragments, expected = build_deltas(count, seed)
        case_name = f'{count:,} deltas'
        case: list[tuple[Result, Callable[[], Awaitable[object]] | None]] = []
        for name, factory, is_floor in (
            ('floor: request_stream, validate once', _floor, True),
            ('modelkit Agent.run_stream().stream()', _agent_stream, False),
        ):
            result = Result('structured', case_name, name, units=count, is_floor=is_floor)
            contender = factory(fragments)
            try:
                got = await contender()  # untimed: warms caches and checks the result
            except Exception as exc:
                result.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
                case.append((result, None))
                continue
            if got != expected:
                result.status = 'error: wrong result'
            case.append((result, contender))
        await time_round_robin_async(case, repeats)
        results.extend(r for r, _ in case)
    return results


def flatness(results: list[Result]) -> Result:
    """A row comparing modelkit's time per delta on the long result with that on the short one."""
    short, long = (next(r for r in results if not r.is_floor and r.units == count) for count in DELTA_COUNTS)
    row = Result(
        'structured',
        'per delta, long / short',
        f'modelkit at {long.units:,} over {short.units:,} deltas',
        runs=[t / long.units for t in long.runs],
        units=1,
        target=TARGET_FLATNESS,
        status=short.status or long.status,
    )
    if short.runs:
        row.floor_median = statistics.median(short.runs) / short.units
    return row


def run(repeats: int, seed: int) -> list[Result]:
    """Time the floor and `stream()` on the short and the long result, print both tables."""
    results: list[Result] = anyio.run(_run_async, repeats, seed, backend='asyncio')
    counts = ' and '.join(f'{n:,}' for n in DELTA_COUNTS)
    print_table(
        f'5. Structured result through Agent.run_stream().stream(), {counts} deltas in memory, '
        f'median of {repeats}',
        results,
        unit='delta',
    )
    row = flatness(results)
    ratio = row.ratio
    per_delta = [
        f'{statistics.median(r.runs) / r.units * 1e6:.2f} µs at {r.units:,}'
        for r in results
        if not r.is_floor and r.runs
    ]
    shown = f'{ratio:.2f}' if ratio is not None else '-'
    print(
        f'   time per delta: {", ".join(per_delta) or "-"}; long / short = {shown} '
        f'(target: <= {TARGET_FLATNESS:g}, flat) {row.verdict or row.status}'
    )
    return [*results, row]
