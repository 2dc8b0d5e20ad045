"""Anthropic's API (https://docs.anthropic.com/en/api): a base URL and an `x-api-key` header."""

from __future__ import annotations

from ._api_key import APIKeyProvider

__all__ = ('ANTHROPIC_API_VERSION', 'ANTHROPIC_BASE_URL', 'AnthropicProvider')

ANTHROPIC_BASE_URL = 'https://api.anthropic.com'

ANTHROPIC_API_VERSION = '2023-06-01'
"""The `anthropic-version` every request carries: the Messages API's only stable version; newer
features are opted into with `anthropic-beta` headers per request, not by changing this."""


class AnthropicProvider(APIKeyProvider):
    """Anthropic: key from `api_key` or `ANTHROPIC_API_KEY`, base URL from `base_url`,
    `ANTHROPIC_BASE_URL` or `https://api.anthropic.com`; the interface adds `/v1/messages`."""

    name = 'anthropic'
    display_name = 'the Anthropic API'
    default_base_url = ANTHROPIC_BASE_URL
    key_header = 'x-api-key'
    key_prefix = ''
    fixed_headers = {'anthropic-version': ANTHROPIC_API_VERSION}
