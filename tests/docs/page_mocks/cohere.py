"""The Cohere v2 chat mock: `POST https://api.cohere.com/v2/chat`, answered in Cohere's wire format."""

from __future__ import annotations

import httpx
import orjson
import respx

from . import ANSWERS, INVALID_KEY


def _chat(request: httpx.Request) -> httpx.Response:
    if request.headers.get('authorization') == f'Bearer {INVALID_KEY}':
        return httpx.Response(401, json={'id': 'page-401', 'message': 'invalid api token'})
    body = orjson.loads(request.content)
    prompt = next(m['content'] for m in reversed(body['messages']) if m['role'] == 'user')
    answer, input_tokens, output_tokens = ANSWERS[prompt]
    message: dict[str, object] = {'role': 'assistant'}
    if isinstance(answer, dict):
        tool = next(
            t['function']['name'] for t in body['tools'] if t['function']['name'].startswith('final_result')
        )
        call = {
            'id': f'{tool}_page1',
            'type': 'function',
            'function': {'name': tool, 'arguments': orjson.dumps(answer).decode()},
        }
        message.update(tool_plan=f'I will use {tool}.', tool_calls=[call])
        finish = 'TOOL_CALL'
    else:
        message['content'] = [{'type': 'text', 'text': answer}]
        finish = 'COMPLETE'
    usage = {
        'billed_units': {'input_tokens': input_tokens, 'output_tokens': output_tokens},
        'tokens': {'input_tokens': input_tokens, 'output_tokens': output_tokens},
    }
    payload = {'id': 'page-chat', 'message': message, 'finish_reason': finish, 'usage': usage}
    return httpx.Response(200, json=payload)


def install(router: respx.Router) -> None:
    """Answer Cohere's chat endpoint."""
    router.post('https://api.cohere.com/v2/chat').mock(side_effect=_chat)
