"""What Groq's chat-completions wire adds to OpenAI's (`modelkit.wire.openai`), and nothing else.

Groq (POST https://api.groq.com/openai/v1/chat/completions) speaks OpenAI's chat format; these
models subclass the OpenAI ones and declare only Groq's additions, per Groq's API reference:

- request: `reasoning_format` (`parsed` / `raw` / `hidden`), `include_reasoning`, and
  `reasoning_effort` values of its own; `service_tier` `on_demand` / `flex` / `auto`;
- response: `x_groq` on completions and chunks (the request id, and on the last chunk the usage
  under `x_groq.usage`, which is where Groq streams report it); usage timing fields
  (`queue_time`, `prompt_time`, ...); the `reasoning` message field (declared on the OpenAI model
  already, as several vendors use it) and `channel` on deltas of gpt-oss models;
- errors: `failed_generation` on a 400 `tool_use_failed` error; an `event: error` inside a 200
  stream whose data is the same `{"error": {...}}` body, so a stream payload is a
  `GroqStreamPayload` (a chunk, or an error).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, RootModel

from ._base import WireResponse
from .openai import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, CompletionUsage, ErrorDetail

__all__ = (
    'SCHEMA_MODELS',
    'GroqChatCompletion',
    'GroqChatCompletionChunk',
    'GroqChatCompletionRequest',
    'GroqErrorDetail',
    'GroqErrorResponse',
    'GroqStreamPayload',
    'GroqUsage',
    'XGroq',
)


class GroqChatCompletionRequest(ChatCompletionRequest):
    """OpenAI's request body plus Groq's reasoning controls."""

    reasoning_format: Literal['parsed', 'raw', 'hidden'] | None = None
    """`parsed` puts reasoning in the `reasoning` field, `raw` inline in `<think>` tags, `hidden` drops it."""
    include_reasoning: bool | None = None
    """gpt-oss models: whether to return `reasoning` (instead of `reasoning_format`)."""
    n: int | None = None
    """Number of choices; Groq accepts only 1."""


class GroqUsage(CompletionUsage):
    """OpenAI's usage plus Groq's timings, in seconds."""

    queue_time: float | None = None
    prompt_time: float | None = None
    completion_time: float | None = None
    total_time: float | None = None


class XGroq(WireResponse):
    """Groq's extension object: the request id, and usage on the last streamed chunk."""

    id: str | None = None
    usage: GroqUsage | None = None
    seed: int | None = None


class GroqChatCompletion(ChatCompletion):
    """A whole completion, with Groq's usage timings and `x_groq`."""

    usage: GroqUsage | None = None
    x_groq: XGroq | None = None


class GroqChatCompletionChunk(ChatCompletionChunk):
    """A streamed chunk; Groq reports the stream's usage in `x_groq.usage` (and at the top level)."""

    usage: GroqUsage | None = None
    x_groq: XGroq | None = None


class GroqErrorDetail(ErrorDetail):
    """OpenAI's error detail plus `failed_generation`: what the model wrote when a tool call failed."""

    failed_generation: str | None = None


class GroqErrorResponse(WireResponse):
    """The body of a non-2xx answer, and the data of an `event: error` inside a stream."""

    error: GroqErrorDetail


class GroqStreamPayload(RootModel[GroqChatCompletionChunk | GroqErrorResponse]):
    """One `data:` payload of a Groq stream: a chunk, or (after `event: error`) an error body."""


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    GroqChatCompletionRequest,
    GroqChatCompletion,
    GroqStreamPayload,
    GroqErrorResponse,
)
"""The wire models exported to `schemas/groq/`, one file each (nested models go in `$defs`)."""
