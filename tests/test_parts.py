"""The shared streamed-parts assembler: which part a vendor delta belongs to, and what events it yields."""

from __future__ import annotations

from modelkit._parts import PartsAssembler
from modelkit.messages import (
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ToolCallPart,
    ToolCallPartDelta,
)


def test_text_deltas_grow_one_part_and_yield_start_then_deltas() -> None:
    parts = PartsAssembler()
    first = parts.text_delta('content', 'Hel')
    second = parts.text_delta('content', 'lo')
    assert first == PartStartEvent(0, TextPart('Hel'))
    assert second == PartDeltaEvent(0, TextPartDelta('lo'))
    assert parts.get_parts() == [TextPart('Hello')]


def test_empty_text_delta_yields_nothing_and_adds_no_part() -> None:
    parts = PartsAssembler()
    assert parts.text_delta('content', '') is None
    assert parts.get_parts() == []


def test_text_without_vendor_id_continues_the_last_text_part_only() -> None:
    parts = PartsAssembler()
    parts.text_delta(None, 'a')
    parts.text_delta(None, 'b')
    parts.tool_call(None, 'f', '{}', 'call_1')
    parts.text_delta(None, 'c')
    assert parts.get_parts() == [TextPart('ab'), ToolCallPart('f', '{}', 'call_1'), TextPart('c')]


def test_tool_call_arguments_split_over_deltas_are_joined() -> None:
    parts = PartsAssembler()
    start = parts.tool_call_delta(0, 'get_weather', '', 'call_a')
    delta = parts.tool_call_delta(0, None, '{"city": ', None)
    parts.tool_call_delta(0, None, '"Paris"}', None)
    assert isinstance(start, PartStartEvent)
    assert delta == PartDeltaEvent(0, ToolCallPartDelta(None, '{"city": ', None))
    [call] = parts.get_parts()
    assert call == ToolCallPart('get_weather', '{"city": "Paris"}', 'call_a')
    assert isinstance(call, ToolCallPart)
    assert call.args_as_dict() == {'city': 'Paris'}


def test_parallel_calls_at_different_indexes_stay_apart() -> None:
    parts = PartsAssembler()
    parts.tool_call_delta(0, 'a', '{"x":', 'call_0')
    parts.tool_call_delta(1, 'b', '{"y":', 'call_1')
    parts.tool_call_delta(0, None, '1}', None)
    parts.tool_call_delta(1, None, '2}', None)
    assert parts.get_parts() == [
        ToolCallPart('a', '{"x":1}', 'call_0'),
        ToolCallPart('b', '{"y":2}', 'call_1'),
    ]


def test_a_new_id_at_a_reused_index_is_a_new_call() -> None:
    parts = PartsAssembler()
    parts.tool_call_delta(0, 'a', '{}', 'call_0')
    event = parts.tool_call_delta(0, 'b', '{}', 'call_9')
    assert event == PartStartEvent(1, ToolCallPart('b', '{}', 'call_9'))
    assert [p.tool_call_id for p in parts.get_parts() if isinstance(p, ToolCallPart)] == ['call_0', 'call_9']


def test_a_call_with_no_arguments_still_completes() -> None:
    parts = PartsAssembler()
    parts.tool_call_delta(0, 'now', None, 'call_0')
    [call] = parts.get_parts()
    assert isinstance(call, ToolCallPart)
    assert call.args == ''
    assert call.args_as_dict() == {}
    assert call.args_as_json_str() == '{}'


def test_arguments_before_the_name_wait_for_it() -> None:
    parts = PartsAssembler()
    assert parts.tool_call_delta(0, None, '{"q"', None) is None
    assert parts.get_parts() == []  # a call with no name yet is not a part
    event = parts.tool_call_delta(0, 'search', ':1}', 'call_s')
    assert event == PartStartEvent(0, ToolCallPart('search', '{"q":1}', 'call_s'))


def test_a_call_without_vendor_id_keeps_one_generated_id_across_reads() -> None:
    parts = PartsAssembler()
    parts.tool_call_delta(0, 'f', '{}', None)
    first = parts.get_parts()[0]
    parts.text_delta('content', 'x')  # invalidates the cached parts
    second = parts.get_parts()[0]
    assert isinstance(first, ToolCallPart)
    assert isinstance(second, ToolCallPart)
    assert first.tool_call_id == second.tool_call_id


def test_thinking_text_and_signature_accumulate() -> None:
    parts = PartsAssembler()
    parts.thinking_delta('r', 'Let me ')
    parts.thinking_delta('r', 'think', signature='sig-')
    parts.thinking_delta('r', None, signature='end')
    parts.text_delta('t', 'Answer')
    assert parts.get_parts() == [ThinkingPart('Let me think', signature='sig-end'), TextPart('Answer')]


def test_whole_tool_call_with_dict_arguments() -> None:
    parts = PartsAssembler()
    event = parts.tool_call('g', 'lookup', {'id': 3}, 'call_g')
    assert event == PartStartEvent(0, ToolCallPart('lookup', {'id': 3}, 'call_g'))


def test_pydantic_ai_names_are_kept_for_custom_models() -> None:
    parts = PartsAssembler()
    parts.handle_text_delta(vendor_part_id='c', content='hi')
    parts.handle_tool_call_delta(vendor_part_id=0, tool_name='f', args='{}', tool_call_id='call_1')
    parts.handle_tool_call_part(vendor_part_id=1, tool_name='g', args={}, tool_call_id='call_2')
    assert parts.get_parts() == [
        TextPart('hi'),
        ToolCallPart('f', '{}', 'call_1'),
        ToolCallPart('g', {}, 'call_2'),
    ]


# Reads stay incremental: a read rebuilds only what changed since the last one.


def test_a_read_rebuilds_only_the_parts_changed_since_the_last_read() -> None:
    parts = PartsAssembler()
    parts.thinking_delta('r', 'hm')
    parts.text_delta('t', 'Hel')
    parts.tool_call_delta(0, 'f', '{"a"', 'call_1')
    thinking, text, call = parts.get_parts()
    assert parts.parts_built == 3

    parts.text_delta('t', 'lo')
    again = parts.get_parts()
    assert again == [ThinkingPart('hm'), TextPart('Hello'), ToolCallPart('f', '{"a"', 'call_1')]
    assert again[0] is thinking
    assert again[2] is call
    assert again[1] is not text
    assert parts.parts_built == 4

    parts.tool_call_delta(0, None, ': 1}')
    parts.thinking_delta('r', signature='sig')
    final = parts.get_parts()
    assert final[1] is again[1]
    assert final == [
        ThinkingPart('hm', signature='sig'),
        TextPart('Hello'),
        ToolCallPart('f', '{"a": 1}', 'call_1'),
    ]
    assert parts.parts_built == 6


def test_reading_without_a_change_builds_nothing() -> None:
    parts = PartsAssembler()
    parts.text_delta('t', 'a')
    parts.tool_call_delta(0, 'f', '{}', 'call_1')
    first = parts.get_parts()
    assert parts.get_parts() is first
    # A delta that carries nothing changes nothing.
    assert parts.tool_call_delta(0, None, None) is None
    assert parts.text_delta('t', '') is None
    assert parts.get_parts() is first
    assert parts.parts_built == 2


def test_a_nameless_call_is_built_once_its_name_arrives() -> None:
    parts = PartsAssembler()
    parts.tool_call_delta(0, None, '{"x": 1}')
    assert parts.get_parts() == []
    assert parts.parts_built == 0
    parts.tool_call_delta(0, 'f', None, 'call_1')
    assert parts.get_parts() == [ToolCallPart('f', '{"x": 1}', 'call_1')]
    assert parts.parts_built == 1


def test_reading_after_every_delta_builds_one_part_per_delta_however_many_parts() -> None:
    # Ten finished calls, then one growing text: every read rebuilds the text alone.
    for deltas in (100, 1000):
        parts = PartsAssembler()
        for i in range(10):
            parts.tool_call(i, 'f', '{}', f'call_{i}')
        parts.get_parts()
        before = parts.parts_built
        for _ in range(deltas):
            parts.text_delta('t', 'ab')
            parts.get_parts()
        assert parts.parts_built - before == deltas
        assert parts.get_parts()[-1] == TextPart('ab' * deltas)
