"""The Bedrock Converse mock: every `bedrock-runtime` endpoint on the page lands here.

The page's Bedrock examples only build models and providers (credentials from the page test's
AWS_* variables, or a boto3 client), so nothing is sent; should one run, its Converse request is
answered here in Bedrock's shape, after checking that it is SigV4-signed for service `bedrock`.
"""

from __future__ import annotations

import httpx
import orjson
import respx

from . import ANSWERS


def _converse(request: httpx.Request) -> httpx.Response:
    if not request.headers.get('authorization', '').startswith('AWS4-HMAC-SHA256 Credential='):
        return httpx.Response(
            403,
            json={'message': 'Missing Authentication Token'},
            headers={'x-amzn-ErrorType': 'MissingAuthenticationTokenException'},
        )
    body = orjson.loads(request.content)
    user = next(m for m in reversed(body['messages']) if m['role'] == 'user')
    prompt = ' '.join(block['text'] for block in user['content'] if 'text' in block)
    answer, input_tokens, output_tokens = ANSWERS[prompt]
    if isinstance(answer, dict):
        tool = next(
            t['toolSpec']['name']
            for t in body['toolConfig']['tools']
            if t['toolSpec']['name'].startswith('final_result')
        )
        content: list[dict[str, object]] = [
            {'toolUse': {'toolUseId': 'tooluse_page', 'name': tool, 'input': answer}}
        ]
        stop = 'tool_use'
    else:
        content = [{'text': answer}]
        stop = 'end_turn'
    usage = {
        'inputTokens': input_tokens,
        'outputTokens': output_tokens,
        'totalTokens': input_tokens + output_tokens,
    }
    payload = {
        'output': {'message': {'role': 'assistant', 'content': content}},
        'stopReason': stop,
        'usage': usage,
        'metrics': {'latencyMs': 100},
    }
    return httpx.Response(200, json=payload)


def install(router: respx.Router) -> None:
    """Answer `POST .../model/{id}/converse` on any Bedrock runtime host."""
    router.post(url__regex=r'https://bedrock-runtime\.[a-z0-9-]+\.amazonaws\.com/model/[^/]+/converse$').mock(
        side_effect=_converse
    )
