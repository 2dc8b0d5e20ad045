"""Dialect profiles: what an OpenAI-compatible service accepts, declared as plain data.

Services that speak OpenAI's chat-completions wire format differ in small, known ways: one rejects
`stream_options`, another names the token limit differently, a third reports usage under its own
key. Each provider declares those differences once, as an `OpenAIChatProfile`, and the OpenAI
interface reads it; no interface checks a hostname or guesses from a provider's class.

This module is pure data (booleans, strings, tuples) so that providers, which know nothing of
message formats, can import it; the interface gives the fields their meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._fieldwise import fieldwise

__all__ = ('OPENAI_API_PROFILE', 'OPENAI_COMPATIBLE_PROFILE', 'USAGE_UNASKED_PROFILE', 'OpenAIChatProfile')


@fieldwise
@dataclass(frozen=True, slots=True, repr=False, eq=False)
class OpenAIChatProfile:
    """How one service's chat-completions dialect differs from OpenAI's own API.

    The defaults describe a generic OpenAI-compatible server (vLLM, Ollama, LM Studio, a gateway):
    the field names most of them know, and a reader that tolerates the common extensions. Build a
    variant with `dataclasses.replace(OPENAI_COMPATIBLE_PROFILE, ...)`.
    """

    stream_include_usage: bool = True
    """Send `stream_options: {include_usage: true}` when streaming (some services reject the field;
    the `openai_stream_include_usage` setting overrides this per request)."""
    max_tokens_field: Literal['max_tokens', 'max_completion_tokens'] = 'max_tokens'
    """The wire field the `max_tokens` setting goes in (`openai_max_tokens_field` overrides it)."""
    seed_field: str = 'seed'
    """The wire field the `seed` setting goes in (Mistral calls it `random_seed`)."""
    system_role: Literal['system', 'developer', 'user'] = 'system'
    """The role system prompts are sent with, unless the model is given `system_prompt_role`."""
    tool_choice_required: str = 'required'
    """The `tool_choice` value that forces a tool call (Mistral wants `any`)."""
    tool_choice_auto: str = 'auto'
    """The `tool_choice` value that lets the model choose between text and tools."""
    strict_tools: bool = True
    """Whether `strict` on a tool definition is sent; False drops it for services that reject it."""
    reasoning_fields: tuple[str, ...] = ('reasoning_content', 'reasoning')
    """Delta and message fields carrying the model's reasoning, first non-empty one wins."""
    usage_extensions: tuple[str, ...] = ('x_groq',)
    """Top-level chunk keys whose `usage` object also reports usage (Groq's `x_groq.usage`), read
    from a chunk with a finish reason; a top-level `usage` in the same or a later chunk wins."""
    cached_tokens_fields: tuple[str, ...] = ()
    """Usage fields that count cached prompt tokens when `prompt_tokens_details.cached_tokens` is
    absent (Mistral's `num_cached_tokens`)."""
    think_tags: tuple[str, str] | None = None
    """Tags around reasoning written inline in the answer text (`('<think>', '</think>')`, what
    Groq's `reasoning_format: raw` and DeepSeek-R1-style models send): the text between them
    becomes thinking parts. None leaves the text as it is."""


OPENAI_COMPATIBLE_PROFILE = OpenAIChatProfile()
"""A generic OpenAI-compatible server: what `OpenAIProvider` pointed at another host speaks."""

USAGE_UNASKED_PROFILE = OpenAIChatProfile(stream_include_usage=False)
"""A compatible server that rejects or does not document `stream_options` and puts `usage` on its
streamed chunks anyway (Fireworks, Perplexity): nothing to ask for, and no field to risk a 400 on."""

OPENAI_API_PROFILE = OpenAIChatProfile(max_tokens_field='max_completion_tokens')
"""OpenAI's own API: `max_completion_tokens` (OpenAI deprecated `max_tokens`, which its reasoning
models reject)."""
