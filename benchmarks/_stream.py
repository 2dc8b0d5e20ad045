"""The benchmark input: a seeded, realistic OpenAI chat-completions SSE body and ways to cut it up.

Every chunk has the shape OpenAI sends today (id, created, model, system_fingerprint, one choice
with a delta and logprobs, and the random `obfuscation` padding), so each event is 260-300 bytes
as on the wire; `stream_options.include_usage` adds the final usage chunk with no choices. The
text mixes ASCII words with multi-byte UTF-8 so that random cuts land inside characters.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

__all__ = ('CHUNKINGS', 'OpenAIStream', 'build_openai_stream', 'cut', 'cut_body')

DEFAULT_SEED = 20240806
DEFAULT_CONTENT_CHUNKS = 20_000

# Tokens as the model streams them: mostly short words with a leading space, some punctuation,
# some non-ASCII (2-, 3- and 4-byte UTF-8) and characters JSON must escape.
_WORDS = (
    ' the',
    ' of',
    ' and',
    ' to',
    ' a',
    ' in',
    ' stream',
    ' parser',
    ' model',
    ' token',
    ' event',
    ' bytes',
    ' latency',
    ' is',
    ' that',
    ' it',
    ' with',
    ' for',
    ' as',
    ' on',
    ',',
    '.',
    ':',
    ' café',
    ' naïve',
    ' résumé',
    ' 東京',
    ' 日本語',
    ' 😀',
    ' ✓',
    ' "quoted"',
    '\n',
    '\n\n',
    ' a\\b',
    '\t',
    ' über',
    ' Ωmega',
    ' 42',
    ' 3.14',
)
_OBFUSCATION_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class OpenAIStream:
    """One complete streamed response: the body, its events, and what a client must recover."""

    body: bytes
    events: tuple[bytes, ...]
    """Each SSE event with its terminating blank line, in order (their concatenation is `body`)."""
    payloads: tuple[object, ...]
    """The JSON payload of every event but `[DONE]`, parsed, for checking decoders."""
    text: str
    """The assistant text the content deltas add up to."""
    model: str
    response_id: str


def build_openai_stream(
    content_chunks: int = DEFAULT_CONTENT_CHUNKS, seed: int = DEFAULT_SEED
) -> OpenAIStream:
    """A role chunk, `content_chunks` text deltas, a finish chunk, a usage chunk and `[DONE]`."""
    rng = random.Random(seed)
    response_id = 'chatcmpl-' + ''.join(rng.choices(_OBFUSCATION_ALPHABET, k=29))
    fingerprint = 'fp_' + ''.join(rng.choices('0123456789abcdef', k=10))
    model = 'gpt-4o-2024-08-06'
    created = 1_723_000_000 + rng.randrange(10_000_000)

    def chunk(choices: list[dict[str, object]], usage: dict[str, object] | None) -> dict[str, object]:
        return {
            'id': response_id,
            'object': 'chat.completion.chunk',
            'created': created,
            'model': model,
            'system_fingerprint': fingerprint,
            'choices': choices,
            **({} if usage is None else {'usage': usage}),
            # OpenAI pads each chunk with random characters so chunk sizes do not reveal tokens.
            'obfuscation': ''.join(rng.choices(_OBFUSCATION_ALPHABET, k=rng.randint(1, 16))),
        }

    def delta(d: dict[str, object], finish: str | None = None) -> list[dict[str, object]]:
        return [{'index': 0, 'delta': d, 'logprobs': None, 'finish_reason': finish}]

    payloads: list[dict[str, object]] = [
        chunk(delta({'role': 'assistant', 'content': '', 'refusal': None}), None)
    ]
    pieces: list[str] = []
    for _ in range(content_chunks):
        token = rng.choice(_WORDS)
        pieces.append(token)
        payloads.append(chunk(delta({'content': token}), None))
    payloads.append(chunk(delta({}, 'stop'), None))
    completion_tokens = content_chunks
    payloads.append(
        chunk(
            [],
            {
                'prompt_tokens': 17,
                'completion_tokens': completion_tokens,
                'total_tokens': 17 + completion_tokens,
                'prompt_tokens_details': {'cached_tokens': 0, 'audio_tokens': 0},
                'completion_tokens_details': {
                    'reasoning_tokens': 0,
                    'audio_tokens': 0,
                    'accepted_prediction_tokens': 0,
                    'rejected_prediction_tokens': 0,
                },
            },
        )
    )
    events = [b'data: ' + orjson.dumps(p) + b'\n\n' for p in payloads]
    events.append(b'data: [DONE]\n\n')
    return OpenAIStream(
        body=b''.join(events),
        events=tuple(events),
        payloads=tuple(payloads),
        text=''.join(pieces),
        model=model,
        response_id=response_id,
    )


def _random_cuts(body: bytes, low: int, high: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out: list[bytes] = []
    pos = 0
    size = len(body)
    while pos < size:
        step = rng.randint(low, high)
        out.append(body[pos : pos + step])
        pos += step
    return out


CHUNKINGS = ('whole', 'per-event', '1-16KiB', '1-64B')
"""How the body reaches the decoder: one piece; one piece per event (what a socket sees when
tokens trickle out); random 1-16 KiB pieces (bursts); random 1-64 byte pieces (a hostile proxy)."""


def cut(stream: OpenAIStream, chunking: str, seed: int = DEFAULT_SEED) -> list[bytes]:
    """The body cut into pieces the named way (seeded, so every run feeds the same pieces)."""
    return cut_body(stream.body, stream.events, chunking, seed)


def cut_body(body: bytes, events: Sequence[bytes], chunking: str, seed: int = DEFAULT_SEED) -> list[bytes]:
    """Any body cut the named way; `events` are its pieces one per event (they join to `body`)."""
    if chunking == 'whole':
        return [body]
    if chunking == 'per-event':
        return list(events)
    if chunking == '1-16KiB':
        return _random_cuts(body, 1, 16 * 1024, seed)
    if chunking == '1-64B':
        return _random_cuts(body, 1, 64, seed)
    raise ValueError(f'unknown chunking {chunking!r}; expected one of {CHUNKINGS}')
