"""The Anthropic Messages mock: the page's questions answered at `.../v1/messages` in Anthropic's wire."""

from __future__ import annotations

import httpx
import orjson
import respx

from . import ANSWERS, INVALID_KEY


def _messages(request: httpx.Request) -> httpx.Response:
    if request.headers.get('x-api-key') == INVALID_KEY:
        error = {'type': 'authentication_error', 'message': 'invalid x-api-key'}
        return httpx.Response(401, json={'type': 'error', 'error': error, 'request_id': 'req_page'})
    body = orjson.loads(request.content)
    last_user = next(m for m in reversed(body['messages']) if m['role'] == 'user')
    prompt = next(b['text'] for b in last_user['content'] if b['type'] == 'text')
    answer, input_tokens, output_tokens = ANSWERS[prompt]
    if isinstance(answer, dict):
        tool = next(t['name'] for t in body['tools'] if t['name'].startswith('final_result'))
        content = [{'type': 'tool_use', 'id': 'toolu_page', 'name': tool, 'input': answer}]
        stop_reason = 'tool_use'
    else:
        content = [{'type': 'text', 'text': answer}]
        stop_reason = 'end_turn'
    payload = {
        'id': 'msg_page',
        'type': 'message',
        'role': 'assistant',
        'model': body['model'],
        'content': content,
        'stop_reason': stop_reason,
        'stop_sequence': None,
        'usage': {'input_tokens': input_tokens, 'output_tokens': output_tokens},
    }
    return httpx.Response(200, json=payload)


def install(router: respx.Router) -> None:
    """Answer every `.../v1/messages` URL."""
    router.post(url__regex=r'.*/v1/messages(\?.*)?$').mock(side_effect=_messages)
