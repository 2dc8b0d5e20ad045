"""Together AI's OpenAI-compatible API (https://docs.together.ai)."""

from __future__ import annotations

from .openai import OpenAICompatibleProvider

__all__ = ('TogetherProvider',)


class TogetherProvider(OpenAICompatibleProvider):
    """Together: key from `api_key` or `TOGETHER_API_KEY`, base URL `https://api.together.xyz/v1`.

    The generic compatible dialect: the same client code that Fireworks rejected for
    `stream_options` worked against Together (FlowiseAI/Flowise#2866), and recorded Together
    streams end with a usage chunk.
    """

    name = 'together'
    display_name = 'Together AI'
    default_base_url = 'https://api.together.xyz/v1'
