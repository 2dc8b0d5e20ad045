"""Groq's OpenAI-compatible chat completions, as the emulator speaks them.

`POST /openai/v1/chat/completions` (Groq's real path) and `GET /openai/v1/models`, on the OpenAI
module's machinery (`OpenAIVendor`): only what Groq does differently is here, per Groq's API
reference and recorded traffic:

- `x_groq` on the first chunk (the request id) and on the finish chunk, which also carries the
  usage (under `x_groq.usage` and at the top level, with Groq's timing fields) whether or not
  `stream_options` asked for it; whole completions carry `x_groq` and the timings too;
- ids `chatcmpl-<uuid>`; errors `{"error": {"message", "type", "code"}}`, and inside a stream an
  `event: error` whose data is the same object with its `status_code`;
- the fault `tool-use-failed`: Groq's 400 `tool_use_failed` with `failed_generation` (for a
  streamed request, the same error as an `event: error` after `fault-after` tokens).
"""

from __future__ import annotations

import uuid
from typing import Any
from typing import ClassVar

from ._script import Controls
from ._script import Reply
from ._vendor import ERROR_STATUS
from ._vendor import STREAM_ERROR_FAULTS
from ._vendor import ErrorKind
from ._vendor import Frame
from ._vendor import Json
from ._vendor import SSEEncoder
from ._vendor import Vendor
from .openai import OpenAIDialectVendor

__all__ = ('GROQ', 'TOOL_USE_FAILED_GENERATION', 'VENDORS', 'GroqVendor')

TOOL_USE_FAILED_MESSAGE = (
    "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details."
)
TOOL_USE_FAILED_GENERATION = '{"name": "no_such_tool", "arguments": {}}'
"""What the `tool-use-failed` fault says the model wrote: a call of a tool that was not offered."""
_SECONDS_PER_TOKEN = 0.0004
"""The timing fields' pace (Groq's are in seconds): fast, as Groq is."""

_TYPES: dict[ErrorKind, str] = {'rate_limit': 'tokens', 'server': 'internal_server_error'}
_CODES: dict[ErrorKind, str] = {
    'authentication': 'invalid_api_key',
    'rate_limit': 'rate_limit_exceeded',
    'not_found': 'unknown_url',
}


class GroqVendor(OpenAIDialectVendor):
    """Groq: bearer key, OpenAI's error object without `param`, `x_groq` on answers."""

    prefix: ClassVar[str] = 'groq'
    base_path: ClassVar[str] = '/openai/v1'
    env: ClassVar[dict[str, str]] = {'GROQ_BASE_URL': '{base_url}', 'GROQ_API_KEY': '{api_key}'}
    stream_error_faults: ClassVar[dict[str, ErrorKind]] = {
        **STREAM_ERROR_FAULTS,
        'tool-use-failed': 'invalid_request',
    }

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """Groq's error object (the `tool-use-failed` fault's carries `failed_generation`)."""
        error: Json = {'message': message, 'type': _TYPES.get(kind, 'invalid_request_error')}
        if message == TOOL_USE_FAILED_MESSAGE:
            error |= {'code': 'tool_use_failed', 'failed_generation': TOOL_USE_FAILED_GENERATION}
        elif kind in _CODES:
            error['code'] = _CODES[kind]
        if param is not None:
            error['param'] = param
        return {'error': error}

    def fault_message(self, kind: ErrorKind, controls: Controls) -> str:
        """Groq's wording; an `invalid_request` fault is only ever `tool-use-failed`."""
        if kind == 'invalid_request':
            return TOOL_USE_FAILED_MESSAGE
        if kind == 'rate_limit':
            seconds = controls.retry_after_ms / 1000
            return f'Rate limit reached on tokens per minute (emulated). Please try again in {seconds}s.'
        return super().fault_message(kind, controls)

    def auth_message(self, key: str | None) -> str:
        """Groq's 401 wording."""
        return 'Invalid API Key'

    def completion_id(self, number: int) -> str:
        """`chatcmpl-` and a UUID, as Groq's ids are (derived from the number: reproducible)."""
        return f'chatcmpl-{uuid.UUID(int=number)}'

    def encoder(self) -> SSEEncoder:
        """Errors inside a stream are `event: error`, carrying their status."""
        return _GroqEncoder(self, error_event='error', done='[DONE]')

    def stream_frames(
        self, replies: list[Reply], meta: Json, usage: Json, include_usage: bool, forced: bool
    ) -> list[Frame]:
        """OpenAI's chunks, `x_groq` on the first, usage on each finish chunk, no usage chunk."""
        frames = super().stream_frames(replies, meta, usage, False, forced)
        x_groq = {'id': _request_id(meta)}
        frames[0].event['x_groq'] = x_groq
        for frame in frames:
            if frame.event['choices'][0]['finish_reason'] is not None:
                frame.event['x_groq'] = {**x_groq, 'usage': usage}
                frame.event['usage'] = usage
        return frames

    def completion(self, replies: list[Reply], meta: Json, usage: Json, forced: bool) -> Json:
        """OpenAI's body with Groq's usage timings and `x_groq`."""
        payload = super().completion(replies, meta, usage, forced)
        payload['x_groq'] = {'id': _request_id(meta)}
        payload['usage_breakdown'] = None
        return payload

    def usage(self, prompt_tokens: int, completion_tokens: int) -> Json:
        """Token counts with Groq's timings, in seconds."""
        prompt_time = round(prompt_tokens * _SECONDS_PER_TOKEN / 10, 6)
        completion_time = round(completion_tokens * _SECONDS_PER_TOKEN, 6)
        return {
            'queue_time': 0.01,
            'prompt_tokens': prompt_tokens,
            'prompt_time': prompt_time,
            'completion_tokens': completion_tokens,
            'completion_time': completion_time,
            'total_tokens': prompt_tokens + completion_tokens,
            'total_time': round(prompt_time + completion_time, 6),
        }


class _GroqEncoder(SSEEncoder):
    def error(self, kind: ErrorKind, message: str) -> bytes:
        payload = self._vendor.error_payload(kind, message, ERROR_STATUS[kind])
        payload['error']['status_code'] = ERROR_STATUS[kind]
        return self.event(('error', payload))


def _request_id(meta: Json) -> str:
    return 'req_emu' + str(meta['id'])[-12:]


GROQ = GroqVendor()
VENDORS: tuple[Vendor, ...] = (GROQ,)
