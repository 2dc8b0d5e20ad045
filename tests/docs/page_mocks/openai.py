"""The OpenAI chat-completions mock: every OpenAI-compatible base URL on the page lands here."""

from __future__ import annotations

import httpx
import orjson
import respx

from . import ANSWERS, INVALID_KEY


def _chat_completion(request: httpx.Request) -> httpx.Response:
    if request.headers.get('authorization') == f'Bearer {INVALID_KEY}' or (
        request.headers.get('api-key') == INVALID_KEY
    ):
        error = {
            'message': 'Incorrect API key provided',
            'type': 'invalid_request_error',
            'code': 'invalid_api_key',
        }
        return httpx.Response(401, json={'error': error})
    body = orjson.loads(request.content)
    prompt = next(m['content'] for m in reversed(body['messages']) if m['role'] == 'user')
    answer, prompt_tokens, completion_tokens = ANSWERS[prompt]
    message: dict[str, object] = {'role': 'assistant', 'content': None}
    if isinstance(answer, dict):
        tool = next(
            t['function']['name'] for t in body['tools'] if t['function']['name'].startswith('final_result')
        )
        call = {
            'id': 'call_1',
            'type': 'function',
            'function': {'name': tool, 'arguments': orjson.dumps(answer).decode()},
        }
        message['tool_calls'] = [call]
        finish = 'tool_calls'
    else:
        message['content'] = answer
        finish = 'stop'
    usage = {
        'prompt_tokens': prompt_tokens,
        'completion_tokens': completion_tokens,
        'total_tokens': prompt_tokens + completion_tokens,
    }
    payload = {
        'id': 'chatcmpl-page',
        'object': 'chat.completion',
        'created': 1_700_000_000,
        'model': body['model'],
        'choices': [{'index': 0, 'message': message, 'finish_reason': finish}],
        'usage': usage,
    }
    return httpx.Response(200, json=payload)


def install(router: respx.Router) -> None:
    """Answer every `.../chat/completions` URL."""
    router.post(url__regex=r'.*/chat/completions(\?.*)?$').mock(side_effect=_chat_completion)
