"""Mistral's chat completions, as the emulator speaks them.

`POST /mistral/v1/chat/completions` and `GET /mistral/v1/models`: Mistral's real paths are
`/v1/...`, which are OpenAI's here, so the emulator serves Mistral under `/mistral` (the base URL
`{root}/mistral/v1`; the mistralai SDK's `server_url` is `{root}/mistral`). On the OpenAI module's
machinery (`OpenAIVendor`), only what Mistral does differently, per Mistral's API reference and
recorded traffic:

- the request: `random_seed`; `tool_choice: any`; `stream_options` refused with a 422; tool-call
  ids in the history that are not exactly 9 letters and digits refused with a 400;
- ids: completions are 32 hex digits, tool calls 9 letters and digits;
- content: magistral models (or `prompt_mode: reasoning`) think first, and their content is a list
  of chunks: `thinking` chunks whose `thinking` is a list of text chunks, then a `text` chunk; in a
  stream the thinking deltas are lists, the first text delta is a list and the rest plain strings;
- a stream's tool call arrives whole in one delta; usage rides on the finish chunk, then `[DONE]`;
- errors: `{"object": "error", "message", "type", "param", "code"}` (a 422's `message` is
  `{"detail": [...]}`), and for a bad key `{"message": "Unauthorized", "request_id"}`.
"""

from __future__ import annotations

import uuid
from typing import Any
from typing import ClassVar

from ._script import Conversation
from ._script import Reply
from ._vendor import CLOSE
from ._vendor import OPEN
from ._vendor import TOKEN
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Json
from ._vendor import Vendor
from .openai import BadRequest
from .openai import OpenAIDialectVendor

__all__ = ('MISTRAL', 'THINKING_BUDGET', 'VENDORS', 'MistralVendor')

THINKING_BUDGET = 16
"""Thinking tokens a magistral answer may spend before answering (more only slows tests)."""
_ID_ALPHABET = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')

_TYPES: dict[ErrorKind, str] = {
    'rate_limit': 'rate_limited',
    'server': 'internal_server_error',
    'unavailable': 'service_unavailable',
    'not_found': 'not_found_error',
}
_CODES: dict[ErrorKind, str] = {'rate_limit': '1300', 'server': '1000', 'unavailable': '1000'}


class MistralVendor(OpenAIDialectVendor):
    """Mistral: bearer key, its flat error object, list content for thinking, 9-character tool ids."""

    prefix: ClassVar[str] = 'mistral'
    base_path: ClassVar[str] = '/mistral/v1'
    env: ClassVar[dict[str, str]] = {'MISTRAL_BASE_URL': '{base_url}', 'MISTRAL_API_KEY': '{api_key}'}
    seed_field: ClassVar[str] = 'random_seed'

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Mistral's error bodies: the gateway's for a bad key, the flat error object otherwise."""
        if kind == 'authentication':
            return {'message': message, 'request_id': uuid.uuid4().hex}
        detail: Any = message
        if status == 422:  # a validation error lists what failed, as FastAPI writes it
            detail = {'detail': [{'type': 'extra_forbidden', 'loc': ['body', param], 'msg': message}]}
        error_type = (
            'invalid_request_message_error' if status == 422 else _TYPES.get(kind, 'invalid_request_error')
        )
        return {
            'object': 'error',
            'message': detail,
            'type': error_type,
            'param': param,
            'code': _CODES.get(kind),
        }

    def auth_message(self, key: str | None) -> str:
        """Mistral's 401 wording."""
        return 'No API key found in request' if key is None else 'Unauthorized'

    def conversation(self, body: Json) -> Conversation:
        """OpenAI's reading, after Mistral's own checks; `any` is Mistral's "required"."""
        if 'stream_options' in body:
            raise BadRequest('Extra inputs are not permitted', 'stream_options', status=422)
        for message in body['messages']:
            ids = [call.get('id') for call in message.get('tool_calls') or () if isinstance(call, dict)]
            if message['role'] == 'tool':
                ids.append(message.get('tool_call_id'))
            for call_id in ids:
                if not (isinstance(call_id, str) and len(call_id) == 9 and set(call_id) <= _ID_ALPHABET):
                    raise BadRequest(
                        f'Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.',
                        'messages',
                    )
        if body.get('tool_choice') == 'any':
            body = {**body, 'tool_choice': 'required'}
        conversation = super().conversation(body)
        model = body['model']
        if model.startswith('magistral') or body.get('prompt_mode') == 'reasoning':
            conversation.thinking_budget = THINKING_BUDGET
        return conversation

    def completion_id(self, number: int) -> str:
        """32 hex digits, as Mistral's ids are."""
        return f'{number:032x}'

    def usage(self, prompt_tokens: int, completion_tokens: int) -> Json:
        """Mistral's usage object."""
        return {
            'prompt_tokens': prompt_tokens,
            'completion_tokens': completion_tokens,
            'total_tokens': prompt_tokens + completion_tokens,
            'prompt_tokens_details': {'cached_tokens': 0},
        }

    def completion(self, replies: list[Reply], meta: Json, usage: Json, forced: bool) -> Json:
        """OpenAI's body with Mistral's messages: list content when the model thought, calls with
        9-character ids; no fingerprint, tier or logprobs."""
        payload = super().completion(replies, meta, usage, forced)
        for key in ('service_tier', 'system_fingerprint'):
            del payload[key]
        for choice, reply in zip(payload['choices'], replies, strict=True):
            text = ''.join(reply.text)
            content: Any = [_thinking(''.join(reply.thinking)), _text(text)] if reply.thinking else text
            calls = [
                _call(call.id, call.name, call.arguments) | {'index': i}
                for i, call in enumerate(reply.tool_calls)
            ]
            del choice['logprobs']
            choice['message'] = {'role': 'assistant', 'content': content, 'tool_calls': calls or None}
            choice['finish_reason'] = _finish(reply)
        return payload

    def stream_frames(
        self, replies: list[Reply], meta: Json, usage: Json, include_usage: bool, forced: bool
    ) -> list[Frame]:
        """Role chunk, thinking deltas (lists), text deltas (the first a list after thinking), whole
        tool calls, and the finish chunk with the usage."""
        head = {
            'id': meta['id'],
            'object': 'chat.completion.chunk',
            'created': meta['created'],
            'model': meta['model'],
        }

        def chunk(index: int, delta: Json, finish: str | None = None) -> Json:
            return {**head, 'choices': [{'index': index, 'delta': delta, 'finish_reason': finish}]}

        frames: list[Frame] = []
        for index, reply in enumerate(replies):
            frames.append(Frame(OPEN, chunk(index, {'role': 'assistant', 'content': ''})))
            frames += [Frame(TOKEN, chunk(index, {'content': [_thinking(t)]}), 1) for t in reply.thinking]
            for position, text in enumerate(reply.text):
                content: Any = [_text(text)] if reply.thinking and not position else text
                frames.append(Frame(TOKEN, chunk(index, {'content': content}), 1))
            for call in reply.tool_calls:
                delta = {'content': None, 'tool_calls': [_call(call.id, call.name, call.arguments)]}
                frames.append(Frame(TOKEN, chunk(index, delta), len(call.argument_fragments)))
            finish = chunk(index, {'content': ''}, _finish(reply))
            if index == len(replies) - 1:
                finish['usage'] = usage
            frames.append(Frame(CLOSE, finish))
        return frames


def _thinking(text: str) -> Json:
    return {'type': 'thinking', 'thinking': [{'type': 'text', 'text': text}]}


def _text(text: str) -> Json:
    return {'type': 'text', 'text': text}


def _call(plan_id: str, name: str, arguments: str) -> Json:
    # The plan's ids are `call_` and 24 letters and digits; Mistral's are 9 of them.
    return {'id': plan_id.removeprefix('call_')[:9], 'function': {'name': name, 'arguments': arguments}}


def _finish(reply: Reply) -> str:
    return 'stop' if reply.finish == 'stop_sequence' else reply.finish


MISTRAL = MistralVendor()
VENDORS: tuple[Vendor, ...] = (MISTRAL,)
