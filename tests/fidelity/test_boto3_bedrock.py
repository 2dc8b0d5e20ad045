"""Fidelity: boto3's `bedrock-runtime` client, pointed at the emulator, must see a real Bedrock.

boto3 signs with SigV4 (which the emulator checks), parses Converse answers by the service model,
decodes ConverseStream with AWS's own event-stream decoder (both CRCs), raises its typed
exceptions for our error shapes and exception frames, and retries our throttling. If it accepts
all of that, the emulator's Bedrock wire is close enough for every test built on it. Test-only
dependency (`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import SDK_TIMEOUT_S, emulator_thread

boto3 = pytest.importorskip(
    'boto3', reason='boto3 is not installed: pip install -r tests/requirements-fidelity.txt'
)
from botocore.config import Config  # noqa: E402
from botocore.exceptions import EventStreamError  # noqa: E402

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below

MODEL = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0'
TOOL_CONFIG: Any = {
    'tools': [
        {
            'toolSpec': {
                'name': 'get_capital',
                'description': 'The capital of a country',
                'inputSchema': {
                    'json': {
                        'type': 'object',
                        'properties': {'country': {'type': 'string'}},
                        'required': ['country'],
                    }
                },
            }
        }
    ],
    'toolChoice': {'any': {}},
}


def make_client(emulator: Emulator, *, secret: str | None = None, retries: int = 0) -> Any:
    config = emulator.config
    return boto3.client(
        'bedrock-runtime',
        region_name='us-east-1',
        endpoint_url=emulator.base_url('bedrock'),
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=secret or config.aws_secret_access_key,
        config=Config(
            retries={'max_attempts': retries + 1, 'mode': 'standard'},
            read_timeout=SDK_TIMEOUT_S,
            connect_timeout=SDK_TIMEOUT_S,
        ),
    )


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    """A boto3 bedrock-runtime client for the emulator, without retries."""
    sdk = make_client(emulator_thread)
    yield sdk
    sdk.close()


def user(text: str) -> list[dict[str, Any]]:
    return [{'role': 'user', 'content': [{'text': text}]}]


def test_converse(client: Any) -> None:
    answer = client.converse(modelId=MODEL, messages=user('Hello there'), inferenceConfig={'maxTokens': 100})
    assert answer['stopReason'] == 'end_turn'
    content = answer['output']['message']['content']
    assert len(content[0]['text'].split()) == 6  # the module emulator answers 6 tokens
    usage = answer['usage']
    assert usage['totalTokens'] == usage['inputTokens'] + usage['outputTokens']
    assert answer['metrics']['latencyMs'] > 0


def test_converse_with_tool_use_and_reasoning(client: Any) -> None:
    answer = client.converse(
        modelId=MODEL,
        messages=user('Use the tool for France'),
        toolConfig={**TOOL_CONFIG, 'toolChoice': {'auto': {}}},
        additionalModelRequestFields={'thinking': {'type': 'enabled', 'budget_tokens': 1024}},
    )
    content = answer['output']['message']['content']
    assert content[0]['reasoningContent']['reasoningText']['signature']
    tool_use = content[-1]['toolUse']
    assert tool_use['name'] == 'get_capital'
    assert set(tool_use['input']) == {'country'}
    assert answer['stopReason'] == 'tool_use'


def test_converse_stream_text(client: Any) -> None:
    stream = client.converse_stream(modelId=MODEL, messages=user('Tell me about rivers'))['stream']
    events = list(stream)
    names = [next(iter(event)) for event in events]
    assert names[0] == 'messageStart'
    assert names[-2:] == ['messageStop', 'metadata']
    text = ''.join(e['contentBlockDelta']['delta']['text'] for e in events if 'contentBlockDelta' in e)
    assert len(text.split()) == 6
    assert events[-1]['metadata']['usage']['outputTokens'] == 6


def test_converse_stream_tool_use_and_reasoning(client: Any) -> None:
    stream = client.converse_stream(
        modelId=MODEL,
        messages=user('Use the tool for Peru'),
        toolConfig={**TOOL_CONFIG, 'toolChoice': {'auto': {}}},
        additionalModelRequestFields={'thinking': {'type': 'enabled', 'budget_tokens': 1024}},
    )['stream']
    events = list(stream)
    starts = [e['contentBlockStart']['start']['toolUse'] for e in events if 'contentBlockStart' in e]
    assert starts[0]['name'] == 'get_capital'
    deltas = [e['contentBlockDelta']['delta'] for e in events if 'contentBlockDelta' in e]
    assert any('signature' in d.get('reasoningContent', {}) for d in deltas)
    arguments = ''.join(d['toolUse']['input'] for d in deltas if 'toolUse' in d)
    assert arguments.startswith('{')
    assert events[-2]['messageStop']['stopReason'] == 'tool_use'


def test_a_wrong_secret_is_invalid_signature(emulator_thread: Emulator) -> None:
    sdk = make_client(emulator_thread, secret='not-the-secret')
    with pytest.raises(sdk.exceptions.ClientError) as caught:
        sdk.converse(modelId=MODEL, messages=user('hi'))
    sdk.close()
    error = caught.value.response
    assert error['Error']['Code'] == 'InvalidSignatureException'
    assert error['ResponseMetadata']['HTTPStatusCode'] == 403
    assert 'signature we calculated does not match' in error['Error']['Message']


def test_validation_errors_are_typed(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationException):
        client.converse(modelId=MODEL, messages=[{'role': 'assistant', 'content': [{'text': 'x'}]}])


def test_throttling_is_retried_by_boto3(emulator_thread: Emulator) -> None:
    sdk = make_client(emulator_thread, retries=2)
    answer = sdk.converse(modelId=f'{MODEL}+fault=429+fault-times=1+session=boto3-retry', messages=user('hi'))
    sdk.close()
    assert answer['stopReason'] == 'end_turn'


@pytest.mark.parametrize(
    ('fault', 'code'),
    [
        ('throttling', 'throttlingException'),
        ('stream-error', 'internalServerException'),
        ('model-stream-error', 'modelStreamErrorException'),
        ('validation', 'validationException'),
        ('unavailable', 'serviceUnavailableException'),
    ],
)
def test_exception_frames_mid_stream_are_decoded_by_boto3(client: Any, fault: str, code: str) -> None:
    # boto3 raises an EventStreamError coded by the frame's `:exception-type`, as it does for Bedrock.
    stream = client.converse_stream(modelId=f'{MODEL}+fault={fault}+fault-after=2', messages=user('hi'))[
        'stream'
    ]
    received: list[Any] = []
    events = iter(stream)
    try:
        while len(received) < 50:
            try:
                received.append(next(events))
            except EventStreamError as exc:
                error = exc.response['Error']
                break
        else:
            pytest.fail('the stream never raised')
    finally:
        stream.close()  # give the connection back now, not when the garbage collector finds it
    assert error['Code'] == code
    assert error['Message'].endswith('(emulated)')
    text = ''.join(e['contentBlockDelta']['delta']['text'] for e in received if 'contentBlockDelta' in e)
    assert len(text.split()) == 2
