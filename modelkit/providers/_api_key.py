"""The shape every provider authenticated by one API key shares (Anthropic, Gemini's GLA, Cohere).

A subclass states data only: its name, default base URL, environment variables, and the header
the key goes in (`key_header`, with `key_prefix`, e.g. `Bearer `). The key is closed over by the
signer, so it appears in no attribute, repr, default header or error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from .._transport import DEFAULT_MAX_RETRIES
from ..exceptions import UserError
from . import Provider
from ._auth import env, header_signer

if TYPE_CHECKING:
    import httpx

__all__ = ('APIKeyProvider',)


class APIKeyProvider(Provider):
    """A vendor API authenticated by one key in one header.

    The key comes from `api_key` or the `api_key_env` variable, the base URL from `base_url`, the
    `base_url_env` variable or `default_base_url`. A key is required when requests go to the
    vendor's own host; pointed elsewhere (a gateway, the emulator) it is optional and, without one,
    no key header is sent.
    """

    display_name: ClassVar[str] = ''
    """How errors name the service, e.g. `the Anthropic API`."""
    default_base_url: ClassVar[str] = ''
    api_key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    key_required: ClassVar[bool] = True
    key_header: ClassVar[str] = 'Authorization'
    key_prefix: ClassVar[str] = 'Bearer '
    fixed_headers: ClassVar[dict[str, str]] = {}
    """Headers every request carries (e.g. `anthropic-version`); per-request headers override them."""

    def __init__(
        self,
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        *,
        base_url: str | None = None,
        max_retries: int | None = None,
    ) -> None:
        base_url = base_url or env(self.base_url_env) or self.default_base_url
        api_key = api_key or env(self.api_key_env)
        if api_key is None and self.key_required and _host(base_url) == _host(self.default_base_url):
            raise UserError(
                f'Set the {self.api_key_env} environment variable or pass api_key=... '
                f'({self.display_name} at {base_url} needs an API key)'
            )
        super().__init__(
            name=self.name,
            base_url=base_url,
            signer=header_signer(self.key_header, f'{self.key_prefix}{api_key}') if api_key else None,
            http_client=http_client,
            default_headers=dict(self.fixed_headers),
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
        )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or '').lower()
