"""Gemini on Google's Generative Language API (https://ai.google.dev/api): a base URL and an API key.

The key goes in the `x-goog-api-key` header, never in the `?key=` query parameter Google also
accepts, so it cannot leak through a logged or traced URL.
"""

from __future__ import annotations

from typing import ClassVar

from ._api_key import APIKeyProvider

__all__ = ('GOOGLE_GLA_BASE_URL', 'GoogleGLAProvider')

GOOGLE_GLA_BASE_URL = 'https://generativelanguage.googleapis.com'


class GoogleGLAProvider(APIKeyProvider):
    """The Generative Language API: key from `api_key` or `GEMINI_API_KEY`, base URL from `base_url`,
    `GEMINI_BASE_URL` or `https://generativelanguage.googleapis.com`; the interface adds
    `/v1beta/models/{model}:generateContent`."""

    name = 'google-gla'
    display_name: ClassVar[str] = 'the Gemini API (Generative Language API)'
    default_base_url: ClassVar[str] = GOOGLE_GLA_BASE_URL
    api_key_env: ClassVar[str | None] = 'GEMINI_API_KEY'
    base_url_env: ClassVar[str | None] = 'GEMINI_BASE_URL'
    key_header: ClassVar[str] = 'x-goog-api-key'
    key_prefix: ClassVar[str] = ''
