"""Together AI's OpenAI-compatible API (https://docs.together.ai)."""

from __future__ import annotations

from typing import ClassVar

from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from .openai import OpenAICompatibleProvider

__all__ = ('TogetherProvider',)


class TogetherProvider(OpenAICompatibleProvider):
    """Together: key from `api_key` or `TOGETHER_API_KEY`, base URL `https://api.together.xyz/v1`."""

    name = 'together'
    display_name: ClassVar[str] = 'Together AI'
    default_base_url: ClassVar[str] = 'https://api.together.xyz/v1'
    api_key_env: ClassVar[str | None] = 'TOGETHER_API_KEY'
    base_url_env: ClassVar[str | None] = 'TOGETHER_BASE_URL'
    # Accepted: the same client code that Fireworks rejected for `stream_options` worked against
    # Together (FlowiseAI/Flowise#2866), and recorded Together streams end with a usage chunk.
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE
