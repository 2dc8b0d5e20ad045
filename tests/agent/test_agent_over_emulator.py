"""The agent end to end over loopback: OpenAIModel, provider and transport against the emulator.

Tools, a structured result through a result tool, native JSON output and streaming, with every
byte crossing a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from pydantic import BaseModel

from modelkit import Agent
from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.messages import ModelRequest, ToolReturnPart
from modelkit.models.openai import OpenAIModel
from modelkit.providers.openai import OpenAIProvider

pytestmark = pytest.mark.anyio


class City(BaseModel):
    city: str
    country: str


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(tokens=6)) as emu:
        yield emu


@pytest.fixture
async def model(emulator: Emulator) -> AsyncIterator[OpenAIModel]:
    async with httpx.AsyncClient(timeout=10) as http:
        provider = OpenAIProvider(
            base_url=emulator.base_url('openai'), api_key=emulator.api_key, http_client=http
        )
        yield OpenAIModel('gpt-4o', provider=provider)


async def test_tool_call_then_text(emulator: Emulator, model: OpenAIModel) -> None:
    agent = Agent(model, system_prompt='Use the tool.')
    calls: list[str] = []

    @agent.tool_plain
    def capital(country: str) -> str:
        """The capital of a country.

        Args:
            country: The country's name.
        """
        calls.append(country)
        return 'Paris'

    result = await agent.run('Capital of France?')
    assert isinstance(result.data, str)
    assert result.data
    assert len(calls) == 1
    returns = [p for m in result.all_messages() if isinstance(m, ModelRequest) for p in m.parts]
    assert any(isinstance(p, ToolReturnPart) and p.content == 'Paris' for p in returns)
    first = orjson.loads(emulator.requests[0].body)
    (tool,) = first['tools']
    assert tool['function']['name'] == 'capital'
    assert tool['function']['parameters']['properties']['country']['description'] == "The country's name."
    assert result.usage().requests == 2


async def test_structured_result_through_the_result_tool(emulator: Emulator, model: OpenAIModel) -> None:
    result = await Agent(model, result_type=City).run('A city')
    assert isinstance(result.data, City)
    sent = orjson.loads(emulator.requests[-1].body)
    assert [t['function']['name'] for t in sent['tools']] == ['final_result']


async def test_native_structured_output(emulator: Emulator, model: OpenAIModel) -> None:
    result = await Agent(model, result_type=City, result_mode='native').run('A city')
    assert isinstance(result.data, City)
    sent = orjson.loads(emulator.requests[-1].body)
    assert sent['response_format']['type'] == 'json_schema'
    assert sent['response_format']['json_schema']['name'] == 'final_result'
    assert 'tools' not in sent


async def test_streamed_text(model: OpenAIModel) -> None:
    async with Agent(model).run_stream('Hello') as result:
        deltas = [d async for d in result.stream_text(delta=True)]
    assert len(deltas) > 1
    assert ''.join(deltas) == await result.get_data()
    assert result.timing.time_to_first_token is not None
    assert len(result.timing.event_times) >= len(deltas)


async def test_streamed_structured_result(model: OpenAIModel) -> None:
    async with Agent(model, result_type=City).run_stream('A city') as result:
        partials = [p async for p in result.stream()]
    assert isinstance(partials[-1], City)
    assert partials[-1] == await result.get_data()
