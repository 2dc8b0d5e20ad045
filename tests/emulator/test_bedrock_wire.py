"""The emulator's Bedrock Converse API over loopback: SigV4 checked, AWS's shapes, real frames, faults.

Raw requests are signed here with botocore directly (not through the provider), so the emulator's
check is tested against AWS's own signer; then `BedrockConverseModel` drives it end to end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.exceptions import ModelHTTPError, ModelStreamError, StreamInterrupted
from modelkit.messages import ModelRequest, TextPart, ThinkingPart, ToolCallPart, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.bedrock import BedrockConverseModel
from modelkit.parsers.eventstream import EventStreamDecoder, EventStreamMessage
from modelkit.providers.bedrock import BedrockProvider
from modelkit.tools import ToolDefinition
from tests.helpers.emulator import TEST_TIMEOUT_S

botocore_auth = pytest.importorskip('botocore.auth', reason='needs botocore (the bedrock extra)')
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

pytestmark = pytest.mark.anyio

MODEL = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0'
TOOL = ToolDefinition(
    'get_capital',
    'The capital of a country',
    {'type': 'object', 'properties': {'country': {'type': 'string'}}, 'required': ['country']},
)


def body(prompt: str = 'Tell me about rivers', **extra: Any) -> dict[str, Any]:
    return {'messages': [{'role': 'user', 'content': [{'text': prompt}]}], **extra}


async def post(
    emulator: Emulator,
    payload: dict[str, Any] | bytes,
    *,
    operation: str = 'converse',
    model: str = MODEL,
    secret: str | None = None,
    key_id: str | None = None,
    sign: bool = True,
    tamper: bytes | None = None,
    **sign_headers: str,
) -> httpx.Response:
    """POST to the emulator, signed with botocore as boto3 would sign it."""
    config = emulator.config
    url = f'{emulator.base_url("bedrock")}/model/{quote(model, safe="")}/{operation}'
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = {'content-type': 'application/json', **sign_headers}
    if sign:
        aws = AWSRequest(method='POST', url=url, data=content, headers=headers)
        credentials = Credentials(key_id or config.aws_access_key_id, secret or config.aws_secret_access_key)
        botocore_auth.SigV4Auth(credentials, 'bedrock', 'us-west-2').add_auth(aws)
        headers = dict(aws.headers.items())
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as client:
        return await client.post(url, content=tamper or content, headers=headers)


def frames(raw: bytes) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder()
    messages = decoder.feed(raw) + decoder.close()
    assert not decoder.truncated
    return messages


def aws_error(response: httpx.Response) -> tuple[int, str, str]:
    return (
        response.status_code,
        response.headers['x-amzn-errortype'].split(':')[0],
        response.json()['message'],
    )


async def test_converse_answers_in_bedrocks_shape(emulator: Emulator) -> None:
    response = await post(emulator, body())
    assert response.status_code == 200, response.text
    assert response.headers['x-amzn-requestid']
    answer = response.json()
    assert answer['stopReason'] == 'end_turn'
    content = answer['output']['message']['content']
    assert answer['output']['message']['role'] == 'assistant'
    assert len(content) == 1
    assert len(content[0]['text'].split()) == 8  # the fixture's emulator answers 8 tokens
    usage = answer['usage']
    assert usage['outputTokens'] == 8
    assert usage['totalTokens'] == usage['inputTokens'] + 8
    assert answer['metrics']['latencyMs'] > 0


async def test_converse_stream_is_real_event_stream_frames(emulator: Emulator) -> None:
    response = await post(emulator, body(), operation='converse-stream')
    assert response.status_code == 200, response.text
    assert response.headers['content-type'] == 'application/vnd.amazon.eventstream'
    messages = frames(response.content)
    assert {m.headers[':message-type'] for m in messages} == {'event'}
    assert [m.headers[':event-type'] for m in messages] == [
        'messageStart',
        *['contentBlockDelta'] * 8,
        'contentBlockStop',
        'messageStop',
        'metadata',
    ]
    payloads = [orjson.loads(m.payload) for m in messages]
    assert payloads[-2] == {'stopReason': 'end_turn'}
    assert payloads[-1]['usage']['outputTokens'] == 8


async def test_tool_use_and_reasoning_frames(emulator: Emulator) -> None:
    tools = {
        'tools': [{'toolSpec': {'name': 'get_capital', 'inputSchema': {'json': TOOL.parameters_json_schema}}}]
    }
    request = body(
        'Use the tool for France',
        toolConfig={**tools, 'toolChoice': {'any': {}}},
        additionalModelRequestFields={'thinking': {'type': 'enabled', 'budget_tokens': 1024}},
    )
    response = await post(emulator, request, operation='converse-stream')
    kinds = [(m.headers[':event-type'], orjson.loads(m.payload)) for m in frames(response.content)]
    starts = [p for name, p in kinds if name == 'contentBlockStart']
    assert starts[0]['start']['toolUse']['name'] == 'get_capital'
    deltas = [p['delta'] for name, p in kinds if name == 'contentBlockDelta']
    assert 'text' in deltas[0]['reasoningContent']
    assert any('signature' in d.get('reasoningContent', {}) for d in deltas)
    arguments = ''.join(d['toolUse']['input'] for d in deltas if 'toolUse' in d)
    assert set(orjson.loads(arguments)) == {'country'}
    assert kinds[-2] == ('messageStop', {'stopReason': 'tool_use'})


@pytest.mark.parametrize(
    ('kwargs', 'status', 'error_type', 'message'),
    [
        (
            {'secret': 'not-the-secret'},
            403,
            'InvalidSignatureException',
            'signature we calculated does not match',
        ),
        (
            {'tamper': b'{"messages": []}'},
            403,
            'InvalidSignatureException',
            'signature we calculated does not match',
        ),
        ({'sign': False}, 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'),
        (
            {'key_id': 'AKIAOTHER'},
            403,
            'UnrecognizedClientException',
            'security token included in the request is invalid',
        ),
        ({'x_amz_date': True}, 403, 'InvalidSignatureException', 'Signature expired'),
    ],
)
async def test_signatures_are_checked_as_aws_does(
    emulator: Emulator, kwargs: dict[str, Any], status: int, error_type: str, message: str
) -> None:
    if kwargs.get('x_amz_date'):
        # Sign an old request: botocore reads its clock through this function.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(botocore_auth, 'get_current_datetime', lambda: datetime(2020, 1, 1))
            response = await post(emulator, body())
    else:
        response = await post(emulator, body(), **kwargs)
    got = aws_error(response)
    assert got[:2] == (status, error_type)
    assert message in got[2]


async def test_any_session_token_and_region_are_accepted(emulator: Emulator) -> None:
    config = emulator.config
    provider = BedrockProvider(
        base_url=emulator.base_url('bedrock'),
        region_name='eu-north-1',
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=config.aws_secret_access_key,
        aws_session_token='any-token',
    )
    model = BedrockConverseModel(MODEL, provider=provider)
    response, _ = await model.request([ModelRequest([UserPromptPart('hi')])], None, ModelRequestParameters())
    assert isinstance(response.parts[0], TextPart)


async def test_a_configured_key_pair() -> None:
    config = EmulatorConfig(aws_access_key_id='AKIAMINE', aws_secret_access_key='my-secret', tokens=3)
    async with Emulator(config) as emu:
        assert emu.environment('bedrock') == {
            'AWS_ENDPOINT_URL_BEDROCK_RUNTIME': emu.url,
            'AWS_ACCESS_KEY_ID': 'AKIAMINE',
            'AWS_SECRET_ACCESS_KEY': 'my-secret',
            'AWS_REGION': 'us-east-1',
        }
        assert (await post(emu, body())).status_code == 200
        assert (
            aws_error(await post(emu, body(), secret='emulator-secret-access-key'))[1]
            == 'InvalidSignatureException'
        )


@pytest.mark.parametrize(
    ('payload', 'message'),
    [
        (b'not json', 'not valid JSON'),
        ({'messages': []}, "Value at 'messages'"),
        ({'messages': [{'role': 'assistant', 'content': [{'text': 'x'}]}]}, 'start with a user message'),
        (
            {
                'messages': [
                    {'role': 'user', 'content': [{'text': 'a'}]},
                    {'role': 'user', 'content': [{'text': 'b'}]},
                ]
            },
            'alternate',
        ),
        ({'messages': [{'role': 'user', 'content': [{'text': ''}]}]}, 'blank'),
    ],
)
async def test_bad_requests_get_a_validation_exception(
    emulator: Emulator, payload: Any, message: str
) -> None:
    status, error_type, text = aws_error(await post(emulator, payload))
    assert (status, error_type) == (400, 'ValidationException')
    assert message in text


def model_for(emulator: Emulator, options: str = '') -> BedrockConverseModel:
    config = emulator.config
    provider = BedrockProvider(
        base_url=emulator.base_url('bedrock'),
        region_name='us-east-1',
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=config.aws_secret_access_key,
    )
    provider._transport.initial_backoff = provider._transport.max_backoff = 0.001
    return BedrockConverseModel(MODEL + options, provider=provider)


async def stream_parts(
    model: BedrockConverseModel, prompt: str = 'Tell me about rivers', **params: Any
) -> Any:
    messages = [ModelRequest([UserPromptPart(prompt)])]
    async with model.request_stream(
        messages, params.pop('settings', None), ModelRequestParameters(**params)
    ) as response:
        async for _ in response:
            pass
    return response


async def test_the_model_streams_text_tool_calls_and_reasoning(emulator: Emulator) -> None:
    text = await stream_parts(model_for(emulator))
    assert [type(p) for p in text.get().parts] == [TextPart]
    assert text.usage().response_tokens == 8
    settings = {
        'bedrock_additional_model_requests_fields': {'thinking': {'type': 'enabled', 'budget_tokens': 2048}}
    }
    tools = await stream_parts(
        model_for(emulator), 'Use the tool for Peru', function_tools=[TOOL], settings=settings
    )
    parts = tools.get().parts
    assert isinstance(parts[0], ThinkingPart)
    assert parts[0].signature
    call = parts[-1]
    assert isinstance(call, ToolCallPart)
    assert call.tool_name == 'get_capital'
    assert set(call.args_as_dict()) == {'country'}
    assert tools.get().finish_reason == 'tool_call'


@pytest.mark.parametrize('fault', ['throttling', 'unavailable', '429', '503'])
async def test_shedding_before_content_and_http_faults_are_retried(emulator: Emulator, fault: str) -> None:
    response = await stream_parts(model_for(emulator, f'+fault={fault}+fault-times=2+fault-after=0'))
    assert [type(p) for p in response.get().parts] == [TextPart]


@pytest.mark.parametrize(
    ('fault', 'error_type'),
    [
        ('stream-error', 'internalServerException'),
        ('throttling', 'throttlingException'),
        ('validation', 'validationException'),
        ('model-stream-error', 'modelStreamErrorException'),
    ],
)
async def test_exception_frames_mid_stream(emulator: Emulator, fault: str, error_type: str) -> None:
    with pytest.raises(ModelStreamError) as caught:
        await stream_parts(model_for(emulator, f'+fault={fault}+fault-after=3'))
    assert caught.value.error_type == error_type
    partial = caught.value.partial_response
    assert partial is not None
    assert len(partial.parts[0].content.split()) == 3  # type: ignore[union-attr]


@pytest.mark.parametrize('fault', ['drop', 'truncate'])
async def test_broken_streams_are_interrupted(emulator: Emulator, fault: str) -> None:
    with pytest.raises(StreamInterrupted):
        await stream_parts(model_for(emulator, f'+fault={fault}'))


async def test_a_wrong_secret_through_the_model(emulator: Emulator) -> None:
    config = emulator.config
    provider = BedrockProvider(
        base_url=emulator.base_url('bedrock'),
        region_name='us-east-1',
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key='wrong',
    )
    with pytest.raises(ModelHTTPError) as caught:
        await BedrockConverseModel(MODEL, provider=provider).request(
            [ModelRequest([UserPromptPart('hi')])], None, ModelRequestParameters()
        )
    assert caught.value.status_code == 403
    assert isinstance(caught.value.body, dict)
    assert caught.value.body['__type'] == 'InvalidSignatureException'


async def test_any_key_accepts_any_key_pair_but_still_checks_the_form() -> None:
    async with Emulator(EmulatorConfig(api_key=None, tokens=3)) as emu:
        assert emu.environment('bedrock', api_key='any-non-empty-value')['AWS_SECRET_ACCESS_KEY'] == (
            'any-non-empty-value'
        )
        assert (await post(emu, body(), key_id='AKIAANYONE', secret='any secret')).status_code == 200
        assert aws_error(await post(emu, body(), sign=False))[1] == 'MissingAuthenticationTokenException'
