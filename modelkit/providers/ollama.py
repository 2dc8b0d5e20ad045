"""A local (or remote) Ollama server through its OpenAI-compatible API (https://ollama.com)."""

from __future__ import annotations

from typing import ClassVar

from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from .openai import OpenAICompatibleProvider

__all__ = ('OllamaProvider',)


class OllamaProvider(OpenAICompatibleProvider):
    """Ollama: base URL from `base_url`, `OLLAMA_BASE_URL` or `http://localhost:11434/v1`; no key needed.

    A key (`api_key` or `OLLAMA_API_KEY`) is sent as a bearer token when given, for servers behind
    an authenticating proxy.
    """

    name = 'ollama'
    display_name: ClassVar[str] = 'Ollama'
    default_base_url: ClassVar[str] = 'http://localhost:11434/v1'
    api_key_env: ClassVar[str | None] = 'OLLAMA_API_KEY'
    base_url_env: ClassVar[str | None] = 'OLLAMA_BASE_URL'
    key_required: ClassVar[bool] = False
    # Supported since Ollama v0.5.2 (ogx-ai/ogx#5011); older servers ignore unknown fields.
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE
