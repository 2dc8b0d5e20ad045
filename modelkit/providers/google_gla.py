"""Gemini on Google's Generative Language API (https://ai.google.dev/api): a base URL and an API key.

The key goes in the `x-goog-api-key` header, never in the `?key=` query parameter Google also
accepts, so it cannot leak through a logged or traced URL.
"""

from __future__ import annotations

from ._api_key import APIKeyProvider

__all__ = ('API_VERSION_PATH', 'GOOGLE_GLA_BASE_URL', 'GoogleGLAProvider')

GOOGLE_GLA_BASE_URL = 'https://generativelanguage.googleapis.com'


class GoogleGLAProvider(APIKeyProvider):
    """The Generative Language API: key from `api_key` or `GEMINI_API_KEY`, base URL from `base_url`,
    `GEMINI_BASE_URL` or `https://generativelanguage.googleapis.com`; the interface asks for
    `/models/{model}:generateContent`, which this provider routes under `/v1beta`."""

    name = 'google-gla'
    display_name = 'the Gemini API (Generative Language API)'
    default_base_url = GOOGLE_GLA_BASE_URL
    env_prefix = 'GEMINI'
    key_header = 'x-goog-api-key'
    key_prefix = ''

    def route(self, path: str, model_name: str | None) -> str:
        """`/models/...` (what `GeminiModel` asks for) goes under `/v1beta`; any other path is kept."""
        if path.startswith(_MODELS_PATH):
            return API_VERSION_PATH + path
        return path


API_VERSION_PATH = '/v1beta'
"""The API version every Gemini feature modelkit uses is in (thinking, function-call ids, ...)."""
_MODELS_PATH = '/models/'
