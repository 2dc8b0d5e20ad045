"""CohereModel over respx: the exact request each feature sends, and how plain responses are read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UnexpectedModelBehavior, UserError
from modelkit.messages import (
    AudioUrl,
    BinaryContent,
    ImageUrl,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters, infer_model
from modelkit.models.cohere import TOOL_PLAN_ID, CohereModel, CohereModelSettings
from modelkit.providers.cohere import CohereProvider
from modelkit.tools import ToolDefinition
from modelkit.wire.cohere import ChatRequest

pytestmark = pytest.mark.anyio

URL = 'https://api.cohere.com/v2/chat'
USAGE = {
    'billed_units': {'input_tokens': 4, 'output_tokens': 9},
    'tokens': {'input_tokens': 70, 'output_tokens': 11},
}
WEATHER = ToolDefinition(
    'get_weather',
    'Get the current weather for a city.',
    {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']},
)


def chat_response(
    message: dict[str, Any] | None = None, finish_reason: str = 'COMPLETE', **extra: Any
) -> dict[str, Any]:
    """A v2 chat body as Cohere sends it."""
    body = {
        'id': 'f17a5f6c-1734-4098-bd0d-733ef000ac7b',
        'message': message or {'role': 'assistant', 'content': [{'type': 'text', 'text': 'Paris.'}]},
        'finish_reason': finish_reason,
        'usage': USAGE,
    }
    return {**body, **extra}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def route(router: respx.MockRouter) -> respx.Route:
    return router.post(URL).mock(return_value=httpx.Response(200, json=chat_response()))


def model_for(http_client: httpx.AsyncClient, name: str = 'command-r-plus') -> CohereModel:
    return CohereModel(name, provider=CohereProvider(api_key='co-test-key', http_client=http_client))


def sent(route: respx.Route) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(route.calls.last.request.content)
    return body


async def ask(
    model: CohereModel,
    messages: list[ModelMessage] | None = None,
    settings: CohereModelSettings | None = None,
    params: ModelRequestParameters | None = None,
) -> tuple[ModelResponse, Any]:
    return await model.request(
        messages or [ModelRequest([UserPromptPart('hello')])], settings, params or ModelRequestParameters()
    )


# -- requests ---------------------------------------------------------------------------------------


async def test_minimal_request_body_and_headers(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    await ask(model_for(http_client))
    request = route.calls.last.request
    assert str(request.url) == URL
    assert request.headers['authorization'] == 'Bearer co-test-key'
    assert request.headers['content-type'] == 'application/json'
    assert sent(route) == {
        'model': 'command-r-plus',
        'messages': [{'role': 'user', 'content': 'hello'}],
        'stream': False,
    }


async def test_system_user_assistant_and_tool_roles_with_tool_plan(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    history: list[ModelMessage] = [
        ModelRequest([SystemPromptPart('Be brief.'), UserPromptPart("What's the weather in Paris?")]),
        ModelResponse(
            [
                ThinkingPart('I will use get_weather.', id=TOOL_PLAN_ID),
                ToolCallPart('get_weather', '{"city":"Paris"}', 'get_weather_9gpb31r7h7mj'),
                ToolCallPart('get_weather', {'city': 'Lyon'}, 'get_weather_2'),
            ]
        ),
        ModelRequest(
            [
                ToolReturnPart('get_weather', 'Sunny, 22C in Paris', 'get_weather_9gpb31r7h7mj'),
                RetryPromptPart(
                    'city must be in France', tool_name='get_weather', tool_call_id='get_weather_2'
                ),
            ]
        ),
        ModelResponse([TextPart('It is sunny.')]),
        ModelRequest([RetryPromptPart('Answer in French')]),
    ]
    await ask(model_for(http_client), history)
    assert sent(route)['messages'] == [
        {'role': 'system', 'content': 'Be brief.'},
        {'role': 'user', 'content': "What's the weather in Paris?"},
        {
            'role': 'assistant',
            'tool_calls': [
                {
                    'id': 'get_weather_9gpb31r7h7mj',
                    'type': 'function',
                    'function': {'name': 'get_weather', 'arguments': '{"city":"Paris"}'},
                },
                {
                    'id': 'get_weather_2',
                    'type': 'function',
                    'function': {'name': 'get_weather', 'arguments': '{"city":"Lyon"}'},
                },
            ],
            'tool_plan': 'I will use get_weather.',
        },
        {'role': 'tool', 'tool_call_id': 'get_weather_9gpb31r7h7mj', 'content': 'Sunny, 22C in Paris'},
        {
            'role': 'tool',
            'tool_call_id': 'get_weather_2',
            'content': 'city must be in France\n\nFix the errors and try again.',
        },
        {'role': 'assistant', 'content': 'It is sunny.'},
        {'role': 'user', 'content': 'Answer in French\n\nFix the errors and try again.'},
    ]


async def test_thinking_goes_back_as_content_items_and_a_lone_plan_is_dropped(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    history: list[ModelMessage] = [
        ModelRequest([UserPromptPart('2+2?')]),
        ModelResponse([ThinkingPart('Simple sum.'), TextPart('4')]),
        ModelRequest([UserPromptPart('and 3+3?')]),
        ModelResponse([ThinkingPart('A plan without calls.', id=TOOL_PLAN_ID)]),
        ModelRequest([UserPromptPart('well?')]),
    ]
    await ask(model_for(http_client), history)
    messages = sent(route)['messages']
    assert messages[1] == {
        'role': 'assistant',
        'content': [{'type': 'thinking', 'thinking': 'Simple sum.'}, {'type': 'text', 'text': '4'}],
    }
    # A tool plan belongs beside tool calls; without them the turn is sent as an empty answer.
    assert messages[3] == {'role': 'assistant', 'content': ''}


async def test_images_by_url_and_as_bytes(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    content = [
        'What is this?',
        ImageUrl('https://example.com/cat.png'),
        BinaryContent(b'\x89PNG', 'image/png'),
    ]
    await ask(model_for(http_client), [ModelRequest([UserPromptPart(content)])])
    assert sent(route)['messages'][0]['content'] == [
        {'type': 'text', 'text': 'What is this?'},
        {'type': 'image_url', 'image_url': {'url': 'https://example.com/cat.png'}},
        {'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,iVBORw=='}},
    ]


@pytest.mark.parametrize(
    ('item', 'named'),
    [
        (AudioUrl('https://example.com/a.mp3'), 'audio-url'),
        (BinaryContent(b'%PDF', 'application/pdf'), 'application/pdf'),
    ],
)
async def test_media_cohere_cannot_take_is_a_user_error(
    route: respx.Route, http_client: httpx.AsyncClient, item: Any, named: str
) -> None:
    with pytest.raises(UserError, match=f'text and images.*not {named}'):
        await ask(model_for(http_client), [ModelRequest([UserPromptPart(['look', item])])])
    assert not route.called


async def test_tools_tool_choice_and_native_json_output(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    result_tool = ToolDefinition('final_result', 'The answer', {'type': 'object', 'properties': {}})
    params = ModelRequestParameters(
        function_tools=[WEATHER], result_tools=[result_tool], allow_text_result=False
    )
    await ask(model_for(http_client), params=params)
    body = sent(route)
    assert body['tools'] == [
        {
            'type': 'function',
            'function': {
                'name': 'get_weather',
                'description': 'Get the current weather for a city.',
                'parameters': WEATHER.parameters_json_schema,
            },
        },
        {
            'type': 'function',
            'function': {
                'name': 'final_result',
                'description': 'The answer',
                'parameters': {'type': 'object', 'properties': {}},
            },
        },
    ]
    assert body['tool_choice'] == 'REQUIRED'

    await ask(model_for(http_client), params=ModelRequestParameters(function_tools=[WEATHER]))
    assert 'tool_choice' not in sent(route)  # Cohere's default lets the model choose

    schema = {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}
    await ask(model_for(http_client), params=ModelRequestParameters(result_json_schema=schema))
    assert sent(route)['response_format'] == {'type': 'json_object', 'json_schema': schema}


async def test_every_setting_reaches_the_wire(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    settings: CohereModelSettings = {
        'temperature': 0.3,
        'top_p': 0.9,
        'cohere_k': 40,
        'max_tokens': 200,
        'stop_sequences': ['\n\n'],
        'seed': 7,
        'presence_penalty': 0.1,
        'frequency_penalty': 0.2,
        'cohere_safety_mode': 'STRICT',
        'cohere_thinking': {'type': 'enabled', 'token_budget': 2048},
        'cohere_strict_tools': True,
        'cohere_priority': 1,
        'parallel_tool_calls': False,  # no Cohere field: not sent
        'extra_body': {'documents': ['Paris is in France.']},
        'extra_headers': {'x-client-name': 'tests'},
    }
    await ask(model_for(http_client), settings=settings)
    body = sent(route)
    assert {key: value for key, value in body.items() if key not in ('model', 'messages', 'stream')} == {
        'temperature': 0.3,
        'p': 0.9,
        'k': 40,
        'max_tokens': 200,
        'stop_sequences': ['\n\n'],
        'seed': 7,
        'presence_penalty': 0.1,
        'frequency_penalty': 0.2,
        'safety_mode': 'STRICT',
        'thinking': {'type': 'enabled', 'token_budget': 2048},
        'strict_tools': True,
        'priority': 1,
        'documents': ['Paris is in France.'],
    }
    assert route.calls.last.request.headers['x-client-name'] == 'tests'


async def test_request_bodies_fit_the_wire_schema(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    history: list[ModelMessage] = [
        ModelRequest([SystemPromptPart('s'), UserPromptPart(['hi', ImageUrl('https://example.com/x.png')])]),
        ModelResponse(
            [ThinkingPart('t'), ThinkingPart('p', id=TOOL_PLAN_ID), ToolCallPart('get_weather', '{}', 'c1')]
        ),
        ModelRequest([ToolReturnPart('get_weather', {'temp': 22}, 'c1')]),
        ModelResponse([TextPart('done')]),
        ModelRequest([UserPromptPart('thanks')]),
    ]
    params = ModelRequestParameters(function_tools=[WEATHER], allow_text_result=False)
    await ask(model_for(http_client), history, {'temperature': 0.5, 'cohere_k': 3}, params)
    ChatRequest.model_validate(sent(route))  # forbids unknown fields: a misspelt key fails here


def test_the_page_shorthand_and_the_model_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('CO_API_KEY', 'co-env-key')
    by_name = infer_model('cohere:command')
    assert isinstance(by_name, CohereModel)
    assert (by_name.model_name, by_name.system, by_name.base_url) == (
        'command',
        'cohere',
        'https://api.cohere.com',
    )
    shorthand = CohereModel('command', api_key='your-api-key')
    assert isinstance(shorthand.provider, CohereProvider)
    assert 'your-api-key' not in repr(shorthand.provider)
    with pytest.raises(UserError, match='CohereModel got a provider instance and api_key'):
        CohereModel('command', provider=CohereProvider(api_key='a'), api_key='b')


def test_without_a_key_the_error_names_co_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('CO_API_KEY', raising=False)
    monkeypatch.delenv('CO_API_URL', raising=False)
    with pytest.raises(UserError, match='CO_API_KEY'):
        CohereModel('command')


# -- responses --------------------------------------------------------------------------------------


async def test_text_response_with_usage(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    response, usage = await ask(model_for(http_client))
    assert response.parts == [TextPart('Paris.')]
    assert (response.model_name, response.vendor_id) == (
        'command-r-plus',
        'f17a5f6c-1734-4098-bd0d-733ef000ac7b',
    )
    assert (response.finish_reason, response.vendor_finish_reason) == ('stop', 'COMPLETE')
    assert (usage.request_tokens, usage.response_tokens, usage.total_tokens) == (70, 11, 81)
    assert usage.details == {'billed_input_tokens': 4, 'billed_output_tokens': 9}


async def test_tool_plan_and_calls(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    message = {
        'role': 'assistant',
        'tool_plan': 'I will use get_weather.',
        'tool_calls': [
            {
                'id': 'get_weather_1',
                'type': 'function',
                'function': {'name': 'get_weather', 'arguments': '{"city":"Paris"}'},
            },
            {'id': 'now_2', 'type': 'function', 'function': {'name': 'now', 'arguments': ''}},
        ],
    }
    usage = {**USAGE, 'cached_tokens': 144}
    router.post(URL).respond(200, json=chat_response(message, 'TOOL_CALL', usage=usage))
    response, used = await ask(model_for(http_client))
    assert response.parts == [
        ThinkingPart('I will use get_weather.', id=TOOL_PLAN_ID),
        ToolCallPart('get_weather', '{"city":"Paris"}', 'get_weather_1'),
        ToolCallPart('now', '{}', 'now_2'),  # empty arguments complete as {}
    ]
    assert response.finish_reason == 'tool_call'
    assert used.details == {'billed_input_tokens': 4, 'billed_output_tokens': 9, 'cached_tokens': 144}


async def test_thinking_then_text_and_citations_are_skipped(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    message = {
        'role': 'assistant',
        'content': [
            {'type': 'thinking', 'thinking': 'Sum it.'},
            {'type': 'text', 'text': 'It is sunny.'},
            {'type': 'image', 'url': 'x'},  # a content type not known here: skipped
        ],
        'citations': [{'start': 6, 'end': 11, 'text': 'sunny', 'sources': [{'type': 'tool', 'id': 'c:0'}]}],
    }
    router.post(URL).respond(200, json=chat_response(message))
    response, _ = await ask(model_for(http_client))
    assert response.parts == [ThinkingPart('Sum it.'), TextPart('It is sunny.')]


@pytest.mark.parametrize(
    ('wire', 'ours'),
    [
        ('COMPLETE', 'stop'),
        ('STOP_SEQUENCE', 'stop'),
        ('MAX_TOKENS', 'length'),
        ('TOOL_CALL', 'tool_call'),
        ('NEW', None),
    ],
)
async def test_finish_reasons(
    router: respx.MockRouter, http_client: httpx.AsyncClient, wire: str, ours: Any
) -> None:
    router.post(URL).respond(200, json=chat_response(finish_reason=wire))
    response, _ = await ask(model_for(http_client))
    assert (response.finish_reason, response.vendor_finish_reason) == (ours, wire)


@pytest.mark.parametrize('reason', ['ERROR', 'TIMEOUT'])
async def test_a_failed_answer_raises_with_what_arrived(
    router: respx.MockRouter, http_client: httpx.AsyncClient, reason: str
) -> None:
    router.post(URL).respond(200, json=chat_response(finish_reason=reason))
    with pytest.raises(UnexpectedModelBehavior, match=f'finish reason {reason}') as info:
        await ask(model_for(http_client))
    partial = info.value.partial_response
    assert partial is not None
    assert partial.parts == [TextPart('Paris.')]
    assert partial.finish_reason == 'error'


async def test_a_body_that_does_not_fit_is_unexpected_model_behavior(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    router.post(URL).respond(200, json={'id': 'x', 'message': {'content': 'not a list'}})
    with pytest.raises(
        UnexpectedModelBehavior, match=r'cohere returned a chat response that does not fit.*message\.content'
    ):
        await ask(model_for(http_client))


@pytest.mark.parametrize(
    ('status', 'message'), [(400, 'invalid request: bad'), (401, 'invalid api token'), (429, 'slow down')]
)
async def test_http_errors_carry_status_and_cohere_message(
    router: respx.MockRouter, http_client: httpx.AsyncClient, status: int, message: str
) -> None:
    router.post(URL).respond(status, json={'id': 'e1', 'message': message}, headers={'retry-after': '0'})
    model = CohereModel(
        'command', provider=CohereProvider(api_key='co-secret', http_client=http_client, max_retries=0)
    )
    with pytest.raises(ModelHTTPError) as info:
        await ask(model)
    assert info.value.status_code == status
    assert message in str(info.value)
    assert 'co-secret' not in str(info.value)
