"""A local (or remote) Ollama server through its OpenAI-compatible API (https://ollama.com)."""

from __future__ import annotations

from .openai import OpenAICompatibleProvider

__all__ = ('OllamaProvider',)


class OllamaProvider(OpenAICompatibleProvider):
    """Ollama: base URL from `base_url`, `OLLAMA_BASE_URL` or `http://localhost:11434/v1`; no key needed.

    A key (`api_key` or `OLLAMA_API_KEY`) is sent as a bearer token when given, for servers behind
    an authenticating proxy. The generic compatible dialect: `stream_options` is supported since
    Ollama v0.5.2 (ogx-ai/ogx#5011), and older servers ignore unknown fields.
    """

    name = 'ollama'
    display_name = 'Ollama'
    default_base_url = 'http://localhost:11434/v1'
    key_required = False
