"""Amazon Bedrock's Converse API, as the emulator speaks it.

Routes: `POST /model/{modelId}/converse` and `/model/{modelId}/converse-stream` (the model id
percent-encoded in the path, as AWS's SDKs send it); the base URL is the emulator's root, what
boto3's `endpoint_url` and `BedrockProvider(base_url=...)` take.

Shapes follow the `bedrock-runtime` service model and recorded traffic:
- auth is SigV4: the signature is recomputed with botocore from what arrived (method, path, query,
  the signed headers, the body) for `EmulatorConfig.aws_access_key_id` /
  `aws_secret_access_key` (`modelkit emulate --aws-access-key-id ID --aws-secret-access-key
  SECRET`; defaults `AKIAEMULATOR00000000` / `emulator-secret-access-key`). A request with no
  signature gets 403 `MissingAuthenticationTokenException`, another access key 403
  `UnrecognizedClientException`, a wrong signature (a wrong secret) 403
  `InvalidSignatureException`, as AWS answers; any region and any session token are accepted,
  and with `api_key=None` (any key) or `aws_secret_access_key=None` any key pair;
- errors are `{"message": ...}` with the type in the `x-amzn-ErrorType` header
  (`ValidationException`, `ThrottlingException`, `InternalServerException`,
  `ServiceUnavailableException`, ...) and a `x-amzn-RequestId`;
- a stream is `application/vnd.amazon.eventstream`: `messageStart`, per content block
  `contentBlockStart` (tool use only), `contentBlockDelta` (`reasoningContent` text then its
  signature, `text`, or `toolUse.input` fragments) and `contentBlockStop`, then `messageStop` and
  `metadata` (usage, `metrics.latencyMs`); an in-stream failure is an `exception` frame;
- reasoning blocks (with a signature) come first when `additionalModelRequestFields.thinking`
  is `{"type": "enabled", "budget_tokens": N}`.

Faults: the kit's (`stream-error` is an `internalServerException` frame), plus exception frames
after `fault-after` tokens: `throttling` (`throttlingException`; with `fault-after=0` it comes
before any content, as Bedrock sheds load), `unavailable` (`serviceUnavailableException`),
`validation` (`validationException`) and `model-stream-error` (`modelStreamErrorException`).
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from functools import partial
from typing import Any
from typing import ClassVar
from urllib.parse import urlencode

import orjson

from ..parsers.eventstream import encode_message
from ._script import Conversation
from ._script import Reply
from ._script import ToolSpec
from ._script import count_tokens
from ._script import json_tokens
from ._script import plan_reply
from ._server import ANY_KEY_PLACEHOLDER
from ._server import EmulatorState
from ._server import Request
from ._server import Response
from ._vendor import CLOSE
from ._vendor import ERROR_STATUS
from ._vendor import HEAD
from ._vendor import HTTP_FAULTS
from ._vendor import OPEN
from ._vendor import STREAM_ERROR_FAULTS
from ._vendor import TOKEN
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Handler
from ._vendor import Json
from ._vendor import Refusal
from ._vendor import Vendor

__all__ = ('BEDROCK', 'MAX_CLOCK_SKEW_SECONDS', 'VENDORS', 'BedrockVendor', 'EventStreamEncoder')

MAX_CLOCK_SKEW_SECONDS = 300
"""How far `X-Amz-Date` may be from the emulator's clock: AWS refuses signatures over 5 minutes off."""

REQUEST_TOKENS = 5
"""Input tokens every request costs on top of its content."""
IMAGE_TOKENS = 85
"""Input tokens per image, document or video block."""

_SIGNATURE_MISMATCH = (
    'The request signature we calculated does not match the signature you provided. Check your AWS '
    'Secret Access Key and signing method. Consult the service documentation for details.'
)
_AUTHORIZATION = re.compile(
    r'AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)'
    r'/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;_.-]+),\s*Signature=(?P<signature>[0-9a-f]{64})'
)

# kind -> (HTTP error type, exception-frame type); statuses are ERROR_STATUS's but for auth (403).
_ERROR_TYPES: dict[ErrorKind, tuple[str, str]] = {
    'invalid_request': ('ValidationException', 'validationException'),
    'authentication': ('UnrecognizedClientException', 'internalServerException'),
    'permission': ('AccessDeniedException', 'internalServerException'),
    'not_found': ('ResourceNotFoundException', 'validationException'),
    'too_large': ('ValidationException', 'validationException'),
    'rate_limit': ('ThrottlingException', 'throttlingException'),
    'server': ('InternalServerException', 'internalServerException'),
    'unavailable': ('ServiceUnavailableException', 'serviceUnavailableException'),
    'overloaded': ('ModelNotReadyException', 'modelStreamErrorException'),
}
_STATUS: dict[ErrorKind, int] = {**ERROR_STATUS, 'authentication': 403, 'overloaded': 429}
_FAULT_MESSAGES: dict[ErrorKind, str] = {
    'rate_limit': 'Too many requests, please wait before trying again. (emulated)',
    'server': 'The system encountered an unexpected error during processing. Try again. (emulated)',
    'unavailable': 'Bedrock is unable to process your request. (emulated)',
    'invalid_request': 'The model returned an invalid response for this request. (emulated)',
    'overloaded': 'The model encountered an error while processing the stream. (emulated)',
}
_STOP_REASONS = {
    'stop': 'end_turn',
    'length': 'max_tokens',
    'tool_calls': 'tool_use',
    'stop_sequence': 'stop_sequence',
}
_ERROR_TYPE_SUFFIX = ':http://internal.amazon.com/coral/com.amazon.bedrock/'


class EventStreamEncoder:
    """AWS event-stream frames for the emulator core: an event is `(event type, JSON payload)`,
    sent as a `:message-type event` message; `error` is an `exception` message whose
    `:exception-type` the vendor's `exception_type(kind)` names; the stream has no end marker."""

    content_type = 'application/vnd.amazon.eventstream'

    def __init__(self, vendor: BedrockVendor) -> None:
        self._vendor = vendor

    def event(self, event: tuple[str, Json]) -> bytes:
        """One event message."""
        name, payload = event
        headers = {':event-type': name, ':content-type': 'application/json', ':message-type': 'event'}
        return encode_message(dict(headers), orjson.dumps(payload))

    def exception(self, exception_type: str, payload: Json) -> bytes:
        """One exception message."""
        headers = {
            ':exception-type': exception_type,
            ':content-type': 'application/json',
            ':message-type': 'exception',
        }
        return encode_message(dict(headers), orjson.dumps(payload))

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The exception frame for a fault of `kind`."""
        payload: Json = {'message': message}
        if kind == 'overloaded':
            payload |= {'originalStatusCode': 424, 'originalMessage': message}
        return self.exception(self._vendor.exception_type(kind), payload)

    def end(self) -> bytes:
        """Nothing: a ConverseStream ends after its `metadata` event."""
        return b''


class BedrockVendor(Vendor):
    """Bedrock Converse: SigV4 checked with botocore, AWS's error shapes, event-stream frames."""

    prefix: ClassVar[str] = 'bedrock'
    env: ClassVar[dict[str, str]] = {
        'AWS_ENDPOINT_URL_BEDROCK_RUNTIME': '{base_url}',
        'AWS_ACCESS_KEY_ID': '{aws_access_key_id}',
        'AWS_SECRET_ACCESS_KEY': '{aws_secret_access_key}',
        'AWS_REGION': 'us-east-1',
    }
    http_faults: ClassVar[dict[str, ErrorKind]] = dict(HTTP_FAULTS)
    stream_error_faults: ClassVar[dict[str, ErrorKind]] = {
        **STREAM_ERROR_FAULTS,
        'throttling': 'rate_limit',
        'unavailable': 'unavailable',
        'validation': 'invalid_request',
        'model-stream-error': 'overloaded',
    }
    fault_messages = _FAULT_MESSAGES
    error_status = _STATUS

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """Converse and ConverseStream."""
        yield 'POST', r'/model/(?P<model>[^/]+)/converse', partial(self._answer, stream=False)
        yield 'POST', r'/model/(?P<model>[^/]+)/converse-stream', partial(self._answer, stream=True)

    def api_key(self, request: Request) -> str | None:
        """The access key id of the request's SigV4 `Authorization` header."""
        found = _AUTHORIZATION.match(request.headers.get('authorization', ''))
        return found['key'] if found else None

    def claims(self, request: Request) -> bool:
        """SigV4-signed requests, and any request under `/model/`."""
        return request.headers.get('authorization', '').startswith('AWS4-') or request.path.startswith(
            '/model/'
        )

    def environment(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The `env` lines; where any key pair is accepted, the secret is shown as a placeholder."""
        env = super().environment(values)
        if values.get('aws_secret_access_key') is None or values.get('api_key') == ANY_KEY_PLACEHOLDER:
            env['AWS_SECRET_ACCESS_KEY'] = ANY_KEY_PLACEHOLDER
        return env

    def exception_type(self, kind: ErrorKind) -> str:
        """The `:exception-type` of an in-stream error of `kind`."""
        return _ERROR_TYPES[kind][1]

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Bedrock's error body (the type travels in `x-amzn-ErrorType`)."""
        return {'message': message}

    def error_envelope(self, kind: ErrorKind, payload: Any) -> tuple[Any, list[tuple[str, str]]]:
        """An AWS error carries its type in `x-amzn-ErrorType`, and a request id."""
        return payload, _aws_error_headers(_ERROR_TYPES[kind][0])

    def not_found_message(self, request: Request) -> str:
        """The 404 wording for a path Bedrock does not serve."""
        return f'The requested operation is not recognized by the service: {request.method} {request.path}'

    def authenticate(self, request: Request, state: EmulatorState) -> str:
        """The access key id of a request whose SigV4 signature verifies, or a 403 `Refusal`."""
        config = state.config
        # `api_key=None` (any key) accepts any key pair here too: signatures are then checked for
        # form, scope and date, but not recomputed.
        secret = None if config.api_key is None else config.aws_secret_access_key
        auth = request.headers.get('authorization')
        if not auth:
            raise Refusal(
                _aws_error(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token')
            )
        found = _AUTHORIZATION.match(auth)
        if found is None or 'x-amz-date' not in request.headers:
            raise Refusal(
                _aws_error(
                    403,
                    'IncompleteSignatureException',
                    'Authorization header requires a valid AWS4-HMAC-SHA256 Credential, SignedHeaders, '
                    'Signature and an X-Amz-Date header.',
                )
            )
        if secret is not None and found['key'] != config.aws_access_key_id:
            raise Refusal(
                _aws_error(
                    403,
                    'UnrecognizedClientException',
                    'The security token included in the request is invalid.',
                )
            )
        if found['service'] != 'bedrock':
            message = f"Credential should be scoped to correct service: 'bedrock'. (got {found['service']!r})"
            raise Refusal(_aws_error(403, 'InvalidSignatureException', message))
        problem = _signature_problem(request, found, secret)
        if problem is not None:
            raise Refusal(_aws_error(403, 'InvalidSignatureException', problem))
        return found['key']

    # -- handlers -------------------------------------------------------------------------------

    async def _answer(self, request: Request, state: EmulatorState, *, stream: bool) -> Response:
        key = self.authenticate(request, state)
        body = self._parse_body(request.body)
        conversation = self._conversation(body)
        model, controls, fault = await self.admit(request, state, key, request.path_params['model'])
        reply = plan_reply(conversation, tokens=controls.tokens, seed=state.config.seed, salt=model)
        usage = _usage(count_input_tokens(body), reply.deltas)
        headers = [('x-amzn-requestid', str(uuid.uuid4()))]
        if stream:
            frames = _frames(reply, usage)
            return self.stream_response(
                frames,
                EventStreamEncoder(self),
                controls,
                fault,
                headers,
                content_type=EventStreamEncoder.content_type,
            )
        payload = {
            'output': {'message': {'role': 'assistant', 'content': [block for block, _ in _blocks(reply)]}},
            'stopReason': _STOP_REASONS[reply.finish],
            'usage': usage,
            'metrics': {'latencyMs': _LATENCY_MS},
        }
        return await self.plain_response(payload, headers, controls, fault, reply.deltas)

    # -- reading the request --------------------------------------------------------------------

    def _parse_body(self, raw: bytes) -> Json:
        body = self.json_object(raw)
        messages = body.get('messages')
        if not isinstance(messages, list) or not messages:
            raise self.refuse(
                'invalid_request',
                "1 validation error detected: Value at 'messages' failed to satisfy constraint: "
                'Member must not be null',
            )
        previous = None
        for i, message in enumerate(messages):
            role = message.get('role') if isinstance(message, dict) else None
            if role not in ('user', 'assistant') or not isinstance(message.get('content'), list):
                raise self.refuse(
                    'invalid_request',
                    f'messages.{i}: a message needs a role (user or assistant) and a content list',
                )
            if role == previous:
                raise self.refuse(
                    'invalid_request', 'A conversation must alternate between user and assistant roles.'
                )
            for block in message['content']:
                if isinstance(block, dict) and block.get('text') == '':
                    raise self.refuse(
                        'invalid_request', 'The text field in the ContentBlock object is blank.'
                    )
            previous = role
        if messages[0]['role'] != 'user':
            raise self.refuse('invalid_request', 'A conversation must start with a user message.')
        return body

    def _conversation(self, body: Json) -> Conversation:
        messages: list[Json] = body['messages']
        inference = body.get('inferenceConfig') or {}
        conv = Conversation(prompt='', tools=self._tool_specs(body.get('toolConfig')))
        if isinstance(limit := inference.get('maxTokens'), int) and not isinstance(limit, bool):
            conv.max_tokens = limit
        conv.stop_sequences = self.stop_sequences(
            inference.get('stopSequences'), 'inferenceConfig.stopSequences must be a list of strings'
        )
        self._apply_tool_choice(conv, (body.get('toolConfig') or {}).get('toolChoice'))
        thinking = (body.get('additionalModelRequestFields') or {}).get('thinking')
        if isinstance(thinking, dict) and thinking.get('type') == 'enabled':
            budget = thinking.get('budget_tokens')
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
                raise self.refuse('invalid_request', 'thinking.budget_tokens: Input should be >= 1024')
            conv.thinking_budget = budget
        call_names: dict[str, str] = {}
        for message in messages:
            for block in _blocks_of(message):
                tool_use = block.get('toolUse')
                if isinstance(tool_use, dict) and isinstance(tool_use.get('name'), str):
                    conv.called_tools.add(tool_use['name'])
                    call_names[str(tool_use.get('toolUseId'))] = tool_use['name']
        users = [m for m in messages if m['role'] == 'user']
        conv.prompt = _text_of(_blocks_of(users[-1])) if users else ''
        results = [b['toolResult'] for b in _blocks_of(messages[-1]) if isinstance(b.get('toolResult'), dict)]
        if messages[-1]['role'] == 'user' and results:
            result = results[-1]
            name = call_names.get(str(result.get('toolUseId')), 'the tool')
            conv.tool_result = (name, _text_of(result.get('content') or []))
        return conv

    def _tool_specs(self, config: Any) -> list[ToolSpec]:
        if config is None:
            return []
        tools = config.get('tools') if isinstance(config, dict) else None
        if not isinstance(tools, list) or not tools:
            raise self.refuse('invalid_request', 'toolConfig.tools must be a non-empty list')
        specs = []
        for i, tool in enumerate(tools):
            spec = tool.get('toolSpec') if isinstance(tool, dict) else None
            if spec is None:
                continue  # a cache point or a system tool
            schema = (spec.get('inputSchema') or {}).get('json') if isinstance(spec, dict) else None
            if not isinstance(spec.get('name'), str) or not isinstance(schema, dict):
                raise self.refuse(
                    'invalid_request', f'toolConfig.tools.{i}.toolSpec needs a name and inputSchema.json'
                )
            specs.append(ToolSpec(spec['name'], schema))
        return specs

    def _apply_tool_choice(self, conv: Conversation, choice: Any) -> None:
        if choice is None:
            return
        if not isinstance(choice, dict) or len(choice) != 1:
            raise self.refuse(
                'invalid_request', 'toolConfig.toolChoice must set exactly one of auto, any, tool'
            )
        if 'auto' in choice:
            conv.tool_choice = 'auto'
        elif 'any' in choice:
            conv.tool_choice = 'required'
        elif 'tool' in choice:
            name = (choice['tool'] or {}).get('name')
            if name not in {tool.name for tool in conv.tools}:
                raise self.refuse(
                    'invalid_request', f'toolConfig.toolChoice.tool.name: no tool named {name!r} was offered'
                )
            conv.forced_tool = name
        else:
            raise self.refuse(
                'invalid_request', 'toolConfig.toolChoice must set exactly one of auto, any, tool'
            )


BEDROCK = BedrockVendor()
VENDORS: tuple[Vendor, ...] = (BEDROCK,)

_LATENCY_MS = 42
"""The `metrics.latencyMs` every answer reports (the emulator's real latency is whatever it is)."""


def _aws_error(
    status: int, error_type: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    return Response.json(status, {'message': message}, [*headers, *_aws_error_headers(error_type)])


def _aws_error_headers(error_type: str) -> list[tuple[str, str]]:
    return [('x-amzn-ErrorType', error_type + _ERROR_TYPE_SUFFIX), ('x-amzn-RequestId', str(uuid.uuid4()))]


def _signature_problem(request: Request, found: re.Match[str], secret: str | None) -> str | None:
    """Why the signature does not verify (recomputed with botocore, as the service does), or None."""
    amz_date = request.headers['x-amz-date']
    try:
        signed_at = datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ').replace(tzinfo=UTC)
    except ValueError:
        return f'Invalid X-Amz-Date {amz_date!r}: expected the form 20240101T000000Z.'
    if abs(signed_at.timestamp() - time.time()) > MAX_CLOCK_SKEW_SECONDS:
        return f'Signature expired: {amz_date} is more than {MAX_CLOCK_SKEW_SECONDS // 60} minutes from now.'
    if not amz_date.startswith(found['date']):
        return 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.'
    if secret is None:
        return None
    try:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]
    except ImportError:
        return "The emulator checks SigV4 with botocore: pip install 'modelkit-wire[bedrock]'"
    signed = found['signed'].split(';')
    missing = [name for name in signed if name not in request.headers]
    if missing or 'host' not in signed:
        absent = ', '.join(missing) or 'host'
        return f'Signed headers must include host and be present in the request (missing: {absent}).'
    query = f'?{urlencode(sorted(request.query.items()))}' if request.query else ''
    aws = AWSRequest(
        method=request.method,
        url=f'http://{request.headers["host"]}{request.path}{query}',
        data=request.body,
        headers={name: request.headers[name] for name in signed},
    )
    aws.context['timestamp'] = amz_date
    credentials = Credentials(found['key'], secret, request.headers.get('x-amz-security-token'))
    auth = SigV4Auth(credentials, found['service'], found['region'])
    expected = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
    return None if hmac.compare_digest(expected, found['signature']) else _SIGNATURE_MISMATCH


def _blocks_of(message: Json) -> list[Json]:
    content = message.get('content')
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _text_of(blocks: list[Any]) -> str:
    return ' '.join(
        str(block['text'])
        for block in blocks
        if isinstance(block, dict) and isinstance(block.get('text'), str)
    )


def count_input_tokens(body: Json) -> int:
    """The input tokens the emulator reports: `REQUEST_TOKENS`, plus the tokens of every text
    (system, messages, tool results), `IMAGE_TOKENS` per media block, and the tools' JSON."""
    total = REQUEST_TOKENS
    for block in body.get('system') or []:
        if isinstance(block, dict) and isinstance(block.get('text'), str):
            total += count_tokens(block['text'])
    for message in body['messages']:
        for block in _blocks_of(message):
            if any(kind in block for kind in ('image', 'document', 'video')):
                total += IMAGE_TOKENS
            elif isinstance(result := block.get('toolResult'), dict):
                total += count_tokens(_text_of(result.get('content') or []))
            elif isinstance(tool_use := block.get('toolUse'), dict):
                total += json_tokens(tool_use.get('input', {}))
            elif isinstance(block.get('text'), str):
                total += count_tokens(block['text'])
    if (config := body.get('toolConfig')) is not None:
        total += json_tokens(config)
    return total


# --------------------------------------------------------------------------------------------
# Writing the answer
# --------------------------------------------------------------------------------------------


def _usage(input_tokens: int, output_tokens: int) -> Json:
    return {
        'inputTokens': input_tokens,
        'outputTokens': output_tokens,
        'totalTokens': input_tokens + output_tokens,
        'cacheReadInputTokens': 0,
        'cacheWriteInputTokens': 0,
    }


def _blocks(reply: Reply) -> list[tuple[Json, list[Json]]]:
    """Each content block of the reply, whole, with the deltas that stream it."""
    blocks: list[tuple[Json, list[Json]]] = []
    if reply.thinking:
        text = {'text': ''.join(reply.thinking), 'signature': reply.signature}
        deltas = [{'reasoningContent': {'text': part}} for part in reply.thinking]
        blocks.append(({'reasoningContent': {'reasoningText': text}}, deltas))
    if reply.text or not reply.tool_calls:
        blocks.append(({'text': ''.join(reply.text)}, [{'text': part} for part in reply.text]))
    for call in reply.tool_calls:
        tool_use = {'toolUseId': 'tooluse_' + call.id.removeprefix('call_'), 'name': call.name}
        deltas = [{'toolUse': {'input': part}} for part in call.argument_fragments] or [
            {'toolUse': {'input': '{}'}}
        ]
        blocks.append(({'toolUse': {**tool_use, 'input': orjson.loads(call.arguments)}}, deltas))
    return blocks


def _frames(reply: Reply, usage: Json) -> list[Frame]:
    """The events of a streamed answer; each delta is a token."""
    frames = [Frame(HEAD, ('messageStart', {'role': 'assistant'}))]
    for index, (block, deltas) in enumerate(_blocks(reply)):
        if 'toolUse' in block:
            start = {k: v for k, v in block['toolUse'].items() if k != 'input'}
            frames.append(
                Frame(OPEN, ('contentBlockStart', {'contentBlockIndex': index, 'start': {'toolUse': start}}))
            )
        for delta in deltas:
            frames.append(
                Frame(TOKEN, ('contentBlockDelta', {'contentBlockIndex': index, 'delta': delta}), 1)
            )
        if 'reasoningContent' in block:
            signature = {
                'reasoningContent': {'signature': block['reasoningContent']['reasoningText']['signature']}
            }
            frames.append(
                Frame(CLOSE, ('contentBlockDelta', {'contentBlockIndex': index, 'delta': signature}))
            )
        frames.append(Frame(CLOSE, ('contentBlockStop', {'contentBlockIndex': index})))
    frames.append(Frame(CLOSE, ('messageStop', {'stopReason': _STOP_REASONS[reply.finish]})))
    frames.append(Frame(CLOSE, ('metadata', {'usage': usage, 'metrics': {'latencyMs': _LATENCY_MS}})))
    return frames
