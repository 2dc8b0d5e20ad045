"""Perplexity's OpenAI-compatible chat completions API (https://docs.perplexity.ai)."""

from __future__ import annotations

from ..profiles import USAGE_UNASKED_PROFILE
from .openai import OpenAICompatibleProvider

__all__ = ('PerplexityProvider',)


class PerplexityProvider(OpenAICompatibleProvider):
    """Perplexity: key from `api_key` or `PERPLEXITY_API_KEY`, base URL `https://api.perplexity.ai`."""

    name = 'perplexity'
    display_name = 'Perplexity'
    default_base_url = 'https://api.perplexity.ai'
    # Perplexity's API reference does not list `stream_options`, and its streamed chunks already carry
    # `usage` (see kardolus/chatgpt-cli docs/perplexity_api.md), so there is nothing to ask for and an
    # undocumented field is only a chance of a 400.
    openai_chat_profile = USAGE_UNASKED_PROFILE
