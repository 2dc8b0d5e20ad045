"""The shape every provider authenticated by one API key shares (Anthropic, Gemini's GLA, Cohere, and
OpenAI with every OpenAI-compatible service).

A subclass states data only: its name, default base URL, environment variables, and the header
the key goes in (`key_header`, with `key_prefix`, e.g. `Bearer `). The key is closed over by the
signer, so it appears in no attribute, repr, default header or error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from .._transport import DEFAULT_MAX_RETRIES
from ..exceptions import UserError
from . import Provider
from ._auth import HeaderSigner, env

if TYPE_CHECKING:
    import httpx

__all__ = ('APIKeyProvider', 'KeyedProvider', 'host')


class KeyedProvider(Provider):
    """A vendor API authenticated by one key in one header: the declarations, and `_init_keyed`,
    which each subclass's constructor (with the signature its vendor's SDK users know) calls.

    The key comes from `api_key` or the `api_key_env` variable, the base URL from `base_url`, the
    `base_url_env` variable or `default_base_url`. A key is required when requests go to the
    vendor's own host; pointed elsewhere (a gateway, the emulator) it is optional and, without one,
    no key header is sent.

    `api_key_env` and `base_url_env` default to `{env_prefix}_API_KEY` and `{env_prefix}_BASE_URL`,
    the convention most services document; a service with other names sets them itself.
    """

    env_prefix: ClassVar[str | None] = None
    """The prefix of the default environment variable names; None means the upper-cased `name`."""
    display_name: ClassVar[str] = ''
    """How errors name the service, e.g. `the Anthropic API`."""
    default_base_url: ClassVar[str] = ''
    key_required: ClassVar[bool] = True
    """Whether the hosted service (at `default_base_url`'s host) needs a key; False for local servers."""
    key_header: ClassVar[str] = 'Authorization'
    key_prefix: ClassVar[str] = 'Bearer '
    fixed_headers: ClassVar[dict[str, str]] = {}
    """Headers every request carries (e.g. `anthropic-version`); per-request headers override them."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names a service gets the derived variables: a subclass that keeps its
        # parent's name (or a base class, with none) keeps the parent's variables.
        own = cls.__dict__
        if 'name' not in own and 'env_prefix' not in own:
            return
        prefix = cls.env_prefix or cls.name.upper().replace('-', '_')
        if 'api_key_env' not in cls.__dict__:
            cls.api_key_env = f'{prefix}_API_KEY'
        if 'base_url_env' not in cls.__dict__:
            cls.base_url_env = f'{prefix}_BASE_URL'

    def _init_keyed(
        self,
        base_url: str | None,
        api_key: str | None,
        http_client: httpx.AsyncClient | None,
        max_retries: int | None,
        default_headers: dict[str, str],
    ) -> None:
        """Set the provider up from the arguments, the environment and the declared defaults."""
        base_url = base_url or env(self.base_url_env) or self.default_base_url
        api_key = api_key or env(self.api_key_env)
        if api_key is None and self.key_required and host(base_url) == host(self.default_base_url):
            raise UserError(
                f'Set the {self.api_key_env} environment variable or pass api_key=... '
                f'({self.display_name} at {base_url} needs an API key)'
            )
        # The key alone is a secret too, so text quoting it without its prefix is redacted as well.
        value = f'{self.key_prefix}{api_key}'
        signer = HeaderSigner(self.key_header, value, secrets=(api_key,)) if api_key else None
        super().__init__(
            name=self.name,
            base_url=base_url,
            signer=signer,
            http_client=http_client,
            default_headers=default_headers,
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
        )


class APIKeyProvider(KeyedProvider):
    """A vendor API authenticated by one key in one header, e.g. `AnthropicProvider(api_key=...)`."""

    def __init__(
        self,
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        *,
        base_url: str | None = None,
        max_retries: int | None = None,
    ) -> None:
        self._init_keyed(base_url, api_key, http_client, max_retries, dict(self.fixed_headers))


def host(url: str) -> str:
    """The URL's host, lower-cased: what "the vendor's own API" is decided by."""
    return (urlsplit(url).hostname or '').lower()
