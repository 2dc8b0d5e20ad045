"""Agent.run_sync: its own event loop, a clear error inside a running one, no client left open."""

from __future__ import annotations

from typing import Any

import pytest

from modelkit import Agent, UserError
from modelkit._transport import shared_http_client
from modelkit.messages import ModelMessage, ModelResponse, TextPart
from modelkit.models import ModelRequestParameters
from modelkit.models.test import TestModel
from modelkit.settings import ModelSettings
from modelkit.usage import Usage
from tests.agent._models import ScriptedModel, call, calls, text


def test_run_sync_outside_a_loop() -> None:
    agent = Agent(ScriptedModel(calls(call('double', {'n': 4})), text('8')))

    @agent.tool_plain
    async def double(n: int) -> int:
        return n * 2

    result = agent.run_sync('go')
    assert result.data == '8'
    assert result.usage().requests == 2
    again = agent.run_sync(
        'more', message_history=result.all_messages(), model=TestModel(custom_result_text='ok')
    )
    assert again.data == 'ok'


@pytest.mark.anyio
async def test_run_sync_inside_a_running_loop_raises() -> None:
    agent = Agent(ScriptedModel(text('never')))
    with pytest.raises(UserError, match=r'inside a running event loop; use `await agent.run'):
        agent.run_sync('go')


class ClientUsingModel(ScriptedModel):
    """Takes the shared http client as a real interface would, and remembers it."""

    clients: list[Any]

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        self.clients.append(shared_http_client())
        return ModelResponse([TextPart('done')]), Usage()


def test_run_sync_closes_the_shared_client_of_its_loop() -> None:
    model = ClientUsingModel()
    model.clients = []
    agent = Agent(model)
    assert agent.run_sync('first').data == 'done'
    assert agent.run_sync('second').data == 'done'
    first, second = model.clients
    assert first.is_closed
    assert second.is_closed
    assert first is not second


def test_run_sync_closes_the_client_when_the_run_fails() -> None:
    class Failing(ClientUsingModel):
        async def request(self, *args: Any) -> tuple[ModelResponse, Usage]:
            await super().request(*args)
            raise RuntimeError('vendor exploded')

    model = Failing()
    model.clients = []
    with pytest.raises(RuntimeError, match='vendor exploded'):
        Agent(model).run_sync('go')
    assert model.clients[0].is_closed
