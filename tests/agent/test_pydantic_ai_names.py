"""Today's PydanticAI names work beside the Models page's, and neither warns (warnings are errors here)."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel

from modelkit import Agent, UserError
from modelkit.messages import ModelRequest, SystemPromptPart, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.tools import ToolDefinition
from tests.agent._models import ScriptedModel, call, calls, text

pytestmark = pytest.mark.anyio


class City(BaseModel):
    name: str


def test_output_type_is_result_type() -> None:
    agent = Agent(ScriptedModel(calls(call('final_result', {'name': 'Paris'}))), output_type=City)
    assert agent.result_type is City
    assert agent.output_type is City
    result = agent.run_sync('capital of France?')
    assert result.output == City(name='Paris')
    assert result.output is result.data


def test_output_type_and_result_type_together_is_misuse() -> None:
    with pytest.raises(UserError, match='result_type or output_type'):
        Agent('test', result_type=int, output_type=City)


def test_instructions_lead_every_request_and_stay_out_of_the_history() -> None:
    model = ScriptedModel(calls(call('get_time')), text('noon'))
    agent = Agent(model, instructions='Answer in French.', system_prompt='You are a clock.')

    @agent.tool_plain
    def get_time() -> str:
        return '12:00'

    result = agent.run_sync('what time is it?')
    assert result.output == 'noon'
    assert len(model.sent) == 2  # the tool call, then the answer: both carry the instructions
    for sent in model.sent:
        first = sent.messages[0]
        assert isinstance(first, ModelRequest)
        assert first.parts == [SystemPromptPart('Answer in French.')]
    history_parts = [p for m in result.all_messages() if isinstance(m, ModelRequest) for p in m.parts]
    contents = [getattr(p, 'content', None) for p in history_parts]
    assert 'Answer in French.' not in contents
    assert 'You are a clock.' in contents  # a system prompt is kept, as in PydanticAI

    # A later run with that history sends the later agent's instructions, not the earlier ones.
    model2 = ScriptedModel(text('midi'))
    agent2 = Agent(model2, instructions=['Be brief.', 'Use 24-hour time.'])
    agent2.run_sync('and now?', message_history=result.all_messages())
    sent = model2.sent[0].messages
    assert sent[0] == ModelRequest([SystemPromptPart('Be brief.\n\nUse 24-hour time.')])
    flat = [getattr(p, 'content', None) for m in sent[1:] if isinstance(m, ModelRequest) for p in m.parts]
    assert 'Answer in French.' not in flat
    assert 'Be brief.\n\nUse 24-hour time.' not in flat
    last = sent[-1]
    assert isinstance(last, ModelRequest)
    assert getattr(last.parts[-1], 'content', None) == 'and now?'


def test_no_instructions_sends_the_history_as_it_is() -> None:
    model = ScriptedModel(text('hi'))
    Agent(model).run_sync('hello')
    (first,) = model.sent[0].messages
    assert isinstance(first, ModelRequest)
    assert [type(p) for p in first.parts] == [UserPromptPart]


async def test_stream_output_and_get_output() -> None:
    agent = Agent(ScriptedModel(calls(call('final_result', {'name': 'Rome'}))), output_type=City)
    async with agent.run_stream('capital of Italy?') as result:
        items = [item async for item in result.stream_output()]
    assert items[-1] == City(name='Rome')
    agent2 = Agent(ScriptedModel(text('Ciao')))
    async with agent2.run_stream('hi') as result2:
        assert await result2.get_output() == 'Ciao'


def test_openai_chat_model_is_openai_model() -> None:
    from modelkit.models import openai

    assert openai.OpenAIChatModel is openai.OpenAIModel
    assert 'OpenAIChatModel' in openai.__all__


def test_model_request_parameters_accepts_output_names() -> None:
    tool = ToolDefinition('final_result', 'the result', {'type': 'object', 'properties': {}})
    params = ModelRequestParameters(output_tools=[tool], allow_text_output=False)
    assert params.result_tools == [tool]
    assert params.allow_text_result is False
    # The old names still build the same thing, and `replace` keeps working on either.
    assert params == ModelRequestParameters(result_tools=[tool], allow_text_result=False)
    assert dataclasses.replace(params, result_tools=[]).result_tools == []
    assert dataclasses.replace(params, output_tools=[]).result_tools == []
