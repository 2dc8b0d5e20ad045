"""Cohere's API (https://docs.cohere.com/reference/chat): a base URL and a Bearer key."""

from __future__ import annotations

from ._api_key import APIKeyProvider

__all__ = ('COHERE_BASE_URL', 'CohereProvider')

COHERE_BASE_URL = 'https://api.cohere.com'


class CohereProvider(APIKeyProvider):
    """Cohere: key from `api_key` or `CO_API_KEY`, base URL from `base_url`, `CO_API_URL` (the
    variable Cohere's own SDK reads) or `https://api.cohere.com`; the interface adds `/v2/chat`."""

    name = 'cohere'
    display_name = 'the Cohere API'
    default_base_url = COHERE_BASE_URL
    api_key_env = 'CO_API_KEY'
    base_url_env = 'CO_API_URL'
