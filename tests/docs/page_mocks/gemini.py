"""The Gemini mock: generateContent on the Generative Language API and on Vertex AI's paths."""

from __future__ import annotations

import httpx
import orjson
import respx

from . import ANSWERS, INVALID_KEY


def _generate_content(request: httpx.Request) -> httpx.Response:
    if request.headers.get('x-goog-api-key') == INVALID_KEY or (
        request.headers.get('authorization') == f'Bearer {INVALID_KEY}'
    ):
        error = {
            'code': 400,
            'message': 'API key not valid. Please pass a valid API key.',
            'status': 'INVALID_ARGUMENT',
        }
        return httpx.Response(400, json={'error': error})
    body = orjson.loads(request.content)
    turn = next(c for c in reversed(body['contents']) if c.get('role', 'user') == 'user')
    prompt = next(p['text'] for p in turn['parts'] if 'text' in p)
    answer, prompt_tokens, completion_tokens = ANSWERS[prompt]
    if isinstance(answer, dict):
        declarations = [d for tool in body.get('tools', []) for d in tool.get('functionDeclarations', [])]
        name = next(d['name'] for d in declarations if d['name'].startswith('final_result'))
        part: dict[str, object] = {'functionCall': {'name': name, 'args': answer}}
    else:
        part = {'text': answer}
    payload = {
        'candidates': [{'content': {'parts': [part], 'role': 'model'}, 'finishReason': 'STOP', 'index': 0}],
        'usageMetadata': {
            'promptTokenCount': prompt_tokens,
            'candidatesTokenCount': completion_tokens,
            'totalTokenCount': prompt_tokens + completion_tokens,
        },
        'modelVersion': request.url.path.rsplit('/', 1)[-1].split(':', 1)[0],
        'responseId': 'page-response',
    }
    if request.url.path.endswith(':streamGenerateContent'):
        content = b'data: ' + orjson.dumps(payload) + b'\r\n\r\n'
        return httpx.Response(200, content=content, headers={'content-type': 'text/event-stream'})
    return httpx.Response(200, json=payload)


def install(router: respx.Router) -> None:
    """Answer every `.../models/{model}:generateContent` and `:streamGenerateContent` URL (GLA and Vertex)."""
    router.post(url__regex=r'.*/models/[^/:]+:(generateContent|streamGenerateContent)(\?.*)?$').mock(
        side_effect=_generate_content
    )
