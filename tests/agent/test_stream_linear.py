"""Streamed results stay linear in the number of deltas: counted work, not timed.

Reading a streamed result costs work in proportion to what is read: the assembler rebuilds only
the parts that changed since the last read, and `stream()` re-reads and validates the partial
result only at debounce points (by default at most every 0.1 s), not on every delta. The counts
below (parts built, partial validations run) are what made a long structured result quadratic
before; timing targets live in benchmarks/structured_stream.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

from modelkit import Agent
from modelkit.result import DEFAULT_DEBOUNCE_S

from ._models import ScriptedModel, call, calls

pytestmark = pytest.mark.anyio


def counting_story() -> tuple[type[BaseModel], list[int]]:
    """A result type whose every validation (partial or final) is counted."""
    count = [0]

    class Story(BaseModel):
        text: str

        @field_validator('text')
        @classmethod
        def _count(cls, value: str) -> str:
            count[0] += 1
            return value

    return Story, count


@pytest.mark.parametrize('deltas', [1_000, 10_000])
async def test_default_stream_validates_at_debounce_points_not_per_delta(deltas: int) -> None:
    story, validations = counting_story()
    args = '{"text": "' + 'x' * deltas + '"}'
    model = ScriptedModel(calls(call('final_result', args)), chunk_size=1)
    agent: Agent[None, Any] = Agent(model, result_type=story)
    started = time.monotonic()
    async with agent.run_stream('go') as result:
        items = [item async for item in result.stream()]
    elapsed = time.monotonic() - started
    (stream,) = model.streams
    assert len(stream.timing.event_times) == len(args) + 1  # the start, then one delta per character
    assert items[-1].text == 'x' * deltas

    # One validation per debounce point, plus the first read, the flush at the end and the final
    # result: bounded by the time taken, not by the number of deltas (which was 1 per delta).
    points = elapsed / DEFAULT_DEBOUNCE_S
    assert validations[0] <= 3 + points
    # And the part is built once per read, never per delta.
    assert stream.parts_built <= 3 + points


@pytest.mark.parametrize('arg_chars', [10, 100])
async def test_per_event_reads_rebuild_only_the_part_that_changed(arg_chars: int) -> None:
    # The result call, then ten more calls streamed after it: with debounce_by=None every event
    # is read, and each read rebuilds the one part that event changed, not every part so far.
    side = [call('side', '{"n": "' + 'y' * arg_chars + '"}', f'side_{i}') for i in range(10)]
    model = ScriptedModel(calls(call('final_result', '{"text": "ok"}'), *side), chunk_size=1)
    story, _ = counting_story()
    agent: Agent[None, Any] = Agent(model, result_type=story)
    async with agent.run_stream('go') as result:
        items = [item async for item in result.stream(debounce_by=None)]
    (stream,) = model.streams
    events = len(stream.timing.event_times)
    assert items[-1].text == 'ok'
    assert events > 10 * arg_chars
    # Every event changes one part; each read after it builds that part alone (plus the first
    # read and the final one). Rebuilding every part on every read would be ~5x the events.
    assert stream.parts_built <= events + 2
