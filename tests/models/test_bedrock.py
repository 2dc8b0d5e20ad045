"""BedrockConverseModel on the wire: the exact Converse request for each feature, signed so it
verifies, the answer read back, and errors typed (respx; streams are in test_bedrock_stream.py)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit import Agent
from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.messages import (
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
from modelkit.models import ModelRequestParameters
from modelkit.models.bedrock import REDACTED_THINKING_ID, BedrockConverseModel, BedrockModelSettings
from modelkit.providers.bedrock import BedrockProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from tests.docs.page_mocks import bedrock as page_mock
from tests.providers.test_bedrock_provider import KEY_ID, SECRET, sigv4_verifies

pytestmark = pytest.mark.anyio

MODEL = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0'
URL = 'https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0'
TOOL = ToolDefinition(
    'get_capital',
    'The capital of a country',
    {'type': 'object', 'properties': {'country': {'type': 'string'}}, 'required': ['country']},
)
RESULT_TOOL = ToolDefinition('final_result', 'The answer', {'type': 'object', 'properties': {}})


def answer(content: list[dict[str, Any]], stop: str = 'end_turn', **usage: int) -> dict[str, Any]:
    return {
        'output': {'message': {'role': 'assistant', 'content': content}},
        'stopReason': stop,
        'usage': {'inputTokens': 10, 'outputTokens': 5, 'totalTokens': 15, **usage},
        'metrics': {'latencyMs': 321},
    }


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def model() -> BedrockConverseModel:
    provider = BedrockProvider(
        region_name='us-east-1', aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    return BedrockConverseModel(MODEL, provider=provider)


async def sent_body(
    router: respx.MockRouter,
    model: BedrockConverseModel,
    messages: list[ModelMessage],
    settings: BedrockModelSettings | None = None,
    params: ModelRequestParameters | None = None,
    reply: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], tuple[ModelResponse, Usage]]:
    route = router.post(f'{URL}/converse').respond(200, json=reply or answer([{'text': 'ok'}]))
    result = await model.request(messages, settings, params or ModelRequestParameters())
    request = route.calls.last.request
    assert request.headers['content-type'] == 'application/json'
    assert sigv4_verifies(request)
    return orjson.loads(request.content), result


async def test_text_system_and_inference_config(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    messages: list[ModelMessage] = [ModelRequest([SystemPromptPart('Be brief.'), UserPromptPart('Hello')])]
    settings: BedrockModelSettings = {
        'max_tokens': 100,
        'temperature': 0.5,
        'top_p': 0.9,
        'stop_sequences': ['END'],
    }
    body, (response, usage) = await sent_body(router, model, messages, settings)
    assert body == {
        'messages': [{'role': 'user', 'content': [{'text': 'Hello'}]}],
        'system': [{'text': 'Be brief.'}],
        'inferenceConfig': {'maxTokens': 100, 'temperature': 0.5, 'topP': 0.9, 'stopSequences': ['END']},
    }
    assert response.parts == [TextPart('ok')]
    assert (response.finish_reason, response.vendor_finish_reason) == ('stop', 'end_turn')
    assert usage == Usage(request_tokens=10, response_tokens=5, total_tokens=15)


async def test_tools_tool_calls_results_and_retries(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Capital of France?')]),
        ModelResponse(
            [
                TextPart('Let me look.'),
                ToolCallPart('get_capital', '{"country": "France"}', 'tooluse_1'),
                ToolCallPart('get_capital', {'country': 'Spain'}, 'functions.get_capital:1'),
            ]
        ),
        ModelRequest(
            [
                ToolReturnPart('get_capital', 'Paris', 'tooluse_1'),
                RetryPromptPart(
                    'Spain is not allowed', tool_name='get_capital', tool_call_id='functions.get_capital:1'
                ),
            ]
        ),
        ModelResponse([ToolCallPart('get_capital', {'country': 'Italy'}, 'tooluse_3')]),
        ModelRequest(
            [ToolReturnPart('get_capital', {'city': 'Rome'}, 'tooluse_3'), RetryPromptPart('Be shorter')]
        ),
    ]
    params = ModelRequestParameters(function_tools=[TOOL])
    body, _ = await sent_body(router, model, messages, params=params)
    # An id Bedrock would refuse (`.`, `:`) is mapped the same way in the call and in its result.
    mapped = body['messages'][1]['content'][2]['toolUse']['toolUseId']
    assert mapped != 'functions.get_capital:1'
    assert body == {
        'messages': [
            {'role': 'user', 'content': [{'text': 'Capital of France?'}]},
            {
                'role': 'assistant',
                'content': [
                    {'text': 'Let me look.'},
                    {
                        'toolUse': {
                            'toolUseId': 'tooluse_1',
                            'name': 'get_capital',
                            'input': {'country': 'France'},
                        }
                    },
                    {'toolUse': {'toolUseId': mapped, 'name': 'get_capital', 'input': {'country': 'Spain'}}},
                ],
            },
            {
                'role': 'user',
                'content': [
                    {
                        'toolResult': {
                            'toolUseId': 'tooluse_1',
                            'content': [{'text': 'Paris'}],
                            'status': 'success',
                        }
                    },
                    {
                        'toolResult': {
                            'toolUseId': mapped,
                            'content': [{'text': 'Spain is not allowed\n\nFix the errors and try again.'}],
                            'status': 'error',
                        }
                    },
                ],
            },
            {
                'role': 'assistant',
                'content': [
                    {
                        'toolUse': {
                            'toolUseId': 'tooluse_3',
                            'name': 'get_capital',
                            'input': {'country': 'Italy'},
                        }
                    }
                ],
            },
            {
                'role': 'user',
                'content': [
                    {
                        'toolResult': {
                            'toolUseId': 'tooluse_3',
                            'content': [{'json': {'city': 'Rome'}}],
                            'status': 'success',
                        }
                    },
                    {'text': 'Be shorter\n\nFix the errors and try again.'},
                ],
            },
        ],
        'toolConfig': {
            'tools': [
                {
                    'toolSpec': {
                        'name': 'get_capital',
                        'inputSchema': {'json': TOOL.parameters_json_schema},
                        'description': 'The capital of a country',
                    }
                }
            ]
        },
    }


@pytest.mark.parametrize(
    ('settings', 'allow_text', 'choice'),
    [
        ({}, True, None),
        ({}, False, {'any': {}}),
        ({'bedrock_tool_choice': 'auto'}, False, {'auto': {}}),
        ({'bedrock_tool_choice': 'final_result'}, False, {'tool': {'name': 'final_result'}}),
    ],
)
async def test_tool_choice(
    router: respx.MockRouter,
    model: BedrockConverseModel,
    settings: BedrockModelSettings,
    allow_text: bool,
    choice: dict[str, Any] | None,
) -> None:
    params = ModelRequestParameters(
        function_tools=[TOOL], result_tools=[RESULT_TOOL], allow_text_result=allow_text
    )
    body, _ = await sent_body(router, model, [ModelRequest([UserPromptPart('hi')])], settings, params)
    assert body['toolConfig'].get('toolChoice') == choice
    assert [tool['toolSpec']['name'] for tool in body['toolConfig']['tools']] == [
        'get_capital',
        'final_result',
    ]


async def test_unknown_tool_choice_is_a_user_error(model: BedrockConverseModel) -> None:
    params = ModelRequestParameters(function_tools=[TOOL])
    with pytest.raises(UserError, match='not among the tools'):
        await model.request([ModelRequest([UserPromptPart('hi')])], {'bedrock_tool_choice': 'nope'}, params)


async def test_reasoning_sent_back_with_its_signature_and_redacted_as_it_came(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Think.')]),
        ModelResponse(
            [
                ThinkingPart('Hmm.', signature='sig-1'),
                ThinkingPart('', signature='b3BhcXVl', id=REDACTED_THINKING_ID),
                ThinkingPart('unsigned, from another vendor'),
                TextPart(''),
                TextPart('Done.'),
            ]
        ),
        ModelRequest([UserPromptPart('Again.')]),
    ]
    settings: BedrockModelSettings = {
        'bedrock_additional_model_requests_fields': {'thinking': {'type': 'enabled', 'budget_tokens': 1024}}
    }
    body, _ = await sent_body(router, model, messages, settings)
    assert body['messages'][1] == {
        'role': 'assistant',
        'content': [
            {'reasoningContent': {'reasoningText': {'text': 'Hmm.', 'signature': 'sig-1'}}},
            {'reasoningContent': {'redactedContent': 'b3BhcXVl'}},
            {'text': 'Done.'},
        ],
    }
    assert body['additionalModelRequestFields'] == {'thinking': {'type': 'enabled', 'budget_tokens': 1024}}


async def test_media_bytes_and_s3(router: respx.MockRouter, model: BedrockConverseModel) -> None:
    content = [
        'Look:',
        BinaryContent(b'\x89PNG', media_type='image/png'),
        BinaryContent(b'%PDF-1.4', media_type='application/pdf'),
        BinaryContent(b'a,b', media_type='text/csv'),
        BinaryContent(b'\x00\x00', media_type='video/mp4'),
        ImageUrl('s3://bucket/cat.jpeg'),
        DocumentUrl('s3://bucket/report.pdf'),
    ]
    body, _ = await sent_body(router, model, [ModelRequest([UserPromptPart(content)])])
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    assert body['messages'][0]['content'] == [
        {'text': 'Look:'},
        {'image': {'format': 'png', 'source': {'bytes': b64(b'\x89PNG')}}},
        {'document': {'format': 'pdf', 'name': 'Document 1', 'source': {'bytes': b64(b'%PDF-1.4')}}},
        {'document': {'format': 'csv', 'name': 'Document 2', 'source': {'bytes': b64(b'a,b')}}},
        {'video': {'format': 'mp4', 'source': {'bytes': b64(b'\x00\x00')}}},
        {'image': {'format': 'jpeg', 'source': {'s3Location': {'uri': 's3://bucket/cat.jpeg'}}}},
        {
            'document': {
                'format': 'pdf',
                'name': 'Document 3',
                'source': {'s3Location': {'uri': 's3://bucket/report.pdf'}},
            }
        },
    ]


@pytest.mark.parametrize(
    ('item', 'message'),
    [
        (ImageUrl('https://example.com/cat.png'), 'cannot fetch media from a URL'),
        (BinaryContent(b'RIFF', media_type='audio/wav'), 'does not take audio'),
        (BinaryContent(b'x', media_type='image/tiff'), "images of type 'image/tiff'"),
    ],
)
async def test_media_bedrock_cannot_take_is_a_user_error(
    model: BedrockConverseModel, item: Any, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        await model.request([ModelRequest([UserPromptPart([item])])], None, ModelRequestParameters())


async def test_cache_points_and_bedrock_settings(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    settings: BedrockModelSettings = {
        'bedrock_cache_instructions': True,
        'bedrock_cache_tool_definitions': True,
        'bedrock_cache_messages': True,
        'bedrock_guardrail_config': {'guardrailIdentifier': 'g', 'guardrailVersion': '1'},
        'bedrock_performance_configuration': {'latency': 'optimized'},
        'bedrock_request_metadata': {'team': 'search'},
        'bedrock_additional_model_response_fields_paths': ['/stop_sequence'],
        'bedrock_prompt_variables': {'topic': {'text': 'rivers'}},
        'bedrock_service_tier': {'type': 'flex'},
        'extra_body': {'outputConfig': {'x': 1}},
    }
    messages: list[ModelMessage] = [ModelRequest([SystemPromptPart('Sys'), UserPromptPart('Hi')])]
    params = ModelRequestParameters(function_tools=[TOOL])
    body, _ = await sent_body(router, model, messages, settings, params)
    point = {'cachePoint': {'type': 'default'}}
    assert body['system'] == [{'text': 'Sys'}, point]
    assert body['messages'] == [{'role': 'user', 'content': [{'text': 'Hi'}, point]}]
    assert body['toolConfig']['tools'][-1] == point
    assert body['guardrailConfig'] == {'guardrailIdentifier': 'g', 'guardrailVersion': '1'}
    assert body['performanceConfig'] == {'latency': 'optimized'}
    assert body['requestMetadata'] == {'team': 'search'}
    assert body['additionalModelResponseFieldPaths'] == ['/stop_sequence']
    assert body['promptVariables'] == {'topic': {'text': 'rivers'}}
    assert body['serviceTier'] == {'type': 'flex'}
    assert body['outputConfig'] == {'x': 1}


async def test_response_reasoning_tool_use_and_cache_usage(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    reply = answer(
        [
            {'reasoningContent': {'reasoningText': {'text': 'Plan.', 'signature': 'sig'}}},
            {'reasoningContent': {'redactedContent': 'cmVk'}},
            {'text': ''},
            {'text': 'Calling.'},
            {'toolUse': {'toolUseId': 'tooluse_9', 'name': 'get_capital', 'input': {'country': 'Peru'}}},
            {'citationsContent': {'citations': []}},
        ],
        stop='tool_use',
        cacheReadInputTokens=100,
        cacheWriteInputTokens=7,
    )
    _, (response, usage) = await sent_body(router, model, [ModelRequest([UserPromptPart('hi')])], reply=reply)
    assert response.parts == [
        ThinkingPart('Plan.', signature='sig'),
        ThinkingPart('', signature='cmVk', id=REDACTED_THINKING_ID),
        TextPart('Calling.'),
        ToolCallPart('get_capital', {'country': 'Peru'}, 'tooluse_9'),
    ]
    assert response.finish_reason == 'tool_call'
    assert usage == Usage(
        request_tokens=117,
        response_tokens=5,
        total_tokens=15,
        details={'cached_tokens': 100, 'cache_write_tokens': 7},
    )


@pytest.mark.parametrize(
    ('headers', 'body', 'error_type'),
    [
        (
            {'x-amzn-ErrorType': 'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/'},
            {'message': 'bad'},
            'ValidationException',
        ),
        (
            {},
            {'__type': 'com.amazon.coral.service#AccessDeniedException', 'Message': 'no'},
            'com.amazon.coral.service#AccessDeniedException',
        ),
        ({'x-amzn-ErrorType': 'ResourceNotFoundException'}, None, 'ResourceNotFoundException'),
    ],
)
async def test_http_errors_name_the_aws_error_type(
    router: respx.MockRouter, model: BedrockConverseModel, headers: dict[str, str], body: Any, error_type: str
) -> None:
    content = orjson.dumps(body) if body is not None else b''
    router.post(f'{URL}/converse').respond(
        400, content=content, headers={'content-type': 'application/json', **headers}
    )
    with pytest.raises(ModelHTTPError) as caught:
        await model.request([ModelRequest([UserPromptPart('hi')])], None, ModelRequestParameters())
    error = caught.value
    assert error.status_code == 400
    assert isinstance(error.body, dict)
    assert error.body['__type'] == error_type
    assert error_type in str(error)


async def test_throttling_and_unavailable_are_retried(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    throttled = httpx.Response(
        429,
        json={'message': 'Too many requests'},
        headers={'x-amzn-ErrorType': 'ThrottlingException', 'retry-after-ms': '1'},
    )
    unavailable = httpx.Response(
        503,
        json={'message': 'busy'},
        headers={'x-amzn-ErrorType': 'ServiceUnavailableException', 'retry-after-ms': '1'},
    )
    route = router.post(f'{URL}/converse')
    route.side_effect = [throttled, unavailable, httpx.Response(200, json=answer([{'text': 'finally'}]))]
    response, _ = await model.request([ModelRequest([UserPromptPart('hi')])], None, ModelRequestParameters())
    assert response.parts == [TextPart('finally')]
    assert route.call_count == 3
    assert all(sigv4_verifies(call.request) for call in route.calls)


async def test_a_200_that_is_not_a_converse_response(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    from modelkit.exceptions import UnexpectedModelBehavior

    router.post(f'{URL}/converse').respond(200, json={'output': 'nope'})
    with pytest.raises(UnexpectedModelBehavior, match='Converse response that does not fit'):
        await model.request([ModelRequest([UserPromptPart('hi')])], None, ModelRequestParameters())


def test_the_page_mock_answers_an_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', KEY_ID)
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', SECRET)
    monkeypatch.setenv('AWS_REGION', 'us-east-1')
    with respx.mock() as router:
        page_mock.install(router)
        result = Agent('bedrock:anthropic.claude-3-sonnet-20240229-v1:0').run_sync(
            'What is the capital of France?'
        )
    assert result.data == 'Paris'
    assert result.usage().total_tokens == 13
