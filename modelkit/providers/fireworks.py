"""Fireworks AI's OpenAI-compatible inference API (https://docs.fireworks.ai)."""

from __future__ import annotations

from ..profiles import USAGE_UNASKED_PROFILE
from .openai import OpenAICompatibleProvider

__all__ = ('FireworksProvider',)


class FireworksProvider(OpenAICompatibleProvider):
    """Fireworks: key from `api_key` or `FIREWORKS_API_KEY`, base URL `https://api.fireworks.ai/inference/v1`."""

    name = 'fireworks'
    display_name = 'Fireworks AI'
    default_base_url = 'https://api.fireworks.ai/inference/v1'
    # Fireworks answered `stream_options` with 400 "Extra inputs are not permitted, field:
    # 'stream_options'" (FlowiseAI/Flowise#2866), and its final streamed chunk carries usage anyway.
    openai_chat_profile = USAGE_UNASKED_PROFILE
