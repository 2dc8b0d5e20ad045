"""AnthropicModel over respx: the exact request each feature sends, and how plain responses are read."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit import Agent
from modelkit.exceptions import ModelHTTPError, UnexpectedModelBehavior, UserError
from modelkit.messages import (
    AudioUrl,
    BinaryContent,
    DocumentUrl,
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
from modelkit.models.anthropic import DEFAULT_MAX_TOKENS, AnthropicModel, AnthropicModelSettings
from modelkit.providers.anthropic import AnthropicProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from modelkit.wire.anthropic import MessagesRequest

pytestmark = pytest.mark.anyio

URL = 'https://api.anthropic.com/v1/messages'
MODEL = 'claude-3-5-sonnet-latest'
TOOL = ToolDefinition('get_capital', 'The capital of a country.', {'type': 'object', 'properties': {}})


def message(*content: dict[str, Any], stop_reason: str = 'end_turn', **usage: int) -> dict[str, Any]:
    """A Messages API response body as Anthropic sends it."""
    return {
        'id': 'msg_01',
        'type': 'message',
        'role': 'assistant',
        'model': 'claude-3-5-sonnet-20241022',
        'content': list(content) or [{'type': 'text', 'text': 'Paris.'}],
        'stop_reason': stop_reason,
        'stop_sequence': None,
        'usage': usage or {'input_tokens': 12, 'output_tokens': 3},
    }


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def route(router: respx.MockRouter) -> respx.Route:
    return router.post(URL).mock(return_value=httpx.Response(200, json=message()))


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def model(http_client: httpx.AsyncClient, **provider: Any) -> AnthropicModel:
    provider.setdefault('api_key', 'sk-ant-test')
    return AnthropicModel(MODEL, provider=AnthropicProvider(http_client=http_client, **provider))


async def sent(
    route: respx.Route,
    http_client: httpx.AsyncClient,
    messages: list[ModelMessage],
    settings: AnthropicModelSettings | None = None,
    params: ModelRequestParameters | None = None,
) -> dict[str, Any]:
    await model(http_client).request(messages, settings, params or ModelRequestParameters())
    body: dict[str, Any] = orjson.loads(route.calls.last.request.content)
    MessagesRequest.model_validate(body)  # every body we send fits Anthropic's request schema
    return body


def ask(text: str = 'Capital of France?') -> list[ModelMessage]:
    return [ModelRequest([UserPromptPart(text)])]


def user(*content: dict[str, Any]) -> dict[str, Any]:
    return {'role': 'user', 'content': list(content)}


def text(value: str) -> dict[str, Any]:
    return {'type': 'text', 'text': value}


# -- the request ----------------------------------------------------------------------------


async def test_minimal_request_body_and_headers(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    body = await sent(route, http_client, ask())
    assert body == {
        'model': MODEL,
        'max_tokens': DEFAULT_MAX_TOKENS,
        'messages': [user(text('Capital of France?'))],
        'stream': False,
    }
    request = route.calls.last.request
    assert str(request.url) == URL
    assert request.headers['x-api-key'] == 'sk-ant-test'
    assert request.headers['anthropic-version'] == '2023-06-01'
    assert request.headers['content-type'] == 'application/json'
    assert 'anthropic-beta' not in request.headers
    assert 'authorization' not in request.headers


async def test_system_prompts_go_top_level_and_same_role_turns_merge(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([SystemPromptPart('Be brief.'), UserPromptPart('Hi.')]),
        ModelRequest([SystemPromptPart('Answer in French.'), UserPromptPart('Capital of France?')]),
        ModelResponse([TextPart('Paris.')]),
        ModelResponse([TextPart('Definitely.')]),
        ModelRequest([UserPromptPart('Thanks.')]),
    ]
    body = await sent(route, http_client, messages)
    assert body['system'] == 'Be brief.\n\nAnswer in French.'
    assert body['messages'] == [
        user(text('Hi.'), text('Capital of France?')),
        {'role': 'assistant', 'content': [text('Paris.'), text('Definitely.')]},
        user(text('Thanks.')),
    ]


async def test_images_and_documents(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    png, pdf = b'\x89PNG\r\n', b'%PDF-1.7'
    content = [
        'Describe these.',
        ImageUrl('https://example.com/cat.jpg'),
        BinaryContent(png, 'image/png'),
        DocumentUrl('https://example.com/paper.pdf'),
        BinaryContent(pdf, 'application/pdf'),
        BinaryContent(b'plain notes', 'text/plain'),
    ]
    body = await sent(route, http_client, [ModelRequest([UserPromptPart(content)])])
    assert body['messages'] == [
        user(
            text('Describe these.'),
            {'type': 'image', 'source': {'type': 'url', 'url': 'https://example.com/cat.jpg'}},
            {
                'type': 'image',
                'source': {
                    'type': 'base64',
                    'media_type': 'image/png',
                    'data': base64.b64encode(png).decode(),
                },
            },
            {'type': 'document', 'source': {'type': 'url', 'url': 'https://example.com/paper.pdf'}},
            {
                'type': 'document',
                'source': {
                    'type': 'base64',
                    'media_type': 'application/pdf',
                    'data': base64.b64encode(pdf).decode(),
                },
            },
            {
                'type': 'document',
                'source': {'type': 'text', 'media_type': 'text/plain', 'data': 'plain notes'},
            },
        )
    ]


@pytest.mark.parametrize(
    ('item', 'named'),
    [
        (AudioUrl('https://example.com/a.mp3'), 'audio'),
        (DocumentUrl('https://example.com/notes.txt'), 'text/plain'),
        (BinaryContent(b'RIFF', 'audio/wav'), 'audio/wav'),
        (BinaryContent(b'II*', 'image/tiff'), 'image/tiff'),
    ],
)
async def test_unsupported_media_is_a_clear_user_error(
    route: respx.Route, http_client: httpx.AsyncClient, item: Any, named: str
) -> None:
    with pytest.raises(UserError, match=named):
        await sent(route, http_client, [ModelRequest([UserPromptPart(['Hear this', item])])])
    assert not route.called


async def test_history_with_tool_calls_returns_and_retries(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Capitals of France and Spain?')]),
        ModelResponse(
            [
                TextPart('Looking them up.'),
                ToolCallPart('get_capital', '{"country": "France"}', 'toolu_01'),
                ToolCallPart('get_capital', {'country': 'Spain'}, 'toolu_02'),
                ToolCallPart('get_capital', '', 'toolu_03'),
            ]
        ),
        ModelRequest(
            [
                ToolReturnPart('get_capital', 'Paris', 'toolu_01'),
                ToolReturnPart('get_capital', {'capital': 'Madrid'}, 'toolu_02'),
                RetryPromptPart('country is required', tool_name='get_capital', tool_call_id='toolu_03'),
            ]
        ),
        ModelResponse([TextPart('Not sure.')]),
        ModelRequest([RetryPromptPart('Answer with a city.')]),
    ]
    body = await sent(route, http_client, messages)
    assert body['messages'] == [
        user(text('Capitals of France and Spain?')),
        {
            'role': 'assistant',
            'content': [
                text('Looking them up.'),
                {'type': 'tool_use', 'id': 'toolu_01', 'name': 'get_capital', 'input': {'country': 'France'}},
                {'type': 'tool_use', 'id': 'toolu_02', 'name': 'get_capital', 'input': {'country': 'Spain'}},
                {'type': 'tool_use', 'id': 'toolu_03', 'name': 'get_capital', 'input': {}},
            ],
        },
        user(
            {'type': 'tool_result', 'tool_use_id': 'toolu_01', 'content': 'Paris'},
            {'type': 'tool_result', 'tool_use_id': 'toolu_02', 'content': '{"capital":"Madrid"}'},
            {
                'type': 'tool_result',
                'tool_use_id': 'toolu_03',
                'content': 'country is required\n\nFix the errors and try again.',
                'is_error': True,
            },
        ),
        {'role': 'assistant', 'content': [text('Not sure.')]},
        user(text('Answer with a city.\n\nFix the errors and try again.')),
    ]


async def test_tool_call_ids_from_another_vendor_are_mapped_consistently(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    foreign = 'call.abc/123'  # not [A-Za-z0-9_-]: Anthropic would reject it
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Capital?')]),
        ModelResponse([ToolCallPart('get_capital', '{}', foreign)]),
        ModelRequest([ToolReturnPart('get_capital', 'Paris', foreign)]),
    ]
    body = await sent(route, http_client, messages)
    call_id = body['messages'][1]['content'][0]['id']
    assert call_id != foreign
    assert call_id.startswith('toolu_')
    assert body['messages'][2]['content'][0]['tool_use_id'] == call_id


async def test_thinking_goes_back_signed_redacted_as_it_came_and_unsigned_dropped(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Think.')]),
        ModelResponse(
            [
                ThinkingPart('Let me think.', signature='sig-1'),
                ThinkingPart('', signature='opaque-data', id='redacted_thinking'),
                ThinkingPart('reasoning from another vendor'),
                TextPart(''),
                TextPart('Done.'),
            ]
        ),
        ModelRequest([UserPromptPart('Again.')]),
    ]
    body = await sent(route, http_client, messages)
    assert body['messages'][1] == {
        'role': 'assistant',
        'content': [
            {'type': 'thinking', 'thinking': 'Let me think.', 'signature': 'sig-1'},
            {'type': 'redacted_thinking', 'data': 'opaque-data'},
            text('Done.'),
        ],
    }


async def test_an_assistant_turn_left_empty_is_not_sent(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('One.')]),
        ModelResponse([ThinkingPart('unsigned')]),
        ModelRequest([UserPromptPart('Two.')]),
    ]
    body = await sent(route, http_client, messages)
    assert body['messages'] == [user(text('One.'), text('Two.'))]


@pytest.mark.parametrize(
    ('allow_text', 'result_tools', 'settings', 'choice'),
    [
        (True, [], {}, {'type': 'auto'}),
        (False, [], {}, {'type': 'tool', 'name': 'get_capital'}),
        (False, ['final_result'], {}, {'type': 'any'}),
        (True, [], {'parallel_tool_calls': False}, {'type': 'auto', 'disable_parallel_tool_use': True}),
        (
            False,
            ['final_result'],
            {'parallel_tool_calls': False},
            {'type': 'any', 'disable_parallel_tool_use': True},
        ),
        # Extended thinking only allows `auto`.
        (False, [], {'anthropic_thinking': {'type': 'enabled', 'budget_tokens': 1024}}, {'type': 'auto'}),
    ],
)
async def test_tools_and_tool_choice(
    route: respx.Route,
    http_client: httpx.AsyncClient,
    allow_text: bool,
    result_tools: list[str],
    settings: AnthropicModelSettings,
    choice: dict[str, Any],
) -> None:
    params = ModelRequestParameters(
        function_tools=[TOOL],
        allow_text_result=allow_text,
        result_tools=[ToolDefinition(name, '', {'type': 'object'}) for name in result_tools],
    )
    body = await sent(route, http_client, ask(), settings, params)
    tools = [
        {
            'name': 'get_capital',
            'description': 'The capital of a country.',
            'input_schema': TOOL.parameters_json_schema,
        }
    ]
    tools += [{'name': name, 'input_schema': {'type': 'object'}} for name in result_tools]
    assert body['tools'] == tools
    assert body['tool_choice'] == choice


async def test_no_tools_means_no_tool_choice(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    body = await sent(route, http_client, ask(), {'parallel_tool_calls': False})
    assert 'tools' not in body
    assert 'tool_choice' not in body


async def test_every_setting_reaches_the_wire(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    settings: AnthropicModelSettings = {
        'max_tokens': 300,
        'temperature': 0.5,
        'top_p': 0.9,
        'anthropic_top_k': 40,
        'stop_sequences': ['END'],
        'anthropic_metadata': {'user_id': 'user-42'},
        'seed': 7,  # Anthropic has none: ignored, never sent
        'extra_body': {'service_tier': 'auto'},
    }
    body = await sent(route, http_client, ask(), settings)
    assert body == {
        'model': MODEL,
        'max_tokens': 300,
        'messages': [user(text('Capital of France?'))],
        'temperature': 0.5,
        'top_p': 0.9,
        'top_k': 40,
        'stop_sequences': ['END'],
        'metadata': {'user_id': 'user-42'},
        'stream': False,
        'service_tier': 'auto',
    }


async def test_extended_thinking_raises_the_default_max_tokens(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    thinking: AnthropicModelSettings = {'anthropic_thinking': {'type': 'enabled', 'budget_tokens': 2048}}
    body = await sent(route, http_client, ask(), thinking)
    assert body['thinking'] == {'type': 'enabled', 'budget_tokens': 2048}
    assert body['max_tokens'] == DEFAULT_MAX_TOKENS + 2048
    body = await sent(route, http_client, ask(), {**thinking, 'max_tokens': 3000})
    assert body['max_tokens'] == 3000


async def test_cache_breakpoints(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([SystemPromptPart('Long instructions.'), UserPromptPart('Question one.')]),
        ModelResponse([TextPart('Answer.')]),
        ModelRequest([UserPromptPart('Question two.')]),
    ]
    settings: AnthropicModelSettings = {
        'anthropic_cache_system_prompt': True,
        'anthropic_cache_tool_definitions': True,
        'anthropic_cache_messages': True,
    }
    body = await sent(route, http_client, messages, settings, ModelRequestParameters(function_tools=[TOOL]))
    ephemeral = {'type': 'ephemeral'}
    assert body['system'] == [{'type': 'text', 'text': 'Long instructions.', 'cache_control': ephemeral}]
    assert body['tools'][-1]['cache_control'] == ephemeral
    assert body['messages'][-1] == user({**text('Question two.'), 'cache_control': ephemeral})
    assert 'cache_control' not in body['messages'][0]['content'][-1]
    assert 'anthropic-beta' not in route.calls.last.request.headers


async def test_a_one_hour_breakpoint_opts_into_its_beta(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    body = await sent(route, http_client, ask(), {'anthropic_cache_messages': '1h'})
    assert body['messages'][-1]['content'][-1]['cache_control'] == {'type': 'ephemeral', 'ttl': '1h'}
    assert route.calls.last.request.headers['anthropic-beta'] == 'extended-cache-ttl-2025-04-11'


async def test_betas_from_settings_and_headers_are_combined(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    settings: AnthropicModelSettings = {
        'anthropic_betas': ['interleaved-thinking-2025-05-14', 'token-efficient-tools-2025-02-19'],
        'anthropic_cache_system_prompt': '1h',
        'extra_headers': {
            'Anthropic-Beta': 'files-api-2025-04-14, interleaved-thinking-2025-05-14',
            'x-trace': 't1',
        },
    }
    await sent(route, http_client, [ModelRequest([SystemPromptPart('S.'), UserPromptPart('Q.')])], settings)
    headers = route.calls.last.request.headers
    assert headers.get_list('anthropic-beta') == [
        'interleaved-thinking-2025-05-14,token-efficient-tools-2025-02-19,'
        'extended-cache-ttl-2025-04-11,files-api-2025-04-14'
    ]
    assert headers['x-trace'] == 't1'


async def test_structured_output_goes_through_the_result_tool(router: respx.MockRouter) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        city: str
        country: str

    tool_use = {
        'type': 'tool_use',
        'id': 'toolu_9',
        'name': 'final_result',
        'input': {'city': 'London', 'country': 'UK'},
    }
    route = router.post(URL).mock(
        return_value=httpx.Response(200, json=message(tool_use, stop_reason='tool_use'))
    )
    agent = Agent(AnthropicModel(MODEL, api_key='sk-ant-test'), result_type=City)
    result = await agent.run('Where were the olympics held in 2012?')
    assert result.data == City(city='London', country='UK')
    body = orjson.loads(route.calls.last.request.content)
    assert body['tool_choice'] == {'type': 'tool', 'name': 'final_result'}
    assert body['tools'][0]['name'] == 'final_result'
    assert body['tools'][0]['input_schema']['required'] == ['city', 'country']


async def test_native_json_output_is_a_user_error(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    params = ModelRequestParameters(result_json_schema={'type': 'object'})
    with pytest.raises(UserError, match='no native JSON output'):
        await sent(route, http_client, ask(), None, params)


# -- the provider and the model's construction ------------------------------------------------


def test_a_missing_key_names_the_variable() -> None:
    with pytest.raises(UserError, match='ANTHROPIC_API_KEY'):
        AnthropicModel(MODEL)


async def test_by_name_from_the_environment(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('ANTHROPIC_API_KEY', 'sk-ant-env')
    monkeypatch.setenv('ANTHROPIC_BASE_URL', 'https://gateway.example.com/anthropic')
    route = router.post('https://gateway.example.com/anthropic/v1/messages').mock(
        return_value=httpx.Response(200, json=message())
    )
    result = await Agent('anthropic:claude-3-5-sonnet-latest').run('Capital of France?')
    assert result.data == 'Paris.'
    assert route.calls.last.request.headers['x-api-key'] == 'sk-ant-env'
    assert isinstance(infer_model('anthropic:claude-3-5-haiku-latest'), AnthropicModel)


async def test_shorthand_key_and_base_url(router: respx.MockRouter) -> None:
    route = router.post('http://127.0.0.1:9/v1/messages').mock(
        return_value=httpx.Response(200, json=message())
    )
    shorthand = AnthropicModel(MODEL, api_key='sk-short', base_url='http://127.0.0.1:9')
    assert shorthand.base_url == 'http://127.0.0.1:9'
    await shorthand.request(ask(), None, ModelRequestParameters())
    assert route.calls.last.request.headers['x-api-key'] == 'sk-short'
    by_name = AnthropicModel(MODEL, provider='anthropic', api_key='sk-short')
    assert isinstance(by_name.provider, AnthropicProvider)
    assert by_name.system == 'anthropic'
    assert 'sk-short' not in repr(by_name) + repr(by_name.provider)


def test_shorthand_with_a_provider_instance_is_a_user_error() -> None:
    with pytest.raises(UserError, match='api_key'):
        AnthropicModel(MODEL, provider=AnthropicProvider(api_key='a'), api_key='b')


# -- processing a response ----------------------------------------------------------------------


async def test_a_response_with_every_block_kind(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = message(
        {'type': 'thinking', 'thinking': 'Hmm.', 'signature': 'sig'},
        {'type': 'redacted_thinking', 'data': 'opaque'},
        {'type': 'text', 'text': 'Checking.', 'citations': None},
        {'type': 'server_tool_use', 'id': 'srvtoolu_1', 'name': 'web_search', 'input': {'query': 'x'}},
        {'type': 'web_search_tool_result', 'tool_use_id': 'srvtoolu_1', 'content': []},
        {'type': 'a_block_from_the_future', 'payload': 1},
        {'type': 'tool_use', 'id': 'toolu_1', 'name': 'get_capital', 'input': {'country': 'France'}},
        stop_reason='tool_use',
    )
    router.post(URL).mock(return_value=httpx.Response(200, json=body))
    response, _ = await model(http_client).request(ask(), None, ModelRequestParameters())
    assert response.parts == [
        ThinkingPart('Hmm.', signature='sig'),
        ThinkingPart('', signature='opaque', id='redacted_thinking'),
        TextPart('Checking.'),
        ToolCallPart('get_capital', {'country': 'France'}, 'toolu_1'),
    ]
    assert response.model_name == 'claude-3-5-sonnet-20241022'
    assert response.vendor_id == 'msg_01'
    assert response.finish_reason == 'tool_call'
    assert response.vendor_finish_reason == 'tool_use'


@pytest.mark.parametrize(
    ('stop_reason', 'finish_reason'),
    [
        ('end_turn', 'stop'),
        ('max_tokens', 'length'),
        ('stop_sequence', 'stop'),
        ('tool_use', 'tool_call'),
        ('pause_turn', 'stop'),
        ('refusal', 'content_filter'),
        ('a_new_reason', None),
    ],
)
async def test_stop_reasons(
    router: respx.MockRouter, http_client: httpx.AsyncClient, stop_reason: str, finish_reason: str | None
) -> None:
    router.post(URL).mock(return_value=httpx.Response(200, json=message(stop_reason=stop_reason)))
    response, _ = await model(http_client).request(ask(), None, ModelRequestParameters())
    assert response.finish_reason == finish_reason
    assert response.vendor_finish_reason == stop_reason


async def test_usage_counts_cached_input_once(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    usage = {
        'input_tokens': 10,
        'cache_creation_input_tokens': 200,
        'cache_read_input_tokens': 3000,
        'output_tokens': 25,
    }
    router.post(URL).mock(return_value=httpx.Response(200, json=message(**usage)))
    _, got = await model(http_client).request(ask(), None, ModelRequestParameters())
    assert got == Usage(
        request_tokens=3210,
        response_tokens=25,
        total_tokens=3235,
        details={'input_tokens': 10, 'cache_write_tokens': 200, 'cached_tokens': 3000},
    )


async def test_http_errors_carry_anthropics_type_and_message(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    error = {'type': 'error', 'error': {'type': 'invalid_request_error', 'message': 'max_tokens: too big'}}
    router.post(URL).mock(return_value=httpx.Response(400, json=error))
    with pytest.raises(ModelHTTPError) as caught:
        await model(http_client).request(ask(), None, ModelRequestParameters())
    assert caught.value.status_code == 400
    assert caught.value.body == error
    assert 'max_tokens: too big' in str(caught.value)


async def test_529_overloaded_is_retried(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    overloaded = {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}
    route = router.post(URL).mock(
        side_effect=[
            httpx.Response(529, json=overloaded, headers={'retry-after-ms': '1'}),
            httpx.Response(200, json=message()),
        ]
    )
    response, _ = await model(http_client).request(ask(), None, ModelRequestParameters())
    assert response.parts == [TextPart('Paris.')]
    assert route.call_count == 2


async def test_529_when_retries_are_spent(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    overloaded = {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}
    route = router.post(URL).mock(
        return_value=httpx.Response(529, json=overloaded, headers={'retry-after-ms': '1'})
    )
    with pytest.raises(ModelHTTPError) as caught:
        await model(http_client, max_retries=1).request(ask(), None, ModelRequestParameters())
    assert caught.value.status_code == 529
    assert 'Overloaded' in str(caught.value)
    assert route.call_count == 2


async def test_a_body_that_does_not_fit_is_named(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    router.post(URL).mock(return_value=httpx.Response(200, json={'type': 'message', 'content': 'nope'}))
    with pytest.raises(UnexpectedModelBehavior, match='message that does not fit the schema: id'):
        await model(http_client).request(ask(), None, ModelRequestParameters())
